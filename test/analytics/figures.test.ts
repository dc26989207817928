import { sql, type Kysely } from 'kysely'
import t, { type Test } from 'tap'
import { Analytics, latencyBucket, OVERFLOW_BUCKET, summariseLatency } from '../../services/analytics/index.js'
import type { Database } from '../../services/database.js'
import type { HubEvent } from '../../services/hub/hub.js'
import { testDatabases } from '../databases.js'

// A known script of sessions and messages with fixed timestamps, written through the service with its clock
// under the test's control. Four server processes share one database file: A crashes, B starts after A is
// stale and closes its sessions, B stops cleanly, C crashes and D starts before C is stale.

const at = (text: string): number => Date.parse(text)

class Clock {
  constructor (public ms: number) {}
  set (text: string): void { this.ms = at(text) }
  readonly now = (): number => this.ms
}

/** A test run once on SQLite and once on PostgreSQL, each on a fresh, migrated database. */
function dbTest (name: string, fn: (t: Test, db: Kysely<Database>) => Promise<void>): void {
  for (const database of testDatabases) {
    t.test(`${database.name}: ${name}`, { skip: database.skip }, async (t) => { await fn(t, await database.open(t)) })
  }
}

async function addUser (db: Kysely<Database>, userId: string, createdAt: string): Promise<void> {
  await db.insertInto('users').values({ user_id: userId, username: userId, public_key: 'k', x25519_public_key: 'x', x25519_key_signature: null, created_at: createdAt, updated_at: createdAt }).execute()
}

function open (id: string, userId: string, when: string): HubEvent {
  return { kind: 'session-open', connectionId: id, userId, remoteAddress: '192.0.2.7', userAgent: 'script/1', at: at(when) }
}
const close = (id: string, userId: string, when: string): HubEvent => ({ kind: 'session-close', connectionId: id, userId, at: at(when) })
function messages (n: number, when: string, messageType: 'direct' | 'broadcast' | 'server', outcome: 'accepted' | 'duplicate' | 'refused', code?: 'bad_signature' | 'rate_limited'): HubEvent[] {
  return Array.from({ length: n }, () => ({ kind: 'message' as const, messageType, userId: 'alice', outcome, ...(code === undefined ? {} : { code }), at: at(when) }))
}
const delivered = (latencyMs: number, when: string): HubEvent => ({ kind: 'delivered', userId: 'alice', latencyMs, at: at(when) })

dbTest('empty data: zeros everywhere, every day and every bucket present', async (t, db) => {
  const clock = new Clock(at('2026-03-10T12:34:56.000Z'))
  const analytics = new Analytics({ db, now: clock.now })
  await analytics.start()

  const summary = await analytics.summary({})
  t.equal(summary.from, '2026-03-09T12:34:56.000Z', 'the default range is the last 24 hours')
  t.equal(summary.to, '2026-03-10T12:34:56.000Z')
  t.same(summary.users, { registered: 0, new: 0, active: 0 })
  t.same(summary.active_users, { day: '2026-03-10', dau: 0, wau: 0, mau: 0 })
  t.same(summary.sessions, { started: 0, ended: 0, average_duration_s: null, longest_duration_s: null })
  t.same(summary.messages, { accepted: 0, duplicate: 0, delivered: 0, refused: 0 })
  t.same(summary.refused_by_code, [])
  t.same(summary.delivery_latency, { count: 0, mean_ms: null, p50_ms: null, p90_ms: null, p99_ms: null })

  const daily = await analytics.dailyUsers({})
  t.equal(daily.from, '2026-02-09')
  t.equal(daily.to, '2026-03-11', 'today is the last day by default')
  t.equal(daily.days.length, 30)
  t.ok(daily.days.every((d) => d.dau === 0 && d.wau === 0 && d.mau === 0 && d.new_users === 0 && d.sessions_started === 0))

  const stats = await analytics.messageStats({ from: '2026-03-10', to: '2026-03-10T03:00:00Z' })
  t.equal(stats.interval, 'hour')
  t.same(stats.series.map((p) => p.start), ['2026-03-10T00:00:00.000Z', '2026-03-10T01:00:00.000Z', '2026-03-10T02:00:00.000Z'])
  t.ok(stats.series.every((p) => p.accepted === 0 && p.latency_p50_ms === null))

  const live = await analytics.live(3)
  t.same(live.series.map((p) => p.minute), ['2026-03-10T12:32:00.000Z', '2026-03-10T12:33:00.000Z', '2026-03-10T12:34:00.000Z'])
  await analytics.close()
})

