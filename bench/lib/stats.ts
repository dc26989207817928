// Latencies go into fixed buckets (10 µs up to 100 ms, 1 ms up to 120 s) instead of an array: a broadcast run
// records one sample per delivery, millions of them.
const FINE_US = 10
const FINE_LIMIT_US = 100_000
const COARSE_US = 1000
const LIMIT_US = 120_000_000
const FINE_BUCKETS = FINE_LIMIT_US / FINE_US
const BUCKETS = FINE_BUCKETS + (LIMIT_US - FINE_LIMIT_US) / COARSE_US + 1

export interface LatencySummary {
  count: number
  mean_ms: number
  p50_ms: number
  p90_ms: number
  p99_ms: number
  max_ms: number
}

export class LatencyHistogram {
  readonly #buckets = new Uint32Array(BUCKETS)
  #count = 0
  #sum = 0
  #max = 0

  record (ms: number): void {
    const us = Math.max(0, ms * 1000)
    const index = us < FINE_LIMIT_US
      ? Math.floor(us / FINE_US)
      : Math.min(BUCKETS - 1, FINE_BUCKETS + Math.floor((us - FINE_LIMIT_US) / COARSE_US))
    this.#buckets[index] = (this.#buckets[index] ?? 0) + 1
    this.#count++
    this.#sum += ms
    if (ms > this.#max) this.#max = ms
  }

  get count (): number {
    return this.#count
  }

  /** The upper edge of the bucket holding the p-th percentile, never above the largest sample. */
  percentile (p: number): number {
    if (this.#count === 0) return 0
    const rank = Math.max(1, Math.ceil((p / 100) * this.#count))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#buckets[i] ?? 0
      if (seen >= rank) {
        const upperUs = i < FINE_BUCKETS ? (i + 1) * FINE_US : FINE_LIMIT_US + (i - FINE_BUCKETS + 1) * COARSE_US
        return Math.min(upperUs / 1000, this.#max)
      }
    }
    return this.#max
  }

  summary (): LatencySummary {
    const round = (ms: number): number => Math.round(ms * 100) / 100
    return {
      count: this.#count,
      mean_ms: round(this.#count === 0 ? 0 : this.#sum / this.#count),
      p50_ms: round(this.percentile(50)),
      p90_ms: round(this.percentile(90)),
      p99_ms: round(this.percentile(99)),
      max_ms: round(this.#max)
    }
  }
}

/** Counts by name (error codes, close reasons). */
export class Tally {
  readonly #counts = new Map<string, number>()

  add (name: string, n = 1): void {
    this.#counts.set(name, (this.#counts.get(name) ?? 0) + n)
  }

  get total (): number {
    let sum = 0
    for (const n of this.#counts.values()) sum += n
    return sum
  }

  toJSON (): Record<string, number> {
    return Object.fromEntries([...this.#counts].sort((a, b) => b[1] - a[1]))
  }
}
