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
  magenta: '#be185d',
  grey: '#94a3b8'
}

/** Line patterns: lines that cross must still be told apart without colour (print, colour blindness). */
const DASHES = { solid: [], dashed: [8, 4], dotted: [2, 3] } satisfies Record<string, number[]>

export interface Series {
  label: string
  color: string
  data: number[]
  dash?: keyof typeof DASHES
  /** a marker on each point, for lines with few points */
  marker?: 'circle' | 'triangle' | 'rect'
  fill?: boolean
}

/** What Chart.js resolved for one series and draws: read by people inspecting the page, and by the browser test. */
export interface DrawnSeries {
  label: string
  color: unknown
  dash: unknown
  tension: unknown
  stepped: unknown
  marker: unknown
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
        plugins: {
          // a line chart's legend shows each line's colour and pattern
          legend: { position: 'bottom', labels: kind === 'line' ? { usePointStyle: true, pointStyle: 'line', pointStyleWidth: 30 } : { boxWidth: 12 } }
        },
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
      borderDash: DASHES[s.dash ?? 'solid'],
      fill: s.fill === true,
      barPercentage: 1,
      categoryPercentage: 0.9,
      pointStyle: s.marker ?? 'circle',
      pointRadius: s.marker === undefined ? 0 : 3,
      pointHoverRadius: 4,
      // straight segments between the figures: a smoothed curve shows values that were never measured
      tension: 0,
      cubicInterpolationMode: 'default',
      stepped: false
    } as ChartDataset<Kind, number[]>))
    this.#chart.update('none')
    // for people reading the page's state (and the browser test): how much the chart shows
    this.#canvas.dataset.points = String(labels.length)
    this.#canvas.dataset.nonzero = String(series.reduce((n, s) => n + s.data.filter((v) => v > 0).length, 0))
    this.#canvas.dataset.series = JSON.stringify(this.drawn())
    this.#canvas.dataset.legend = JSON.stringify(this.#chart.legend?.legendItems?.map((item) => item.text) ?? [])
  }

  /** The series as Chart.js resolved their options (defaults and all), as they are drawn. */
  drawn (): DrawnSeries[] {
    return this.#chart.data.datasets.map((set, i): DrawnSeries => {
      const meta = this.#chart.getDatasetMeta(i)
      const line = meta.dataset?.options as Record<string, unknown> | undefined
      const point = meta.data[0]?.options as Record<string, unknown> | undefined
      return {
        label: set.label ?? '',
        color: line?.borderColor ?? set.borderColor,
        dash: line?.borderDash,
        tension: line?.tension,
        stepped: line?.stepped,
        marker: point?.pointStyle
      }
    })
  }
}