dbTest('the script: sessions across midnight, crashes, restarts, messages and latency', async (t, db) => {
  for (const [user, created] of [['alice', '2026-02-20T10:00:00.000Z'], ['bob', '2026-03-01T09:30:00.000Z'], ['carol', '2026-03-02T11:00:00.000Z'], ['dave', '2026-03-04T08:59:00.000Z']] as const) {
    await addUser(db, user, created)
  }
  const clock = new Clock(at('2026-03-01T08:00:00.000Z'))

  // ---- process A: 1 to 4 March, then it crashes ---------------------------------------------------
  const a = new Analytics({ db, now: clock.now, instanceId: 'A' })
  await a.start()
  const script: Array<[string, HubEvent[]]> = [
    ['2026-03-01T09:00:00.000Z', [open('s1', 'alice', '2026-03-01T09:00:00.000Z')]],
    ['2026-03-01T09:10:00.000Z', [
      ...messages(3, '2026-03-01T09:10:05.000Z', 'direct', 'accepted'),
      ...messages(1, '2026-03-01T09:10:06.000Z', 'direct', 'duplicate'),
      ...messages(2, '2026-03-01T09:10:07.000Z', 'direct', 'refused', 'bad_signature'),
      ...messages(1, '2026-03-01T09:10:08.000Z', 'direct', 'refused', 'rate_limited'),
      ...messages(2, '2026-03-01T09:10:09.000Z', 'broadcast', 'accepted'),
      ...messages(1, '2026-03-01T09:10:10.000Z', 'server', 'accepted')
    ]],
    ['2026-03-01T09:11:00.000Z', [delivered(4, '2026-03-01T09:11:00.000Z'), delivered(40, '2026-03-01T09:11:00.000Z'), delivered(4000, '2026-03-01T09:11:00.000Z')]],
    ['2026-03-01T10:00:00.000Z', [close('s1', 'alice', '2026-03-01T10:00:00.000Z')]],
    ['2026-03-01T23:30:00.000Z', [open('s2', 'bob', '2026-03-01T23:30:00.000Z')]],
    ['2026-03-01T23:59:30.000Z', messages(2, '2026-03-01T23:59:30.000Z', 'direct', 'accepted')],
    // the next flush happens after midnight: bob, online, is active on 2 March too
    ['2026-03-02T00:00:10.000Z', messages(1, '2026-03-02T00:00:10.000Z', 'direct', 'accepted')],
    ['2026-03-02T00:00:20.000Z', [delivered(50_000, '2026-03-02T00:00:20.000Z')]],
    ['2026-03-02T00:30:00.000Z', [close('s2', 'bob', '2026-03-02T00:30:00.000Z')]],
    ['2026-03-02T12:00:00.000Z', [open('s3', 'carol', '2026-03-02T12:00:00.000Z')]],
    // no flush on 3 March at all: the 4 March flush notes carol on both days
    ['2026-03-04T08:00:00.000Z', []]
  ]
  for (const [when, events] of script) {
    clock.set(when)
    for (const e of events) a.record(e)
    await a.flush()
  }
  // A crashes: no close(), carol's session stays open in the database
  const carolOpen = await db.selectFrom('sessions').selectAll().where('id', '=', 's3').executeTakeFirstOrThrow()
  t.equal(carolOpen.disconnected_at, null, 'a crash leaves the session open')

  // ---- process B: starts after A went stale, closes A's sessions at A's last sign of life -----------
  clock.set('2026-03-04T08:30:00.000Z')
  const b = new Analytics({ db, now: clock.now, instanceId: 'B' })
  await b.start()
  const carol = await db.selectFrom('sessions').selectAll().where('id', '=', 's3').executeTakeFirstOrThrow()
  t.match(carol, { disconnected_at: '2026-03-04T08:00:00.000Z', closed_by: 'recovery', instance_id: 'A' }, 'closed at A\'s last write')
  t.equal(Number(carol.duration_ms), 44 * 3600_000)
  t.equal((await db.selectFrom('analytics_instances').selectAll().where('id', '=', 'A').executeTakeFirstOrThrow()).stopped_at, '2026-03-04T08:00:00.000Z')

  clock.set('2026-03-04T09:05:00.000Z')
  b.record(open('s4', 'dave', '2026-03-04T09:00:00.000Z'))
  b.record(close('s4', 'dave', '2026-03-04T09:05:00.000Z'))
  await b.flush()
  clock.set('2026-03-04T09:30:00.000Z')
  b.record(open('s5', 'dave', '2026-03-04T09:30:00.000Z'))
  await b.flush()
  clock.set('2026-03-04T10:00:00.000Z')
  await b.close()
  t.match(await db.selectFrom('sessions').selectAll().where('id', '=', 's5').executeTakeFirstOrThrow(),
    { disconnected_at: '2026-03-04T10:00:00.000Z', closed_by: 'shutdown' }, 'a clean stop ends the open sessions at the stop')
  t.match(await db.selectFrom('sessions').selectAll().where('id', '=', 's4').executeTakeFirstOrThrow(),
    { connected_at: '2026-03-04T09:00:00.000Z', disconnected_at: '2026-03-04T09:05:00.000Z', duration_ms: 300_000, closed_by: 'disconnect', remote_address: '192.0.2.7', user_agent: 'script/1' })

  // ---- process C crashes with alice online; D starts 10 s later, before C is stale ------------------
  clock.set('2026-03-20T09:00:00.000Z')
  const c = new Analytics({ db, now: clock.now, instanceId: 'C' })
  await c.start()
  clock.set('2026-03-20T10:00:30.000Z')
  c.record(open('s6', 'alice', '2026-03-20T10:00:00.000Z'))
  await c.flush()
  clock.set('2026-03-20T10:00:40.000Z')
  const d = new Analytics({ db, now: clock.now, instanceId: 'D' })
  await d.start()
  t.equal((await db.selectFrom('sessions').select('disconnected_at').where('id', '=', 's6').executeTakeFirstOrThrow()).disconnected_at, null,
    'a process silent for less than a minute may still be alive: its sessions stay open')
  clock.set('2026-03-20T10:02:00.000Z')
  await d.flush()
  t.match(await db.selectFrom('sessions').selectAll().where('id', '=', 's6').executeTakeFirstOrThrow(),
    { disconnected_at: '2026-03-20T10:00:30.000Z', duration_ms: 30_000, closed_by: 'recovery' }, 'the next sweep closes them')

  // ---- the figures ---------------------------------------------------------------------------------
  clock.set('2026-04-05T12:00:00.000Z')
  const day1 = await d.summary({ from: '2026-03-01', to: '2026-03-02' })
  t.same(day1.users, { registered: 4, new: 1, active: 2 }, 'one day: alice and bob; bob registered that day')
  t.same(day1.active_users, { day: '2026-03-01', dau: 2, wau: 2, mau: 2 })
  t.same(day1.sessions, { started: 2, ended: 1, average_duration_s: 3600, longest_duration_s: 3600 }, 'bob\'s session ends the next day')
  t.same(day1.messages, { accepted: 8, duplicate: 1, delivered: 3, refused: 3 })
  t.same(day1.messages_by_type, {
    direct: { accepted: 5, duplicate: 1, delivered: 3, refused: 3 },
    broadcast: { accepted: 2, duplicate: 0, delivered: 0, refused: 0 },
    server: { accepted: 1, duplicate: 0, delivered: 0, refused: 0 }
  })
  t.same(day1.refused_by_code, [{ code: 'bad_signature', count: 2 }, { code: 'rate_limited', count: 1 }])
  t.same(day1.delivery_latency, { count: 3, mean_ms: 1348, p50_ms: 50, p90_ms: 5000, p99_ms: 5000 })
  t.same(day1.live, { connections: 0, online_users: 0 })

  const day2 = await d.summary({ from: '2026-03-02T00:00:00Z', to: '2026-03-03T00:00:00+00:00' })
  t.same(day2.users, { registered: 4, new: 1, active: 2 }, 'bob (connected the day before) and carol')
  t.same(day2.sessions, { started: 1, ended: 1, average_duration_s: 3600, longest_duration_s: 3600 })
  t.same(day2.messages, { accepted: 1, duplicate: 0, delivered: 1, refused: 0 })
  t.same(day2.delivery_latency, { count: 1, mean_ms: 50_000, p50_ms: 60_000, p90_ms: 60_000, p99_ms: 60_000 })

  const halfHour = await d.summary({ from: '2026-03-01T23:45:00Z', to: '2026-03-02T00:15:00Z' })
  t.equal(halfHour.users.active, 1, 'only bob was online across midnight')
  t.equal(halfHour.messages.accepted, 3, 'two messages before midnight, one after')

  const whole = await d.summary({ from: String(at('2026-03-01T00:00:00Z')), to: String(at('2026-04-01T00:00:00Z')) })
  t.same(whole.users, { registered: 4, new: 3, active: 4 }, 'epoch milliseconds work too')
  t.same(whole.sessions, { started: 6, ended: 6, average_duration_s: (3600 + 3600 + 44 * 3600 + 300 + 1800 + 30) / 6, longest_duration_s: 44 * 3600 })
  t.same(whole.active_users, { day: '2026-03-31', dau: 0, wau: 0, mau: 4 })

  const daily = await d.dailyUsers({ from: '2026-03-01', to: '2026-04-04' })
  t.equal(daily.days.length, 34)
  const fig = (day: string): [number, number, number] => {
    const x = daily.days.find((e) => e.day === day)
    return [x?.dau ?? -1, x?.wau ?? -1, x?.mau ?? -1]
  }
  t.same(fig('2026-03-01'), [2, 2, 2])
  t.same(fig('2026-03-02'), [2, 3, 3], 'bob across midnight, carol')
  t.same(fig('2026-03-03'), [1, 3, 3], 'carol, online all day without a flush')
  t.same(fig('2026-03-04'), [2, 4, 4], 'carol until the crash, dave on B')
  t.same(fig('2026-03-05'), [0, 4, 4])
  t.same(fig('2026-03-07'), [0, 4, 4], 'the week of 1 to 7 March')
  t.same(fig('2026-03-08'), [0, 3, 4], 'alice leaves the week')
  t.same(fig('2026-03-09'), [0, 2, 4], 'bob leaves it')
  t.same(fig('2026-03-10'), [0, 2, 4])
  t.same(fig('2026-03-11'), [0, 0, 4])
  t.same(fig('2026-03-20'), [1, 1, 4], 'alice again, on C')
  t.same(fig('2026-03-26'), [0, 1, 4], 'the week of 20 to 26 March')
  t.same(fig('2026-03-27'), [0, 0, 4])
  t.same(fig('2026-03-31'), [0, 0, 4], 'the 30 days of 2 to 31 March: bob on the 2nd, alice on the 20th')
  t.same(fig('2026-04-01'), [0, 0, 3], 'bob leaves the 30-day window')
  t.same(fig('2026-04-03'), [0, 0, 1], 'carol and dave leave it')
  t.same(daily.days.filter((x) => x.sessions_started > 0).map((x) => [x.day, x.sessions_started]),
    [['2026-03-01', 2], ['2026-03-02', 1], ['2026-03-04', 2], ['2026-03-20', 1]])
  t.same(daily.days.filter((x) => x.new_users > 0).map((x) => [x.day, x.new_users]), [['2026-03-01', 1], ['2026-03-02', 1], ['2026-03-04', 1]])
  t.same(await d.dailyUsers({ from: '2026-03-01', to: '2026-04-04' }), daily, 'the same once the finished days are kept')
  t.equal((await db.selectFrom('analytics_daily_users').selectAll().execute()).length, 34, 'finished days are kept')

  // a late event for a finished day (a process that comes back, say) makes the kept figures stale
  d.record(open('s7', 'erin', '2026-03-10T10:00:00.000Z'))
  d.record(close('s7', 'erin', '2026-03-10T10:05:00.000Z'))
  await d.flush()
  const again = await d.dailyUsers({ from: '2026-03-09', to: '2026-03-12' })
  t.same(again.days.map((x) => [x.day, x.dau, x.wau, x.mau]), [['2026-03-09', 0, 2, 4], ['2026-03-10', 1, 3, 5], ['2026-03-11', 0, 1, 5]])

  const hourly = await d.messageStats({ from: '2026-03-01T23:00:00Z', to: '2026-03-02T01:00:00Z' })
  t.same(hourly.series.map((p) => [p.start, p.accepted, p.delivered, p.latency_p50_ms]), [
    ['2026-03-01T23:00:00.000Z', 2, 0, null],
    ['2026-03-02T00:00:00.000Z', 1, 1, 60_000]
  ], 'hour buckets on each side of midnight')
  const byDay = await d.messageStats({ from: '2026-02-28', to: '2026-03-03', interval: 'day' })
  t.same(byDay.series.map((p) => [p.start.slice(0, 10), p.accepted, p.duplicate, p.delivered, p.refused]), [
    ['2026-02-28', 0, 0, 0, 0], ['2026-03-01', 8, 1, 3, 3], ['2026-03-02', 1, 0, 1, 0]
  ])
  t.same(byDay.totals, { accepted: 9, duplicate: 1, delivered: 4, refused: 3 })
  t.same(byDay.refused_by_code, [{ code: 'bad_signature', count: 2 }, { code: 'rate_limited', count: 1 }])
  const minutes = await d.messageStats({ from: '2026-03-01T09:09:00Z', to: '2026-03-01T09:12:00Z', interval: 'minute' })
  t.same(minutes.series.map((p) => [p.start.slice(11, 16), p.accepted, p.refused, p.delivered, p.latency_p99_ms]), [
    ['09:09', 0, 0, 0, null], ['09:10', 6, 3, 0, null], ['09:11', 0, 0, 3, 5000]
  ])
  await d.close()
})

