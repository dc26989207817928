import { sql, type Kysely } from 'kysely'
import type {
  ActiveUsers, DailyUsersQuery, DailyUsersResponse, Interval, LatencySummary, LiveResponse, MessageCounts,
  MessagesStatsPoint, MessagesStatsQuery, MessagesStatsResponse, MessageTypeCounts, RangeQuery, SummaryResponse
} from '../../schemas/analytics.js'
import type { Database } from '../database.js'
import { InvalidRangeError } from '../errors.js'
import { activeUsers } from './active-users.js'
import { summariseLatency, type LatencyBucket } from './latency.js'
import type { LiveCounts } from './recorder.js'
import { num } from './rows.js'
import { addDays, DAY_MS, dayOf, dayStart, daysBetween, floorTo, HOUR_MS, iso, MINUTE_MS, parseInstant, resolveRange } from './time.js'

const MESSAGE_TYPES = ['direct', 'broadcast', 'server'] as const
type MessageType = typeof MESSAGE_TYPES[number]
const OUTCOMES = ['accepted', 'duplicate', 'delivered', 'refused'] as const
type Outcome = typeof OUTCOMES[number]

const RANGE_LIMITS: Record<Interval, { unit: number, keyLength: number, maxSpan: number }> = {
  minute: { unit: MINUTE_MS, keyLength: 16, maxSpan: 2 * DAY_MS },
  hour: { unit: HOUR_MS, keyLength: 13, maxSpan: 125 * DAY_MS },
  day: { unit: DAY_MS, keyLength: 10, maxSpan: 366 * DAY_MS }
}
const MAX_SPAN_MS = 366 * DAY_MS

export interface ReportsOptions {
  db: Kysely<Database>
  now: () => number
  /** the figures of the hub right now */
  live: () => LiveCounts
  /** writes what the recorder gathered, so that a report includes it */
  flush: () => Promise<void>
}

/** The figures the analytics API serves: a range's summary, active users per day, message series, presence. */
export class Reports {
  readonly #db: Kysely<Database>
  readonly #now: () => number
  readonly #live: () => LiveCounts
  readonly #flush: () => Promise<void>

  constructor (options: ReportsOptions) {
    this.#db = options.db
    this.#now = options.now
    this.#live = options.live
    this.#flush = options.flush
  }

  async summary (query: RangeQuery): Promise<SummaryResponse> {
    const now = this.#now()
    const range = resolveRange(query, { now, defaultSpanMs: DAY_MS, maxSpanMs: MAX_SPAN_MS })
    await this.#flush()
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
    const lastDayUsers = (await activeUsers(db, lastDay, lastDay, this.#now())).get(lastDay) as ActiveUsers
    const live = this.#live()
    const endedCount = num(ended?.n)

    return {
      from,
      to,
      generated_at: iso(now),
      live: { connections: live.connections, online_users: live.onlineUsers },
      users: { registered: num(registered?.n), new: num(newUsers?.n), active: num(active?.n) },
      active_users: lastDayUsers,
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
    await this.#flush()

    const from = `${firstDay}T00:00:00.000Z`
    const to = iso(dayStart(lastDay) + DAY_MS)
    const active = await activeUsers(this.#db, firstDay, lastDay, this.#now())
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
    await this.#flush()
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

    const points = new Map<string, { start: string, counts: MessageCounts, latency: LatencyBucket[] }>()
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
    await this.#flush()
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
