import { randomBytes } from 'node:crypto'
import type { Redis, Result } from 'ioredis'
import type { ChallengeResponse } from '../../../schemas/auth.js'
import { CHALLENGE_TTL_MS, MAX_CHALLENGES_PER_USER, type Challenges } from '../../challenges.js'

/**
 * KEYS challenge key, the user's list; ARGV user, TTL, challenge, most kept, prefix. Stores the challenge with
 * its TTL and drops the user's oldest ones beyond the most kept.
 */
const ISSUE = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('LPUSH', KEYS[2], ARGV[3])
for _, old in ipairs(redis.call('LRANGE', KEYS[2], ARGV[4], -1)) do redis.call('DEL', ARGV[5] .. 'challenge:' .. old) end
redis.call('LTRIM', KEYS[2], 0, ARGV[4] - 1)
redis.call('PEXPIRE', KEYS[2], ARGV[2])`

/** KEYS challenge key; ARGV prefix, challenge. Removes it and returns the user it was issued to, or nil. */
const CONSUME = `
local user = redis.call('GET', KEYS[1])
if not user then return nil end
redis.call('DEL', KEYS[1])
redis.call('LREM', ARGV[1] .. 'challenges:' .. user, 0, ARGV[2])
return user`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    sealwireIssueChallenge: (key: string, list: string, userId: string, ttlMs: number, challenge: string, max: number, prefix: string) => Result<null, Context>
    sealwireConsumeChallenge: (key: string, prefix: string, challenge: string) => Result<string | null, Context>
  }
}

export interface RedisChallengesOptions {
  redis: Redis
  prefix: string
  /** true while Redis is reachable */
  up: () => boolean
  /** where challenges go while Redis is out of reach: the database, which every node shares too */
  fallback: Challenges
  ttlMs?: number
}

/**
 * Challenges in Redis, which every node shares and which expires them by itself. While Redis is out of reach
 * they are issued from the database instead, and an answer is looked for in both, so logins go on.
 */
export class RedisChallenges implements Challenges {
  readonly #o: RedisChallengesOptions
  readonly #ttlMs: number

  constructor (options: RedisChallengesOptions) {
    this.#o = options
    this.#ttlMs = options.ttlMs ?? CHALLENGE_TTL_MS
    options.redis.defineCommand('sealwireIssueChallenge', { numberOfKeys: 2, lua: ISSUE })
    options.redis.defineCommand('sealwireConsumeChallenge', { numberOfKeys: 1, lua: CONSUME })
  }

  async issue (userId: string): Promise<ChallengeResponse> {
    if (this.#o.up()) {
      const challenge = randomBytes(32).toString('base64')
      const expiresAt = new Date(Date.now() + this.#ttlMs).toISOString()
      try {
        await this.#o.redis.sealwireIssueChallenge(this.#key(challenge), `${this.#o.prefix}challenges:${userId}`, userId,
          this.#ttlMs, challenge, MAX_CHALLENGES_PER_USER, this.#o.prefix)
        return { challenge, expires_at: expiresAt }
      } catch {
        // out of reach after all: the database takes it
      }
    }
    return await this.#o.fallback.issue(userId)
  }

  async consume (userId: string, challenge: string): Promise<boolean> {
    if (this.#o.up()) {
      try {
        const owner = await this.#o.redis.sealwireConsumeChallenge(this.#key(challenge), this.#o.prefix, challenge)
        if (owner !== null) return owner === userId
      } catch {
        // not found there: it may have been issued from the database
      }
    }
    return await this.#o.fallback.consume(userId, challenge)
  }

  #key (challenge: string): string {
    return `${this.#o.prefix}challenge:${challenge}`
  }
}