dbTest('presence: the peak per minute of each process', async (t, db) => {
  const clock = new Clock(at('2026-05-01T10:00:05.000Z'))
  const live = { connections: 3, onlineUsers: 2 }
  const analytics = new Analytics({ db, now: clock.now, live: () => live })
  await analytics.start()
  await analytics.flush()
  clock.set('2026-05-01T10:00:30.000Z')
  Object.assign(live, { connections: 7, onlineUsers: 4 })
  await analytics.flush()
  clock.set('2026-05-01T10:00:50.000Z')
  Object.assign(live, { connections: 1, onlineUsers: 1 })
  await analytics.flush()
  clock.set('2026-05-01T10:02:10.000Z')
  const result = await analytics.live(3)
  t.same(result.series, [
    { minute: '2026-05-01T10:00:00.000Z', connections: 7, online_users: 4 },
    { minute: '2026-05-01T10:01:00.000Z', connections: 0, online_users: 0 },
    { minute: '2026-05-01T10:02:00.000Z', connections: 1, online_users: 1 }
  ], 'the peak of the minute; a minute without a running process is zero')
  t.same([result.connections, result.online_users], [1, 1])
  await analytics.close()
})

dbTest('ranges: formats, defaults and limits', async (t, db) => {
  const clock = new Clock(at('2026-06-15T06:00:00.000Z'))
  const analytics = new Analytics({ db, now: clock.now })
  const refused = async (p: Promise<unknown>, message: RegExp): Promise<void> => {
    await t.rejects(p, { code: 'INVALID_RANGE', statusCode: 400, message })
  }
  await refused(analytics.summary({ from: '2026-02-30' }), /from is not a valid date/)
  await refused(analytics.summary({ from: '2026-06-01T24:00:00Z' }), /not a valid date/)
  await refused(analytics.summary({ from: '2026-06-02', to: '2026-06-01' }), /from must be before to/)
  await refused(analytics.summary({ from: '2026-06-01', to: '2026-06-01' }), /from must be before to/)
  await refused(analytics.summary({ from: '2025-06-01', to: '2026-06-15' }), /more than 366 days/)
  await refused(analytics.messageStats({ from: '2026-06-01', to: '2026-06-04', interval: 'minute' }), /more than 2 days/)
  await refused(analytics.messageStats({ from: '2026-01-01', to: '2026-06-01', interval: 'hour' }), /more than 125 days/)
  await refused(analytics.dailyUsers({ from: '2025-01-01' }), /more than 366 days/)
  await refused(analytics.summary({ to: '999999999999999' }), /outside the years/)

  const offset = await analytics.summary({ from: '2026-06-14T23:30:00-02:00', to: '2026-06-15T05:00:00.5+02:00' })
  t.equal(offset.from, '2026-06-15T01:30:00.000Z', 'offsets are applied')
  t.equal(offset.to, '2026-06-15T03:00:00.500Z', 'and fractions kept')
  t.equal((await analytics.messageStats({ interval: 'minute' })).series.length, 24 * 60, 'minute series of the default 24 hours')
  const daily = await analytics.dailyUsers({ to: '2026-06-15T00:00:00.001Z' })
  t.equal(daily.days.at(-1)?.day, '2026-06-15', 'to is excluded: one ms into a day includes that day')
  t.equal(daily.days.length, 30)
  t.equal((await analytics.dailyUsers({ from: '2026-06-10T18:00:00Z', to: '2026-06-12' })).days.length, 2, 'days overlapping the range')
})

