import type { FastifyRateLimitOptions, FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import type { Redis, Result } from 'ioredis'

/** KEYS counter; ARGV window. A fixed window: the first hit starts it, the key expires with it. */
const INCR = `
local current = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {current, ttl}`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    sealwireRateLimit: (key: string, windowMs: number) => Result<[number, number], Context>
  }
}

type Counted = { current: number, ttl: number }
type Callback = (error: Error | null, result?: Counted) => void

const LOCAL_MAX_KEYS = 10_000

/** This node's own count, for while Redis is out of reach: each node then limits alone. */
class LocalWindows {
  readonly #windows = new Map<string, { count: number, resetAt: number }>()

  incr (key: string, windowMs: number): Counted {
    const now = Date.now()
    let w = this.#windows.get(key)
    if (w === undefined || w.resetAt <= now) {
      if (this.#windows.size >= LOCAL_MAX_KEYS) this.#prune(now)
      w = { count: 0, resetAt: now + windowMs }
      this.#windows.set(key, w)
    }
    w.count++
    return { current: w.count, ttl: w.resetAt - now }
  }

  #prune (now: number): void {
    for (const [key, w] of this.#windows) if (w.resetAt <= now) this.#windows.delete(key)
    // still full of live windows: the oldest go
    for (const key of this.#windows.keys()) {
      if (this.#windows.size < LOCAL_MAX_KEYS) break
      this.#windows.delete(key)
    }
  }
}

/**
 * A store for @fastify/rate-limit that counts in Redis, so the limit holds across nodes (a client cannot get
 * N times the limit by spreading its requests), and counts locally while Redis is out of reach.
 */
export function sharedRateLimitStore (redis: Redis, prefix: string, up: () => boolean): FastifyRateLimitStoreCtor {
  redis.defineCommand('sealwireRateLimit', { numberOfKeys: 1, lua: INCR })

  class SharedStore implements FastifyRateLimitStore {
    readonly #key: string
    readonly #local = new LocalWindows()

    constructor (_options: FastifyRateLimitOptions, key = `${prefix}rate:`) {
      this.#key = key
    }

    incr (key: string, callback: Callback, timeWindow: number): void {
      if (!up()) {
        callback(null, this.#local.incr(key, timeWindow))
        return
      }
      redis.sealwireRateLimit(this.#key + key, timeWindow).then(
        ([current, ttl]) => callback(null, { current, ttl }),
        () => callback(null, this.#local.incr(key, timeWindow))
      )
    }

    child (routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): FastifyRateLimitStore {
      // @fastify/rate-limit passes the route's merged settings, with the route itself as routeInfo
      const route = (routeOptions as { routeInfo?: { method?: unknown, url?: unknown } }).routeInfo ?? {}
      return new SharedStore({}, `${this.#key}${String(route.method)}${String(route.url)}-`)
    }
  }
  return SharedStore
}
