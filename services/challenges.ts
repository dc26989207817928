import { randomBytes } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { ChallengeResponse } from '../schemas/auth.js'
import type { Database } from './database.js'

export const CHALLENGE_TTL_MS = 60_000
/** Outstanding challenges kept per user; older ones are dropped when a new one is issued. */
export const MAX_CHALLENGES_PER_USER = 5

/** One-time login challenges: issued for a user, consumed by the first answer whatever its outcome. */
export interface Challenges {
  issue: (userId: string) => Promise<ChallengeResponse>
  /** Removes the challenge and says whether it was issued to `userId` and is still fresh. */
  consume: (userId: string, challenge: string) => Promise<boolean>
}

/** Challenges kept in the database, so they survive restarts and serve every node that shares it. */
export class ChallengeStore implements Challenges {
  readonly #db: Kysely<Database>
  readonly #now: () => number

  constructor (db: Kysely<Database>, now: () => number = Date.now) {
    this.#db = db
    this.#now = now
  }

  async issue (userId: string): Promise<ChallengeResponse> {
    const now = this.#now()
    const challenge = randomBytes(32).toString('base64')
    const expiresAt = new Date(now + CHALLENGE_TTL_MS).toISOString()
    const nowIso = new Date(now).toISOString()
    await this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('challenges').where('expires_at', '<=', nowIso).execute()
      const keep = trx.selectFrom('challenges').select('challenge').where('user_id', '=', userId)
        .orderBy('created_at', 'desc').limit(MAX_CHALLENGES_PER_USER - 1)
      await trx.deleteFrom('challenges').where('user_id', '=', userId).where('challenge', 'not in', keep).execute()
      await trx.insertInto('challenges').values({ challenge, user_id: userId, expires_at: expiresAt, created_at: nowIso }).execute()
    })
    return { challenge, expires_at: expiresAt }
  }

  /**
   * Removes the challenge and says whether it was issued to `userId` and is still fresh. The delete comes
   * first, in one statement, so the first attempt consumes it whatever the outcome and a replay finds nothing.
   */
  async consume (userId: string, challenge: string): Promise<boolean> {
    const row = await this.#db.deleteFrom('challenges').where('challenge', '=', challenge)
      .returning(['user_id', 'expires_at']).executeTakeFirst()
    if (row === undefined) return false
    return row.user_id === userId && Date.parse(row.expires_at) > this.#now()
  }
}
