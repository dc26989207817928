import { performance } from 'node:perf_hooks'
import type { Kysely } from 'kysely'
import type { Database, SessionEnd } from '../database.js'
import type { HubEvent } from '../hub/hub.js'
import type { ServiceLog } from '../log.js'
import { batchRows, emptyBatch, mergeBatches, samePresence, writeBatch, type Batch, type PresenceRow } from './batch.js'
import type { Instances } from './instances.js'
import { latencyBucket } from './latency.js'
import { addDays, dayOf, daysBetween, floorTo, iso, MINUTE_MS } from './time.js'

/** Even an idle process notes it is alive this often (the flush timer runs at least this often). */
const HEARTBEAT_MS = 10_000
/** Sessions kept in memory while the database refuses writes; beyond it new sessions are not recorded. */
const MAX_BUFFERED_SESSIONS = 100_000

export interface LiveCounts {
  connections: number
  onlineUsers: number
}

export interface FlushReport {
  durationMs: number
  rows: number
  ok: boolean
}

export interface RecorderOptions {
  db: Kysely<Database>
  /** this process: its sessions and presence rows are its own, and each write notes it is alive */
  instances: Instances
  now: () => number
  /** the figures of the hub right now */
  live: () => LiveCounts
  /** true while the server shuts down: sessions then end as `shutdown` */
  closing: () => boolean
  log: ServiceLog
  /** run in the write queue after every write that did not fail (closing dead processes' sessions, retention) */
  afterWrite: (now: number) => Promise<void>
}

/**
 * Sessions, message counts and delivery latency, fed by hub events. `record` only touches memory, so the
 * delivery path never waits for it; `flush` (on a timer, and before every query) writes what gathered in one
 * transaction. Counters are kept per minute, active users per UTC day.
 */
export class Recorder {
  readonly #o: RecorderOptions
  readonly #flushListeners: Array<(report: FlushReport) => void> = []
  #running = false
  #timer: NodeJS.Timeout | undefined
  #batch: Batch = emptyBatch()
  /** a batch whose write failed, written again before the next one */
  #retry: Batch | undefined
  #queue: Promise<void> = Promise.resolve()
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
  #dropped = 0
  #lastErrorLog = 0

  constructor (options: RecorderOptions) {
    this.#o = options
    this.#today = dayOf(options.now())
  }

  /** Starts writing: on a timer when `flushMs` is given, else only when asked. */
  start (flushMs?: number): void {
    this.#running = true
    this.#lastHeartbeat = this.#o.now()
    if (flushMs !== undefined) {
      // a tick while a write is still running (a slow disk) is skipped rather than queued
      this.#timer = setInterval(() => { if (this.#pending === 0) void this.flush() }, Math.min(flushMs, HEARTBEAT_MS))
      this.#timer.unref()
    }
  }

  get running (): boolean {
    return this.#running
  }

  /** Ends the sessions still open as `shutdown` at `now`, writes everything and stops. */
  async close (now: number): Promise<void> {
    clearInterval(this.#timer)
    for (const id of [...this.#open.keys()]) this.#endSession(id, now, 'shutdown')
    await this.flush()
    this.#running = false
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
      case 'rejected':
        this.#count(event.at, 'direct', 'rejected', '')
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
          instance_id: this.#o.instances.id,
          closed_by: null
        })
        this.#userDay(dayOf(event.at), event.userId)
        break
      case 'session-close':
        this.#endSession(event.connectionId, event.at, this.#o.closing() ? 'shutdown' : 'disconnect')
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
    this.#queue = this.#queue.then(async () => { await this.#flushNow() }).catch((err: unknown) => {
      this.#o.log.error({ err }, 'analytics: flush failed')
    }).finally(() => { this.#pending-- })
    await this.#queue
  }

  async #flushNow (): Promise<void> {
    if (!this.#running) return
    const now = this.#o.now()
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
      await this.#o.afterWrite(now)
      return
    }
    const started = performance.now()
    try {
      await this.#o.db.transaction().execute(async (trx) => {
        await writeBatch(trx, work, presence, this.#o.instances.id, today)
        await this.#o.instances.noteAlive(trx, now)
      })
      this.#lastHeartbeat = now
      for (const row of presence) this.#presenceWritten = row
      this.#report({ durationMs: performance.now() - started, rows, ok: true })
    } catch (err) {
      this.#retry = work
      if (now - this.#lastErrorLog >= 10_000) {
        this.#lastErrorLog = now
        this.#o.log.error({ err, rows }, 'analytics: writing failed; kept for the next try')
      }
      this.#report({ durationMs: performance.now() - started, rows, ok: false })
      return
    }
    await this.#o.afterWrite(now)
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
    if (today < previous) return // the clock went back
    for (const { userId, connectedAt } of this.#open.values()) {
      const first = dayOf(connectedAt) > previous ? dayOf(connectedAt) : addDays(previous, 1)
      if (first <= today) for (const day of daysBetween(first, today)) this.#userDay(day, userId)
    }
  }

  /** The most connections and online users of the current minute; rows to write when they changed. */
  #samplePresence (now: number): PresenceRow[] {
    const { connections, onlineUsers } = this.#o.live()
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
}
