import type { LatencySummary } from './stats.js'

type Scalar = string | number | boolean | null | string[]
export type ReportValue = Scalar | LatencySummary | ReportSection | undefined
export interface ReportSection { [key: string]: ReportValue }

export interface Report extends ReportSection {
  scenario: string
  server: string
  server_commit: string | null
  params: ReportSection
  duration_s: number | undefined
  messages_sent: number | undefined
  delivered: number | undefined
  delivered_per_s: number | undefined
  latency_accepted: LatencySummary | undefined
  latency_delivered: LatencySummary | undefined
  error_frames: Record<string, number>
  connection_errors: Record<string, number>
  server_rss_mb: number | undefined
  server_cpu_pct: number | undefined
  generator_cpu_pct: number | undefined
  generator_event_loop_p99_ms: number | undefined
  notes: string[]
}

export function mb (bytes: number | undefined): number | undefined {
  return bytes === undefined ? undefined : Math.round((bytes / 1048576) * 10) / 10
}

export function round (value: number, digits = 1): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}

function isLatency (value: ReportValue): value is LatencySummary {
  return typeof value === 'object' && value !== null && 'p99_ms' in value && 'p50_ms' in value
}

function printSection (section: ReportSection, indent: string): void {
  const width = Math.max(...Object.keys(section).map((k) => k.length))
  for (const [key, value] of Object.entries(section)) {
    if (value === undefined) continue
    const label = `${indent}${key.padEnd(width)}`
    if (isLatency(value)) {
      console.log(`${label}  p50 ${value.p50_ms}  p90 ${value.p90_ms}  p99 ${value.p99_ms}  max ${value.max_ms}  mean ${value.mean_ms} ms  (n=${value.count})`)
    } else if (Array.isArray(value)) {
      for (const line of value) console.log(`${label}  ${String(line)}`)
    } else if (typeof value === 'object' && value !== null) {
      if (Object.keys(value).length === 0) {
        console.log(`${label}  none`)
      } else {
        console.log(`${label}`)
        printSection(value, `${indent}  `)
      }
    } else {
      console.log(`${label}  ${String(value)}`)
    }
  }
}

export function printReport (report: Report, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(report))
    return
  }
  console.log('')
  console.log(`== Sealwire bench: ${report.scenario} ==`)
  printSection(report, '')
}
