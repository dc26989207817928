import type { Kysely, Transaction } from 'kysely'
import type { AnalyticsUserDaysTable, Database } from '../database.js'
import type { ServiceLog } from '../log.js'
import { insertUserDays } from './active-users.js'
import { dayOf, daysBetween, iso } from './time.js'

/** A process that has not written for this long is taken for dead: its open sessions are closed. */
export const STALE_MS = 60_000
/** How often a process looks for dead ones. */
const SWEEP_MS = 60_000

export interface InstancesOptions {
  db: Kysely<Database>
  /** this server process */
  id: string
  now: () => number
  log: ServiceLog
}

/**
 * Which server processes are alive. Each keeps a row in analytics_instances and refreshes its `last_seen_at`
 * with every write; a process that stopped without saying so (a crash, a kill) leaves sessions open, and
 * another process closes them at the last moment the dead one was known to be alive.
 */
export class Instances {
  readonly id: string
  readonly #db: Kysely<Database>
  readonly #now: () => number
  readonly #log: ServiceLog
  #lastSweep = 0

  constructor (options: InstancesOptions) {
    this.id = options.id
    this.#db = options.db
    this.#now = options.now
    this.#log = options.log
  }

  /** Notes that this process started. */
  async register (now: number): Promise<void> {
    await this.#db.insertInto('analytics_instances')
      .values({ id: this.id, started_at: iso(now), last_seen_at: iso(now), stopped_at: null }).execute()
  }

  /** Notes that this process is alive, in the transaction of a write. */
  async noteAlive (trx: Transaction<Database>, now: number): Promise<void> {
    await trx.updateTable('analytics_instances').set({ last_seen_at: iso(now) }).where('id', '=', this.id).execute()
  }

  /** Notes a clean stop: this process's sessions were all ended by it. Never throws. */
  async noteStopped (now: number): Promise<void> {
    try {
      await this.#db.updateTable('analytics_instances').set({ last_seen_at: iso(now), stopped_at: iso(now) })
        .where('id', '=', this.id).execute()
    } catch (err) {
      this.#log.error({ err }, 'analytics: noting the stop failed')
    }
  }

  /** Sweeps when the last sweep is long enough ago. */
  async sweepIfDue (now: number): Promise<void> {
    if (now - this.#lastSweep >= SWEEP_MS) await this.sweep()
  }

  /**
   * Closes the sessions left open by server processes that stopped without closing them (a crash, a kill),
   * at the last moment those processes were known to be alive. Returns how many it closed.
   */
  async sweep (): Promise<number> {
    const now = this.#now()
    this.#lastSweep = now
    const dead = await this.#db.selectFrom('analytics_instances').selectAll()
      .where('stopped_at', 'is', null).where('id', '!=', this.id).where('last_seen_at', '<', iso(now - STALE_MS))
      .execute()
    let closed = 0
    for (const instance of dead) {
      closed += await this.#db.transaction().execute(async (trx) => {
        const open = await trx.selectFrom('sessions').select(['id', 'user_id', 'connected_at'])
          .where('instance_id', '=', instance.id).where('disconnected_at', 'is', null).execute()
        const userDays: AnalyticsUserDaysTable[] = []
        for (const s of open) {
          const end = s.connected_at > instance.last_seen_at ? s.connected_at : instance.last_seen_at
          await trx.updateTable('sessions')
            .set({ disconnected_at: end, duration_ms: Date.parse(end) - Date.parse(s.connected_at), closed_by: 'recovery' })
            .where('id', '=', s.id).execute()
          for (const day of daysBetween(s.connected_at.slice(0, 10), end.slice(0, 10))) userDays.push({ day, user_id: s.user_id })
        }
        await insertUserDays(trx, userDays, dayOf(now))
        await trx.updateTable('analytics_instances').set({ stopped_at: instance.last_seen_at }).where('id', '=', instance.id).execute()
        return open.length
      })
    }
    if (closed > 0) this.#log.info({ sessions: closed, processes: dead.length }, 'analytics: closed the sessions of stopped server processes')
    return closed
  }
}
