import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { sql, type Kysely, type Transaction } from 'kysely'
import type {
  ActiveUsers, DailyUsersQuery, DailyUsersResponse, Interval, LatencySummary, LiveResponse, MessageCounts,
  MessagesStatsPoint, MessagesStatsQuery, MessagesStatsResponse, MessageTypeCounts, RangeQuery, SummaryResponse
} from '../schemas/analytics.js'
import {
  addDays, DAY_MS, dayOf, dayStart, daysBetween, floorTo, HOUR_MS, iso, MINUTE_MS, parseInstant, resolveRange, type Range
} from './analytics-time.js'
import type { Database } from './database.js'
import { InvalidRangeError } from './errors.js'
import type { ServiceLog } from './log.js'
import type { HubEvent } from './hub/hub.js'

// ---- tables (migration 2026-11-25-003-analytics) --------------------------------------------------

export type SessionEnd = 'disconnect' | 'shutdown' | 'recovery'

export type AnalyticsTables = {
  /** the columns the analytics migration adds to `sessions` */
  sessions: { duration_ms: number | null, instance_id: string | null, closed_by: SessionEnd | null }
  analytics_instances: { id: string, started_at: string, last_seen_at: string, stopped_at: string | null }
  analytics_user_days: { day: string, user_id: string }
  analytics_daily_users: { day: string, dau: number, wau: number, mau: number, computed_at: string }
  analytics_message_counts: { minute: string, message_type: string, outcome: string, code: string, count: number }
  analytics_delivery_latency: { minute: string, le_ms: number, count: number, sum_ms: number }
  analytics_presence: { minute: string, instance_id: string, connections: number, online_users: number }
}
export type AnalyticsDatabase = Database & AnalyticsTables
type Db = Kysely<AnalyticsDatabase>

/** The database seen with the analytics tables (the same connection). */
export function withAnalyticsTables (db: Kysely<Database>): Db {
  return db.withTables<AnalyticsTables>()
}

// ---- figures -----------------------------------------------------------------------------------------

/** Upper bounds of the delivery latency buckets, in ms; the database and /metrics use the same ones. */
export const LATENCY_BUCKETS_MS = [
  1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000, 21_600_000, 86_400_000
] as const
/** `le_ms` of the bucket above the largest bound */
export const OVERFLOW_BUCKET = -1
const LARGEST_BOUND = LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1] as number

export function latencyBucket (ms: number): number {
  for (const le of LATENCY_BUCKETS_MS) if (ms <= le) return le
  return OVERFLOW_BUCKET
}

const MESSAGE_TYPES = ['direct', 'broadcast', 'server'] as const
type MessageType = typeof MESSAGE_TYPES[number]
const OUTCOMES = ['accepted', 'duplicate', 'delivered', 'refused'] as const
type Outcome = typeof OUTCOMES[number]

/** A process that has not written for this long is taken for dead: its open sessions are closed. */
export const STALE_MS = 60_000
/** Even an idle process notes it is alive this often (the flush timer runs at least this often). */
const HEARTBEAT_MS = 10_000
/** How often a process looks for dead ones. */
const SWEEP_MS = 60_000
/** A day's DAU, WAU and MAU are kept once the day has been over this long. */
const SEAL_MS = 5 * MINUTE_MS
/** Sessions kept in memory while the database refuses writes; beyond it new sessions are not recorded. */
const MAX_BUFFERED_SESSIONS = 100_000
const CHUNK = 200

const RANGE_LIMITS: Record<Interval, { unit: number, keyLength: number, maxSpan: number }> = {
  minute: { unit: MINUTE_MS, keyLength: 16, maxSpan: 2 * DAY_MS },
  hour: { unit: HOUR_MS, keyLength: 13, maxSpan: 125 * DAY_MS },
  day: { unit: DAY_MS, keyLength: 10, maxSpan: 366 * DAY_MS }
}
const MAX_SPAN_MS = 366 * DAY_MS

// ---- the recorder ------------------------------------------------------------------------------------

export interface LiveCounts {
  connections: number
  onlineUsers: number
}

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

export interface FlushReport {
  durationMs: number
  rows: number
  ok: boolean
}

interface SessionRow {
  id: string
  user_id: string
  connected_at: string
  disconnected_at: string | null
  duration_ms: number | null
  remote_address: string | null
  user_agent: string | null
  instance_id: string
  closed_by: SessionEnd | null
}

