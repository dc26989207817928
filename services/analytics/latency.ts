import type { LatencySummary } from '../../schemas/analytics.js'

/** Upper bounds of the delivery latency buckets, in ms; the database and /metrics use the same ones. */
export const LATENCY_BUCKETS_MS = [
  1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000, 21_600_000, 86_400_000
] as const
/** `le_ms` of the bucket above the largest bound */
export const OVERFLOW_BUCKET = -1
const LARGEST_BOUND = LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1] as number

export interface LatencyBucket {
  le: number
  count: number
  sum: number
}

export function latencyBucket (ms: number): number {
  for (const le of LATENCY_BUCKETS_MS) if (ms <= le) return le
  return OVERFLOW_BUCKET
}

/** Mean from the sums; percentiles as the upper bound of the bucket that holds them (the largest bound beyond it). */
export function summariseLatency (buckets: LatencyBucket[]): LatencySummary {
  const sorted = buckets.filter((b) => b.count > 0)
    .sort((a, b) => (a.le === OVERFLOW_BUCKET ? Infinity : a.le) - (b.le === OVERFLOW_BUCKET ? Infinity : b.le))
  const count = sorted.reduce((n, b) => n + b.count, 0)
  if (count === 0) return { count: 0, mean_ms: null, p50_ms: null, p90_ms: null, p99_ms: null }
  const sum = sorted.reduce((n, b) => n + b.sum, 0)
  const quantile = (q: number): number => {
    const rank = Math.ceil(q * count)
    let seen = 0
    for (const b of sorted) {
      seen += b.count
      if (seen >= rank) return b.le === OVERFLOW_BUCKET ? LARGEST_BOUND : b.le
    }
    return LARGEST_BOUND
  }
  return { count, mean_ms: Math.round((sum / count) * 100) / 100, p50_ms: quantile(0.5), p90_ms: quantile(0.9), p99_ms: quantile(0.99) }
}
