import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type {
  DailyUsersQuery, DailyUsersResponse, LiveResponse, MessagesStatsQuery, MessagesStatsResponse, RangeQuery, SummaryResponse
} from '../../schemas/analytics.js'
import type { Database } from '../database.js'
import type { HubEvent } from '../hub/hub.js'
import type { ServiceLog } from '../log.js'
import { Instances } from './instances.js'
import { Recorder, type FlushReport, type LiveCounts } from './recorder.js'
import { Reports } from './reports.js'
import { Retention } from './retention.js'

export { LATENCY_BUCKETS_MS, latencyBucket, OVERFLOW_BUCKET, summariseLatency } from './latency.js'
export { STALE_MS } from './instances.js'
export type { FlushReport, LiveCounts } from './recorder.js'

export interface AnalyticsOptions {
  db: Kysely<Database>
  now?: () => number
  /** this server process; a fresh id at each start */
  instanceId?: string
  /** the figures of the hub right now */
  live?: () => LiveCounts
  /** true while the server shuts down: sessions then end as `shutdown` */
  closing?: () => boolean
  retentionDays?: number
  log?: ServiceLog
}

const silent: ServiceLog = { info: () => {}, warn: () => {}, error: () => {} }

/**
 * The analytics of one server process: the recorder writes hub events, the instances close the sessions of
 * processes that died, the retention drops old rows, and the reports read the figures.
 */
export class Analytics {
  readonly instanceId: string
  readonly #now: () => number
  readonly #log: ServiceLog
  readonly #instances: Instances
  readonly #retention: Retention
  readonly #recorder: Recorder
  readonly #reports: Reports

  constructor (options: AnalyticsOptions) {
    const { db } = options
    const now = options.now ?? Date.now
    const live = options.live ?? (() => ({ connections: 0, onlineUsers: 0 }))
    this.#now = now
    this.#log = options.log ?? silent
    this.instanceId = options.instanceId ?? randomUUID()
    this.#instances = new Instances({ db, id: this.instanceId, now, log: this.#log })
    this.#retention = new Retention({ db, now, days: options.retentionDays ?? 400 })
    this.#recorder = new Recorder({
      db,
      instances: this.#instances,
      now,
      live,
      closing: options.closing ?? (() => false),
      log: this.#log,
      afterWrite: async (at) => { await this.#maintain(at) }
    })
    this.#reports = new Reports({ db, now, live, flush: async () => { await this.flush() } })
  }

  /** Notes this process, closes the sessions of processes that died, drops expired rows and starts the timer. */
  async start (flushMs?: number): Promise<void> {
    await this.#instances.register(this.#now())
    await this.#instances.sweep()
    await this.#retention.prune()
    this.#recorder.start(flushMs)
  }

  /** Ends the sessions still open as `shutdown`, writes everything and notes that this process stopped. */
  async close (): Promise<void> {
    if (!this.#recorder.running) return
    const now = this.#now()
    await this.#recorder.close(now)
    await this.#instances.noteStopped(now)
  }

  /** After a write: now and then close the sessions of dead processes; at a new day, drop expired rows. */
  async #maintain (now: number): Promise<void> {
    try {
      await this.#instances.sweepIfDue(now)
      await this.#retention.pruneIfDue(now)
    } catch (err) {
      this.#log.error({ err }, 'analytics: maintenance (closing dead processes\' sessions, retention) failed')
    }
  }

  // ---- recording ---------------------------------------------------------------------------------------

  /** Takes a hub event in memory; the delivery path never waits for the database. */
  record (event: HubEvent): void {
    this.#recorder.record(event)
  }

  /** Writes what gathered; resolves when it is committed (or failed and kept for the next try). Never throws. */
  async flush (): Promise<void> {
    await this.#recorder.flush()
  }

  /** Called after each write attempt (for /metrics). */
  onFlush (listener: (report: FlushReport) => void): void {
    this.#recorder.onFlush(listener)
  }

  /** rows waiting to be written */
  get buffered (): number {
    return this.#recorder.buffered
  }

  /** sessions not recorded because too many were waiting for a database that refused writes */
  get dropped (): number {
    return this.#recorder.dropped
  }

  // ---- reports -----------------------------------------------------------------------------------------

  async summary (query: RangeQuery): Promise<SummaryResponse> {
    return await this.#reports.summary(query)
  }

  async dailyUsers (query: DailyUsersQuery): Promise<DailyUsersResponse> {
    return await this.#reports.dailyUsers(query)
  }

  async messageStats (query: MessagesStatsQuery): Promise<MessagesStatsResponse> {
    return await this.#reports.messageStats(query)
  }

  async live (minutes?: number): Promise<LiveResponse> {
    return await this.#reports.live(minutes)
  }
}
