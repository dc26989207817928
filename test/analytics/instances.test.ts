import t from 'tap'
import { Instances, STALE_MS } from '../../services/analytics/instances.js'
import type { AnalyticsInstancesTable, SessionsTable } from '../../services/database.js'
import { testDatabases } from '../databases.js'

const silent = { info: () => {}, warn: () => {}, error: () => {} }
const iso = (ms: number): string => new Date(ms).toISOString()
const NOW = Date.parse('2026-04-02T00:30:00.000Z')

for (const database of testDatabases) {
  t.test(`${database.name}: a process silent for longer than ${STALE_MS} ms is dead; its open sessions end at its last sign of life`, { skip: database.skip }, async (t) => {
    const db = await database.open(t)
    let now = NOW
    const self = new Instances({ db, id: 'self', now: () => now, log: silent })
    await self.register(Date.parse('2026-03-01T00:00:00.000Z'))
    const instance = (id: string, lastSeen: number, stopped: boolean): AnalyticsInstancesTable =>
      ({ id, started_at: '2026-04-01T00:00:00.000Z', last_seen_at: iso(lastSeen), stopped_at: stopped ? iso(lastSeen) : null })
    await db.insertInto('analytics_instances').values([
      instance('dead', NOW - STALE_MS - 1, false),
      instance('quiet', NOW - STALE_MS, false),
      instance('stopped', NOW - 3600_000, true)
    ]).execute()
    const session = (id: string, instanceId: string, connectedAt: string): SessionsTable =>
      ({ id, user_id: id, connected_at: connectedAt, disconnected_at: null, remote_address: null, user_agent: null, duration_ms: null, instance_id: instanceId, closed_by: null })
    await db.insertInto('sessions').values([
      session('overnight', 'dead', '2026-04-01T23:00:00.000Z'),
      session('after-last-write', 'dead', iso(NOW - 1000)),
      session('on-quiet', 'quiet', '2026-04-02T00:00:00.000Z'),
      session('on-stopped', 'stopped', '2026-04-02T00:00:00.000Z'),
      session('on-self', 'self', '2026-03-01T00:00:00.000Z')
    ]).execute()
    // kept figures of 1 April, which the overnight session's user must now count in
    await db.insertInto('analytics_daily_users').values({ day: '2026-04-01', dau: 0, wau: 0, mau: 0, computed_at: iso(NOW) }).execute()

    t.equal(await self.sweep(), 2, 'only the dead process\'s sessions')
    const ended = async (id: string) => await db.selectFrom('sessions').select(['disconnected_at', 'duration_ms', 'closed_by']).where('id', '=', id).executeTakeFirstOrThrow()
    const lastWrite = iso(NOW - STALE_MS - 1)
    t.same(await ended('overnight'), { disconnected_at: lastWrite, duration_ms: Date.parse(lastWrite) - Date.parse('2026-04-01T23:00:00.000Z'), closed_by: 'recovery' })
    t.same(await ended('after-last-write'), { disconnected_at: iso(NOW - 1000), duration_ms: 0, closed_by: 'recovery' },
      'a session that began after the last write ends where it began')
    for (const id of ['on-quiet', 'on-stopped', 'on-self']) t.equal((await ended(id)).disconnected_at, null, `${id}: left open`)
    t.same((await db.selectFrom('analytics_user_days').selectAll().where('user_id', '=', 'overnight').orderBy('day').execute()).map((r) => r.day),
      ['2026-04-01', '2026-04-02'], 'the user is active on every day the session touched')
    t.equal((await db.selectFrom('analytics_daily_users').selectAll().execute()).length, 0, 'the kept figures of those days are dropped')
    const stoppedAt = async (id: string) => (await db.selectFrom('analytics_instances').select('stopped_at').where('id', '=', id).executeTakeFirstOrThrow()).stopped_at
    t.equal(await stoppedAt('dead'), lastWrite, 'the dead process is noted as stopped at its last write')
    t.equal(await stoppedAt('quiet'), null)

    // a sweep a minute at most: the quiet process goes stale now, but is found only at the next due sweep
    now = NOW + 30_000
    await self.sweepIfDue(now)
    t.equal((await ended('on-quiet')).disconnected_at, null, 'no sweep 30 s after the last')
    now = NOW + STALE_MS
    await self.sweepIfDue(now)
    t.equal((await ended('on-quiet')).closed_by, 'recovery', 'the next one, a minute later')

    // this process: alive with each write, stopped at its close
    await db.transaction().execute(async (trx) => { await self.noteAlive(trx, now) })
    t.match(await db.selectFrom('analytics_instances').selectAll().where('id', '=', 'self').executeTakeFirstOrThrow(), { last_seen_at: iso(now), stopped_at: null })
    await self.noteStopped(now + 5)
    t.equal(await stoppedAt('self'), iso(now + 5))
  })
}
