interface Bucket {
  tokens: number
  updated: number
}

/**
 * One token bucket per key: `rate` tokens a second up to `burst`. take() answers 0 when a token was taken,
 * or how many milliseconds until one is there.
 */
export class TokenBuckets {
  readonly #buckets = new Map<string, Bucket>()
  readonly #rate: number
  readonly #burst: number
  readonly #now: () => number

  constructor (rate: number, burst: number, now: () => number = () => performance.now()) {
    this.#rate = rate
    this.#burst = burst
    this.#now = now
  }

  take (key: string): number {
    const now = this.#now()
    let bucket = this.#buckets.get(key)
    if (bucket === undefined) {
      bucket = { tokens: this.#burst, updated: now }
      this.#buckets.set(key, bucket)
    } else {
      bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.updated) * this.#rate / 1000)
      bucket.updated = now
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return 0
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) * 1000 / this.#rate))
  }

  /** Forgets buckets that have refilled: they hold nothing a new bucket would not. */
  prune (): void {
    const now = this.#now()
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + (now - bucket.updated) * this.#rate / 1000 >= this.#burst) this.#buckets.delete(key)
    }
  }

  get size (): number {
    return this.#buckets.size
  }
}
