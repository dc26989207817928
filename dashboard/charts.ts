import {
  BarController, BarElement, CategoryScale, Chart, Filler, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip,
  type ChartDataset
} from 'chart.js'

Chart.register(BarController, BarElement, CategoryScale, Filler, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip)
Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily
Chart.defaults.color = '#5b6b7c'

export const COLORS = {
  blue: '#2563eb',
  teal: '#0d9488',
  green: '#16a34a',
  amber: '#d97706',
  red: '#dc2626',
  violet: '#7c3aed',
  grey: '#94a3b8'
}

export interface Series {
  label: string
  color: string
  data: number[]
  dashed?: boolean
  fill?: boolean
}

type Kind = 'line' | 'bar'

/** A chart whose labels and series are replaced at each refresh, without animation. */
export class LiveChart {
  readonly #chart: Chart<Kind, number[], string>
  readonly #canvas: HTMLCanvasElement

  constructor (canvas: HTMLCanvasElement, readonly kind: Kind, options: { stacked?: boolean } = {}) {
    this.#canvas = canvas
    this.#chart = new Chart<Kind, number[], string>(canvas, {
      type: kind,
      data: { labels: [], datasets: [] },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: 'index', intersect: false },
        plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
        scales: {
          x: { stacked: options.stacked === true, grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
          y: { stacked: options.stacked === true, beginAtZero: true, ticks: { precision: 0 } }
        }
      }
    })
  }

  update (labels: string[], series: Series[]): void {
    this.#chart.data.labels = labels
    this.#chart.data.datasets = series.map((s): ChartDataset<Kind, number[]> => ({
      label: s.label,
      data: s.data,
      borderColor: s.color,
      backgroundColor: this.kind === 'bar' ? s.color : `${s.color}22`,
      borderWidth: this.kind === 'bar' ? 0 : 2,
      borderDash: s.dashed === true ? [6, 4] : [],
      fill: s.fill === true,
      barPercentage: 1,
      categoryPercentage: 0.9,
      pointRadius: 0,
      pointHoverRadius: 4,
      tension: 0.25
    } as ChartDataset<Kind, number[]>))
    this.#chart.update('none')
    // for people reading the page's state (and the browser test): how much the chart shows
    this.#canvas.dataset.points = String(labels.length)
    this.#canvas.dataset.nonzero = String(series.reduce((n, s) => n + s.data.filter((v) => v > 0).length, 0))
  }
}