interface ClosedSession {
  id: string
  disconnected_at: string
  duration_ms: number
  closed_by: SessionEnd
}

interface PresenceRow {
  minute: number
  connections: number
  online: number
}

interface Batch {
  /** sessions not written yet (possibly ended already) */
  opened: Map<string, SessionRow>
  /** ends of sessions written before */
  closed: ClosedSession[]
  /** `${day}\n${user}` */
  userDays: Set<string>
  /** `${minute ms}\t${type}\t${outcome}\t${code}` → count */
  counts: Map<string, number>
  /** `${minute ms}\t${le}` → count and sum */
  latency: Map<string, { count: number, sum: number }>
}

function emptyBatch (): Batch {
  return { opened: new Map(), closed: [], userDays: new Set(), counts: new Map(), latency: new Map() }
}

function batchRows (b: Batch): number {
  return b.opened.size + b.closed.length + b.userDays.size + b.counts.size + b.latency.size
}

const silent: ServiceLog = { info: () => {}, warn: () => {}, error: () => {} }
const num = (v: unknown): number => v === null || v === undefined ? 0 : Number(v)
const chunks = <T>(items: T[], size = CHUNK): T[][] => {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/**
 * Sessions, message counts and delivery latency, fed by hub events. `record` only touches memory, so the
 * delivery path never waits for it; `flush` (on a timer, and before every query) writes what gathered in one
 * transaction. Counters are kept per minute, active users per UTC day.
 */
export class Analytics {
  readonly instanceId: string
  readonly #db: Db
  readonly #now: () => number
  readonly #live: () => LiveCounts
  readonly #closing: () => boolean
  readonly #retentionDays: number
  readonly #log: ServiceLog
  readonly #flushListeners: Array<(report: FlushReport) => void> = []

  #started = false
  #timer: NodeJS.Timeout | undefined
  #batch: Batch = emptyBatch()
  /** a batch whose write failed, written again before the next one */
  #retry: Batch | undefined
  #running: Promise<void> = Promise.resolve()
  /** flushes asked for and not finished */
  #pending = 0
  /** sessions open in this process: connection id → user and start */
  readonly #open = new Map<string, { userId: string, connectedAt: number }>()
  /** user days already noted since the UTC day began, to skip a write per reconnect */
  readonly #knownUserDays = new Set<string>()
  #today: string
  #presence: PresenceRow | undefined
  #presenceWritten: PresenceRow | undefined
  #lastHeartbeat = 0
  #lastSweep = 0
  #pruneDue = false
  #dropped = 0
  #lastErrorLog = 0

  constructor (options: AnalyticsOptions) {
    this.#db = withAnalyticsTables(options.db)
    this.#now = options.now ?? Date.now
    this.instanceId = options.instanceId ?? randomUUID()
    this.#live = options.live ?? (() => ({ connections: 0, onlineUsers: 0 }))
    this.#closing = options.closing ?? (() => false)
    this.#retentionDays = options.retentionDays ?? 400
    this.#log = options.log ?? silent
    this.#today = dayOf(this.#now())
  }

  /** Notes this process, closes the sessions of processes that died, drops expired rows and starts the timer. */
  async start (flushMs?: number): Promise<void> {
    const now = this.#now()
    await this.#db.insertInto('analytics_instances')
      .values({ id: this.instanceId, started_at: iso(now), last_seen_at: iso(now), stopped_at: null }).execute()
    this.#started = true
    this.#lastHeartbeat = now
    await this.sweep()
    await this.prune()
    if (flushMs !== undefined) {
      // a tick while a write is still running (a slow disk) is skipped rather than queued
      this.#timer = setInterval(() => { if (this.#pending === 0) void this.flush() }, Math.min(flushMs, HEARTBEAT_MS))
      this.#timer.unref()
    }
  }

  /** Ends the sessions still open as `shutdown`, writes everything and notes that this process stopped. */
  async close (): Promise<void> {
    if (!this.#started) return
    clearInterval(this.#timer)
    const now = this.#now()
    for (const id of [...this.#open.keys()]) this.#endSession(id, now, 'shutdown')
    await this.flush()
    this.#started = false
    try {
      await this.#db.updateTable('analytics_instances').set({ last_seen_at: iso(now), stopped_at: iso(now) })
        .where('id', '=', this.instanceId).execute()
    } catch (err) {
      this.#log.error({ err }, 'analytics: noting the stop failed')
    }
  }

  /** Called after each write attempt (for /metrics). */
  onFlush (listener: (report: FlushReport) => void): void {
    this.#flushListeners.push(listener)
  }

  /** rows waiting to be written */
  get buffered (): number {
    return batchRows(this.#batch) + (this.#retry === undefined ? 0 : batchRows(this.#retry))
  }

  /** sessions not recorded because too many were waiting for a database that refused writes */
  get dropped (): number {
    return this.#dropped
  }

  // ---- the hot path: memory only ---------------------------------------------------------------------

  record (event: HubEvent): void {
    switch (event.kind) {
      case 'message':
        this.#count(event.at, event.messageType, event.outcome, event.code ?? '')
        break
      case 'delivered': {
        this.#count(event.at, 'direct', 'delivered', '')
        const latency = Math.max(0, event.latencyMs)
        const key = `${floorTo(event.at, MINUTE_MS)}\t${latencyBucket(latency)}`
        const cell = this.#batch.latency.get(key)
        if (cell === undefined) this.#batch.latency.set(key, { count: 1, sum: latency })
        else {
          cell.count++
          cell.sum += latency
        }
        break
      }
      case 'session-open':
        if (this.#batch.opened.size + (this.#retry?.opened.size ?? 0) >= MAX_BUFFERED_SESSIONS) {
          this.#dropped++
          return
        }
        this.#open.set(event.connectionId, { userId: event.userId, connectedAt: event.at })
        this.#batch.opened.set(event.connectionId, {
          id: event.connectionId,
          user_id: event.userId,
          connected_at: iso(event.at),
          disconnected_at: null,
          duration_ms: null,
          remote_address: event.remoteAddress,
          user_agent: event.userAgent,
          instance_id: this.instanceId,
          closed_by: null
        })
        this.#userDay(dayOf(event.at), event.userId)
        break
      case 'session-close':
        this.#endSession(event.connectionId, event.at, this.#closing() ? 'shutdown' : 'disconnect')
        break
    }
  }

  #count (at: number, type: string, outcome: string, code: string): void {
    const key = `${floorTo(at, MINUTE_MS)}\t${type}\t${outcome}\t${code}`
    this.#batch.counts.set(key, (this.#batch.counts.get(key) ?? 0) + 1)
  }

  #userDay (day: string, userId: string): void {
    const key = `${day}\n${userId}`
    if (this.#knownUserDays.has(key)) return
    this.#knownUserDays.add(key)
    this.#batch.userDays.add(key)
  }

  #endSession (id: string, at: number, closedBy: SessionEnd): void {
    const session = this.#open.get(id)
    if (session === undefined) return
    this.#open.delete(id)
    const end = Math.max(at, session.connectedAt)
    const ended = { disconnected_at: iso(end), duration_ms: end - session.connectedAt, closed_by: closedBy }
    const unwritten = this.#batch.opened.get(id)
    if (unwritten !== undefined) Object.assign(unwritten, ended)
    else this.#batch.closed.push({ id, ...ended })
    // a session that crossed midnight counts on every day it touched
    for (const day of daysBetween(dayOf(session.connectedAt), dayOf(end)).slice(1)) this.#userDay(day, session.userId)
  }

  // ---- writing -----------------------------------------------------------------------------------------

  /** Writes what gathered; resolves when it is committed (or failed and kept for the next try). Never throws. */
  async flush (): Promise<void> {
    this.#pending++
    this.#running = this.#running.then(async () => { await this.#flushNow() }).catch((err: unknown) => {
      this.#log.error({ err }, 'analytics: flush failed')
    }).finally(() => { this.#pending-- })
    await this.#running
  }

  async #flushNow (): Promise<void> {
    if (!this.#started) return
    const now = this.#now()
    const today = dayOf(now)
    if (today !== this.#today) this.#newDay(today)
    const presence = this.#samplePresence(now)

    const batch = this.#batch
    this.#batch = emptyBatch()
    const retry = this.#retry
    this.#retry = undefined
    const work = retry === undefined ? batch : mergeBatches(retry, batch)
    const rows = batchRows(work) + presence.length
    if (rows === 0 && now - this.#lastHeartbeat < HEARTBEAT_MS) {
      await this.#maintain(now)
      return
    }
    const started = performance.now()
    try {
      await this.#db.transaction().execute(async (trx) => { await this.#write(trx, work, presence, now) })
      this.#lastHeartbeat = now
      for (const row of presence) this.#presenceWritten = row
      this.#report({ durationMs: performance.now() - started, rows, ok: true })
    } catch (err) {
      this.#retry = work
      if (now - this.#lastErrorLog >= 10_000) {
        this.#lastErrorLog = now
        this.#log.error({ err, rows }, 'analytics: writing failed; kept for the next try')
      }
      this.#report({ durationMs: performance.now() - started, rows, ok: false })
      return
    }
    await this.#maintain(now)
  }

  #report (report: FlushReport): void {
    for (const listener of this.#flushListeners) {
      try {
        listener(report)
      } catch { /* a metrics listener must not break writing */ }
    }
  }

  /** A new UTC day: the users online now are active on it too. */
  #newDay (today: string): void {
    const previous = this.#today
    this.#today = today
    this.#knownUserDays.clear()
    this.#pruneDue = true
    if (today < previous) return // the clock went back
    for (const { userId, connectedAt } of this.#open.values()) {
      const first = dayOf(connectedAt) > previous ? dayOf(connectedAt) : addDays(previous, 1)
      if (first <= today) for (const day of daysBetween(first, today)) this.#userDay(day, userId)
    }
  }

  /** The most connections and online users of the current minute; rows to write when they changed. */
  #samplePresence (now: number): PresenceRow[] {
    const { connections, onlineUsers } = this.#live()
    const minute = floorTo(now, MINUTE_MS)
    const out: PresenceRow[] = []
    const current = this.#presence
    if (current === undefined || current.minute !== minute) {
      // the previous minute's last change may not be written yet
      if (current !== undefined && !samePresence(current, this.#presenceWritten)) out.push(current)
      this.#presence = { minute, connections, online: onlineUsers }
    } else {
      current.connections = Math.max(current.connections, connections)
      current.online = Math.max(current.online, onlineUsers)
    }
    const sample = this.#presence as PresenceRow
    if (!samePresence(sample, this.#presenceWritten)) out.push({ ...sample })
    return out
  }

  async #write (trx: Transaction<AnalyticsDatabase>, batch: Batch, presence: PresenceRow[], now: number): Promise<void> {
    for (const chunk of chunks([...batch.opened.values()], 100)) {
      await trx.insertInto('sessions').values(chunk).execute()
    }
    for (const end of batch.closed) {
      await trx.updateTable('sessions')
        .set({ disconnected_at: end.disconnected_at, duration_ms: end.duration_ms, closed_by: end.closed_by })
        .where('id', '=', end.id).execute()
    }
    await insertUserDays(trx, [...batch.userDays].map((key) => {
      const at = key.indexOf('\n')
      return { day: key.slice(0, at), user_id: key.slice(at + 1) }
    }), dayOf(now))

    const counts = [...batch.counts].map(([key, count]) => {
      const [minute, type, outcome, code] = key.split('\t') as [string, string, string, string]
      return { minute: iso(Number(minute)), message_type: type, outcome, code, count }
    })
    for (const chunk of chunks(counts)) {
      await trx.insertInto('analytics_message_counts').values(chunk)
        .onConflict((oc) => oc.columns(['minute', 'message_type', 'outcome', 'code'])
          .doUpdateSet((eb) => ({ count: eb('analytics_message_counts.count', '+', eb.ref('excluded.count')) })))
        .execute()
    }
    const latency = [...batch.latency].map(([key, { count, sum }]) => {
      const [minute, le] = key.split('\t') as [string, string]
      return { minute: iso(Number(minute)), le_ms: Number(le), count, sum_ms: Math.round(sum) }
    })
    for (const chunk of chunks(latency)) {
      await trx.insertInto('analytics_delivery_latency').values(chunk)
        .onConflict((oc) => oc.columns(['minute', 'le_ms']).doUpdateSet((eb) => ({
          count: eb('analytics_delivery_latency.count', '+', eb.ref('excluded.count')),
          sum_ms: eb('analytics_delivery_latency.sum_ms', '+', eb.ref('excluded.sum_ms'))
        })))
        .execute()
    }
    for (const row of presence) {
      // the row holds this process's maximum of the minute, so the newer value replaces the older one
      await trx.insertInto('analytics_presence')
        .values({ minute: iso(row.minute), instance_id: this.instanceId, connections: row.connections, online_users: row.online })
        .onConflict((oc) => oc.columns(['minute', 'instance_id']).doUpdateSet((eb) => ({
          connections: eb.ref('excluded.connections'),
          online_users: eb.ref('excluded.online_users')
        })))
        .execute()
    }
    await trx.updateTable('analytics_instances').set({ last_seen_at: iso(now) }).where('id', '=', this.instanceId).execute()
  }

  /** Now and then: close the sessions of dead processes; at a new day, drop expired rows. */
  async #maintain (now: number): Promise<void> {
    try {
      if (now - this.#lastSweep >= SWEEP_MS) await this.sweep()
      if (this.#pruneDue) {
        this.#pruneDue = false
        await this.prune()
      }
    } catch (err) {
      this.#log.error({ err }, 'analytics: maintenance (closing dead processes\' sessions, retention) failed')
    }
  }

  /**
   * Closes the sessions left open by server processes that stopped without closing them (a crash, a kill),
   * at the last moment those processes were known to be alive. Returns how many it closed.
   */
  async sweep (): Promise<number> {
    const now = this.#now()
    this.#lastSweep = now
    const dead = await this.#db.selectFrom('analytics_instances').selectAll()
      .where('stopped_at', 'is', null).where('id', '!=', this.instanceId).where('last_seen_at', '<', iso(now - STALE_MS))
      .execute()
    let closed = 0
    for (const instance of dead) {
      closed += await this.#db.transaction().execute(async (trx) => {
        const open = await trx.selectFrom('sessions').select(['id', 'user_id', 'connected_at'])
          .where('instance_id', '=', instance.id).where('disconnected_at', 'is', null).execute()
        const userDays: Array<{ day: string, user_id: string }> = []
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

  /** Deletes analytics rows older than the retention, closed sessions included. */
  async prune (): Promise<void> {
    const cutoff = this.#now() - this.#retentionDays * DAY_MS
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

  // ---- reading -----------------------------------------------------------------------------------------

  async summary (query: RangeQuery): Promise<SummaryResponse> {
    const now = this.#now()
    const range = resolveRange(query, { now, defaultSpanMs: DAY_MS, maxSpanMs: MAX_SPAN_MS })
    await this.flush()
    const db = this.#db
    const from = iso(range.from)
    const to = iso(range.to)

    const registered = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst()
    const newUsers = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n'))
      .where('created_at', '>=', from).where('created_at', '<', to).executeTakeFirst()
    const startedIn = db.selectFrom('sessions').select('user_id').where('connected_at', '>=', from).where('connected_at', '<', to)
    const openAtFrom = db.selectFrom('sessions').select('user_id').where('connected_at', '<', from)
      .where((eb) => eb.or([eb('disconnected_at', '>=', from), eb('disconnected_at', 'is', null)]))
    const active = await db.selectFrom(startedIn.union(openAtFrom).as('u'))
      .select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst()
    const started = await db.selectFrom('sessions').select((eb) => eb.fn.countAll<number>().as('n'))
      .where('connected_at', '>=', from).where('connected_at', '<', to).executeTakeFirst()
    const ended = await db.selectFrom('sessions')
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.avg<number>('duration_ms').as('avg'), eb.fn.max('duration_ms').as('max')])
      .where('disconnected_at', '>=', from).where('disconnected_at', '<', to).executeTakeFirst()
    const messages = await this.#messageTotals(from, to)
    const latency = await this.#latencyTotals(from, to)
    const lastDay = dayOf(range.to - 1)
    const activeUsers = (await this.#activeUsers(lastDay, lastDay)).get(lastDay) as ActiveUsers
    const live = this.#live()
    const endedCount = num(ended?.n)

    return {
      from,
      to,
      generated_at: iso(now),
      live: { connections: live.connections, online_users: live.onlineUsers },
      users: { registered: num(registered?.n), new: num(newUsers?.n), active: num(active?.n) },
      active_users: activeUsers,
      sessions: {
        started: num(started?.n),
        ended: endedCount,
        average_duration_s: endedCount === 0 ? null : Math.round(num(ended?.avg)) / 1000,
        longest_duration_s: endedCount === 0 ? null : num(ended?.max) / 1000
      },
      ...messages,
      delivery_latency: latency
    }
  }

  async dailyUsers (query: DailyUsersQuery): Promise<DailyUsersResponse> {
    const now = this.#now()
    const end = query.to === undefined ? dayStart(dayOf(now)) + DAY_MS : parseInstant(query.to, 'to')
    const lastDay = dayOf(end - 1)
    const start = query.from === undefined ? dayStart(addDays(lastDay, -29)) : parseInstant(query.from, 'from')
    if (start >= end) throw new InvalidRangeError('from must be before to')
    const firstDay = dayOf(start)
    const days = daysBetween(firstDay, lastDay)
    if (days.length > MAX_SPAN_MS / DAY_MS) throw new InvalidRangeError(`the range spans more than ${MAX_SPAN_MS / DAY_MS} days`)
    await this.flush()

    const from = `${firstDay}T00:00:00.000Z`
    const to = iso(dayStart(lastDay) + DAY_MS)
    const active = await this.#activeUsers(firstDay, lastDay)
    const toMap = (rows: Array<{ day: string, n: unknown }>): Map<string, number> => new Map(rows.map((r) => [r.day, num(r.n)]))
    const createdDay = sql<string>`substr(created_at, 1, 10)`
    const newUsers = toMap(await this.#db.selectFrom('users')
      .select((eb) => [createdDay.as('day'), eb.fn.countAll<number>().as('n')])
      .where('created_at', '>=', from).where('created_at', '<', to).groupBy(createdDay).execute())
    const connectedDay = sql<string>`substr(connected_at, 1, 10)`
    const sessions = toMap(await this.#db.selectFrom('sessions')
      .select((eb) => [connectedDay.as('day'), eb.fn.countAll<number>().as('n')])
      .where('connected_at', '>=', from).where('connected_at', '<', to).groupBy(connectedDay).execute())
    return {
      from: firstDay,
      to: addDays(lastDay, 1),
      days: days.map((day) => ({
        ...(active.get(day) as ActiveUsers),
        new_users: newUsers.get(day) ?? 0,
        sessions_started: sessions.get(day) ?? 0
      }))
    }
  }

  async messageStats (query: MessagesStatsQuery): Promise<MessagesStatsResponse> {
    const interval: Interval = query.interval ?? 'hour'
    const { unit, keyLength, maxSpan } = RANGE_LIMITS[interval]
    const range = resolveRange(query, { now: this.#now(), defaultSpanMs: Math.min(DAY_MS, maxSpan), maxSpanMs: maxSpan })
    await this.flush()
    const from = iso(range.from)
    const to = iso(range.to)
    const db = this.#db
    const bucket = sql<string>`substr(minute, 1, ${sql.lit(keyLength)})`

    const countRows = await db.selectFrom('analytics_message_counts')
      .select((eb) => [bucket.as('bucket'), 'outcome', eb.fn.sum<number>('count').as('n')])
      .where('minute', '>=', from).where('minute', '<', to)
      .groupBy([bucket, 'outcome']).execute()
    const latencyRows = await db.selectFrom('analytics_delivery_latency')
      .select((eb) => [bucket.as('bucket'), 'le_ms', eb.fn.sum<number>('count').as('n'), eb.fn.sum<number>('sum_ms').as('sum')])
      .where('minute', '>=', from).where('minute', '<', to)
      .groupBy([bucket, 'le_ms']).execute()

    const points = new Map<string, { start: string, counts: MessageCounts, latency: Array<{ le: number, count: number, sum: number }> }>()
    for (let start = floorTo(range.from, unit); start < range.to; start += unit) {
      const at = iso(start)
      points.set(at.slice(0, keyLength), { start: at, counts: zeroCounts(), latency: [] })
    }
    for (const row of countRows) {
      const point = points.get(row.bucket)
      if (point !== undefined && isOutcome(row.outcome)) point.counts[row.outcome] += num(row.n)
    }
    for (const row of latencyRows) {
      points.get(row.bucket)?.latency.push({ le: num(row.le_ms), count: num(row.n), sum: num(row.sum) })
    }
    const series: MessagesStatsPoint[] = [...points.values()].map(({ start, counts, latency }) => {
      const { p50_ms: p50, p99_ms: p99 } = summariseLatency(latency)
      return { start, ...counts, latency_p50_ms: p50, latency_p99_ms: p99 }
    })
    const totals = await this.#messageTotals(from, to)
    return {
      from,
      to,
      interval,
      totals: totals.messages,
      by_type: totals.messages_by_type,
      refused_by_code: totals.refused_by_code,
      delivery_latency: await this.#latencyTotals(from, to),
      series
    }
  }

  async live (minutes = 60): Promise<LiveResponse> {
    await this.flush()
    const now = this.#now()
    const current = floorTo(now, MINUTE_MS)
    const first = current - (minutes - 1) * MINUTE_MS
    const rows = await this.#db.selectFrom('analytics_presence')
      .select((eb) => ['minute', eb.fn.sum<number>('connections').as('connections'), eb.fn.sum<number>('online_users').as('online')])
      .where('minute', '>=', iso(first)).where('minute', '<=', iso(current))
      .groupBy('minute').execute()
    const byMinute = new Map(rows.map((r) => [r.minute, r]))
    const series = []
    for (let m = first; m <= current; m += MINUTE_MS) {
      const row = byMinute.get(iso(m))
      series.push({ minute: iso(m), connections: num(row?.connections), online_users: num(row?.online) })
    }
    const live = this.#live()
    return { at: iso(now), connections: live.connections, online_users: live.onlineUsers, series }
  }

  async #messageTotals (from: string, to: string): Promise<Pick<SummaryResponse, 'messages' | 'messages_by_type' | 'refused_by_code'>> {
    const rows = await this.#db.selectFrom('analytics_message_counts')
      .select((eb) => ['message_type', 'outcome', 'code', eb.fn.sum<number>('count').as('n')])
      .where('minute', '>=', from).where('minute', '<', to)
      .groupBy(['message_type', 'outcome', 'code']).execute()
    const messages = zeroCounts()
    const byType: MessageTypeCounts = { direct: zeroCounts(), broadcast: zeroCounts(), server: zeroCounts() }
    const refused = new Map<string, number>()
    for (const row of rows) {
      const n = num(row.n)
      if (!isOutcome(row.outcome)) continue
      messages[row.outcome] += n
      if (isMessageType(row.message_type)) byType[row.message_type][row.outcome] += n
      if (row.outcome === 'refused') refused.set(row.code, (refused.get(row.code) ?? 0) + n)
    }
    const refusedByCode = [...refused].map(([code, count]) => ({ code, count }))
      .sort((a, b) => b.count - a.count || a.code.localeCompare(b.code))
    return { messages, messages_by_type: byType, refused_by_code: refusedByCode }
  }

  async #latencyTotals (from: string, to: string): Promise<LatencySummary> {
    const rows = await this.#db.selectFrom('analytics_delivery_latency')
      .select((eb) => ['le_ms', eb.fn.sum<number>('count').as('n'), eb.fn.sum<number>('sum_ms').as('sum')])
      .where('minute', '>=', from).where('minute', '<', to)
      .groupBy('le_ms').execute()
    return summariseLatency(rows.map((r) => ({ le: num(r.le_ms), count: num(r.n), sum: num(r.sum) })))
  }

  /**
   * DAU, WAU and MAU of each day from `first` to `last`. Finished days are kept in analytics_daily_users;
   * the others are counted from analytics_user_days with sliding 7- and 30-day windows.
   */
  async #activeUsers (first: string, last: string): Promise<Map<string, ActiveUsers>> {
    const db = this.#db
    const out = new Map<string, ActiveUsers>()
    const kept = await db.selectFrom('analytics_daily_users').select(['day', 'dau', 'wau', 'mau'])
      .where('day', '>=', first).where('day', '<=', last).execute()
    for (const row of kept) out.set(row.day, { day: row.day, dau: num(row.dau), wau: num(row.wau), mau: num(row.mau) })
    const missing = daysBetween(first, last).filter((day) => !out.has(day))
    if (missing.length === 0) return out

    const from = missing[0] as string
    const to = missing[missing.length - 1] as string
    const rows = await db.selectFrom('analytics_user_days').select(['day', 'user_id'])
      .where('day', '>=', addDays(from, -29)).where('day', '<=', to).orderBy('day').execute()
    const usersOf = new Map<string, string[]>()
    for (const { day, user_id: user } of rows) {
      const list = usersOf.get(day)
      if (list === undefined) usersOf.set(day, [user])
      else list.push(user)
    }
    const week = new Map<string, number>()
    const month = new Map<string, number>()
    const enter = (window: Map<string, number>, users: string[] | undefined): void => {
      for (const u of users ?? []) window.set(u, (window.get(u) ?? 0) + 1)
    }
    const leave = (window: Map<string, number>, users: string[] | undefined): void => {
      for (const u of users ?? []) {
        const n = (window.get(u) ?? 0) - 1
        if (n <= 0) window.delete(u)
        else window.set(u, n)
      }
    }
    const now = this.#now()
    const sealedBefore = dayOf(now - SEAL_MS)
    const computedAt = iso(now)
    const toKeep: Array<ActiveUsers & { computed_at: string }> = []
    const wanted = new Set(missing)
    for (const day of daysBetween(addDays(from, -29), to)) {
      enter(week, usersOf.get(day))
      enter(month, usersOf.get(day))
      leave(week, usersOf.get(addDays(day, -7)))
      leave(month, usersOf.get(addDays(day, -30)))
      if (!wanted.has(day)) continue
      const figures = { day, dau: usersOf.get(day)?.length ?? 0, wau: week.size, mau: month.size }
      out.set(day, figures)
      if (day < sealedBefore) toKeep.push({ ...figures, computed_at: computedAt })
    }
    for (const chunk of chunks(toKeep)) {
      await db.insertInto('analytics_daily_users').values(chunk)
        .onConflict((oc) => oc.column('day').doUpdateSet((eb) => ({
          dau: eb.ref('excluded.dau'), wau: eb.ref('excluded.wau'), mau: eb.ref('excluded.mau'), computed_at: eb.ref('excluded.computed_at')
        })))
        .execute()
    }
    return out
  }
}

/** Inserts user days; one for a finished day makes the kept DAU/WAU/MAU of that day and later ones stale. */
async function insertUserDays (trx: Transaction<AnalyticsDatabase>, rows: Array<{ day: string, user_id: string }>, today: string): Promise<void> {
  if (rows.length === 0) return
  for (const chunk of chunks(rows)) {
    await trx.insertInto('analytics_user_days').values(chunk).onConflict((oc) => oc.columns(['day', 'user_id']).doNothing()).execute()
  }
  let earliest = today
  for (const { day } of rows) if (day < earliest) earliest = day
  if (earliest < today) await trx.deleteFrom('analytics_daily_users').where('day', '>=', earliest).execute()
}

function mergeBatches (older: Batch, newer: Batch): Batch {
  const merged = emptyBatch()
  for (const [id, row] of older.opened) merged.opened.set(id, row)
  for (const [id, row] of newer.opened) merged.opened.set(id, row)
  merged.closed = [...older.closed, ...newer.closed]
  merged.userDays = new Set([...older.userDays, ...newer.userDays])
  for (const source of [older, newer]) {
    for (const [key, n] of source.counts) merged.counts.set(key, (merged.counts.get(key) ?? 0) + n)
    for (const [key, { count, sum }] of source.latency) {
      const cell = merged.latency.get(key)
      if (cell === undefined) merged.latency.set(key, { count, sum })
      else {
        cell.count += count
        cell.sum += sum
      }
    }
  }
  return merged
}

function samePresence (a: PresenceRow, b: PresenceRow | undefined): boolean {
  return b !== undefined && a.minute === b.minute && a.connections === b.connections && a.online === b.online
}

function zeroCounts (): MessageCounts {
  return { accepted: 0, duplicate: 0, delivered: 0, refused: 0 }
}

function isOutcome (value: string): value is Outcome {
  return (OUTCOMES as readonly string[]).includes(value)
}

function isMessageType (value: string): value is MessageType {
  return (MESSAGE_TYPES as readonly string[]).includes(value)
}

/** Mean from the sums; percentiles as the upper bound of the bucket that holds them (the largest bound beyond it). */
export function summariseLatency (buckets: Array<{ le: number, count: number, sum: number }>): LatencySummary {
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

export type { Range }