t.test('latency buckets: bounds, the open bucket, the mean', async (t) => {
  t.equal(latencyBucket(0), 1)
  t.equal(latencyBucket(1), 1)
  t.equal(latencyBucket(1.5), 2)
  t.equal(latencyBucket(86_400_000), 86_400_000)
  t.equal(latencyBucket(86_400_001), OVERFLOW_BUCKET)
  t.same(summariseLatency([]), { count: 0, mean_ms: null, p50_ms: null, p90_ms: null, p99_ms: null })
  t.same(summariseLatency([{ le: OVERFLOW_BUCKET, count: 1, sum: 90_000_000 }, { le: 5, count: 99, sum: 396 }]),
    { count: 100, mean_ms: 900_003.96, p50_ms: 5, p90_ms: 5, p99_ms: 5 })
  t.equal(summariseLatency([{ le: OVERFLOW_BUCKET, count: 2, sum: 2e8 }, { le: 5, count: 98, sum: 0 }]).p99_ms, 86_400_000,
    'beyond the largest bound: the largest bound, as Prometheus does')
})

dbTest('a failed write loses nothing and counts nothing twice; recording stays in memory', async (t, db) => {
  const clock = new Clock(at('2026-07-01T12:00:00.000Z'))
  const reports: boolean[] = []
  const analytics = new Analytics({ db, now: clock.now })
  analytics.onFlush(({ ok }) => reports.push(ok))
  await analytics.start()

  const started = performance.now()
  for (let i = 0; i < 100_000; i++) analytics.record({ kind: 'message', messageType: 'direct', userId: 'alice', outcome: 'accepted', at: clock.ms + (i % 120) * 1000 })
  const elapsed = performance.now() - started
  t.ok(elapsed < 2000, `100,000 events recorded in ${Math.round(elapsed)} ms, without touching the database`)
  t.equal(analytics.buffered, 2, 'two minute counters')

  await sql`alter table analytics_message_counts rename to analytics_message_counts_away`.execute(db)
  analytics.record(open('s1', 'alice', '2026-07-01T12:00:01.000Z'))
  await analytics.flush()
  t.same(reports, [false], 'the write failed')
  t.ok(analytics.buffered >= 3, 'and its rows are kept')
  analytics.record({ kind: 'message', messageType: 'direct', userId: 'alice', outcome: 'accepted', at: clock.ms })
  await sql`alter table analytics_message_counts_away rename to analytics_message_counts`.execute(db)
  clock.set('2026-07-01T12:00:02.000Z')
  await analytics.flush()
  t.same(reports, [false, true])
  t.equal(analytics.buffered, 0)
  const total = await db.selectFrom('analytics_message_counts').select((eb) => eb.fn.sum<number>('count').as('n')).executeTakeFirst()
  t.equal(Number(total?.n), 100_001, 'every event once')
  t.equal((await db.selectFrom('sessions').selectAll().execute()).length, 1)
  await analytics.close()
})
