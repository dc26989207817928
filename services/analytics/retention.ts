import type { Kysely } from 'kysely'
import type { Database } from '../database.js'
import { DAY_MS, dayOf, iso } from './time.js'

export interface RetentionOptions {
  db: Kysely<Database>
  now: () => number
  /** ANALYTICS_RETENTION_DAYS */
  days: number
}

/** Drops analytics rows older than the retention: at the start, then once each UTC day. */
export class Retention {
  readonly #db: Kysely<Database>
  readonly #now: () => number
  readonly #days: number
  /** the UTC day of the last prune */
  #prunedOn: string | undefined

  constructor (options: RetentionOptions) {
    this.#db = options.db
    this.#now = options.now
    this.#days = options.days
  }

  /** Prunes unless it already did on this UTC day (a clock that went back counts as a new day). */
  async pruneIfDue (now: number): Promise<void> {
    if (dayOf(now) !== this.#prunedOn) await this.prune()
  }

  /** Deletes analytics rows older than the retention, closed sessions included. */
  async prune (): Promise<void> {
    const now = this.#now()
    this.#prunedOn = dayOf(now)
    const cutoff = now - this.#days * DAY_MS
    const cutoffIso = iso(cutoff)
    const cutoffDay = dayOf(cutoff)
    const db = this.#db
    await db.deleteFrom('sessions').where('disconnected_at', '<', cutoffIso).execute()
    await db.deleteFrom('analytics_user_days').where('day', '<', cutoffDay).execute()
    await db.deleteFrom('analytics_daily_users').where('day', '<', cutoffDay).execute()
    await db.deleteFrom('analytics_message_counts').where('minute', '<', cutoffIso).execute()
    await db.deleteFrom('analytics_delivery_latency').where('minute', '<', cutoffIso).execute()
    await db.deleteFrom('analytics_presence').where('minute', '<', cutoffIso).execute()
    await db.deleteFrom('analytics_instances').where('stopped_at', '<', cutoffIso).execute()
  }
}
