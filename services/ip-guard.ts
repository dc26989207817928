export interface IpGuardOptions {
  /** failures (failed logins, refused tokens) from one address within `windowMs` before it is blocked */
  maxFailures: number
  windowMs: number
  blockMs: number
  now?: () => number
  onBlock?: (ip: string, failures: number) => void
  onUnblock?: (ip: string) => void
}

/**
 * Counts authentication failures per address and blocks an address that fails too often, for a while.
 * Also counts rate-limit hits per address and per user, for the audit log and metrics.
 */
export class IpGuard {
  readonly #o: IpGuardOptions
  readonly #now: () => number
  readonly #failures = new Map<string, number[]>()
  readonly #blocked = new Map<string, number>()
  readonly rateLimitHits = { byIp: new Map<string, number>(), byUser: new Map<string, number>() }

  constructor (options: IpGuardOptions) {
    this.#o = options
    this.#now = options.now ?? Date.now
  }

  /** Milliseconds the address stays blocked, or 0. */
  blockedFor (ip: string): number {
    const until = this.#blocked.get(ip)
    if (until === undefined) return 0
    const left = until - this.#now()
    if (left > 0) return left
    this.#blocked.delete(ip)
    this.#o.onUnblock?.(ip)
    return 0
  }

  failure (ip: string): void {
    const now = this.#now()
    const times = (this.#failures.get(ip) ?? []).filter((t) => t > now - this.#o.windowMs)
    times.push(now)
    if (times.length >= this.#o.maxFailures) {
      this.#failures.delete(ip)
      this.#blocked.set(ip, now + this.#o.blockMs)
      this.#o.onBlock?.(ip, times.length)
      return
    }
    this.#failures.set(ip, times)
  }

  /** Counts a rate-limit hit; returns the running counts. */
  rateLimited (ip: string, userId?: string): { ip: number, user: number | null } {
    const byIp = (this.rateLimitHits.byIp.get(ip) ?? 0) + 1
    this.rateLimitHits.byIp.set(ip, byIp)
    if (userId === undefined) return { ip: byIp, user: null }
    const byUser = (this.rateLimitHits.byUser.get(userId) ?? 0) + 1
    this.rateLimitHits.byUser.set(userId, byUser)
    return { ip: byIp, user: byUser }
  }

  /** Forgets old failures and ended blocks (called from a timer, so the maps stay bounded). */
  sweep (): void {
    const now = this.#now()
    for (const [ip, times] of this.#failures) if ((times.at(-1) ?? 0) <= now - this.#o.windowMs) this.#failures.delete(ip)
    for (const ip of this.#blocked.keys()) this.blockedFor(ip)
    if (this.rateLimitHits.byIp.size > 100_000) this.rateLimitHits.byIp.clear()
    if (this.rateLimitHits.byUser.size > 100_000) this.rateLimitHits.byUser.clear()
  }
}
