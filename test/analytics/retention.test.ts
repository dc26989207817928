import type { Kysely } from 'kysely'
import t from 'tap'
import { Retention } from '../../services/analytics/retention.js'
import type { Database } from '../../services/database.js'
import { testDatabases } from '../databases.js'

// 30 days kept at 2026-06-15T12:00Z: the cutoff is 2026-05-16T12:00:00.000Z, the cutoff day 2026-05-16.
const BEFORE = '2026-05-16T11:59:00.000Z'
const AT = '2026-05-16T12:00:00.000Z'

async function seed (db: Kysely<Database>, suffix = ''): Promise<void> {
  const session = (id: string, connectedAt: string, disconnectedAt: string | null) => ({
    id: id + suffix, user_id: 'alice', connected_at: connectedAt, disconnected_at: disconnectedAt, remote_address: null, user_agent: null, duration_ms: null, instance_id: 'A', closed_by: null
  })
  await db.insertInto('sessions').values([
    session('ended-before', '2026-05-16T10:00:00.000Z', '2026-05-16T11:59:59.999Z'),
    session('ended-at', '2026-05-16T10:00:00.000Z', AT),
    session('still-open', '2026-01-01T00:00:00.000Z', null)
  ]).execute()
  if (suffix !== '') return
  await db.insertInto('analytics_user_days').values([{ day: '2026-05-15', user_id: 'alice' }, { day: '2026-05-16', user_id: 'alice' }]).execute()
  await db.insertInto('analytics_daily_users').values(['2026-05-15', '2026-05-16'].map((day) => ({ day, dau: 1, wau: 1, mau: 1, computed_at: AT }))).execute()
  await db.insertInto('analytics_message_counts').values([BEFORE, AT].map((minute) => ({ minute, message_type: 'direct', outcome: 'accepted', code: '', count: 1 }))).execute()
  await db.insertInto('analytics_delivery_latency').values([BEFORE, AT].map((minute) => ({ minute, le_ms: 5, count: 1, sum_ms: 4 }))).execute()
  await db.insertInto('analytics_presence').values([BEFORE, AT].map((minute) => ({ minute, instance_id: 'A', connections: 1, online_users: 1 }))).execute()
  await db.insertInto('analytics_instances').values([
    { id: 'stopped-before', started_at: '2026-05-01T00:00:00.000Z', last_seen_at: BEFORE, stopped_at: BEFORE },
    { id: 'stopped-at', started_at: '2026-05-01T00:00:00.000Z', last_seen_at: AT, stopped_at: AT },
    { id: 'never-stopped', started_at: '2026-01-01T00:00:00.000Z', last_seen_at: '2026-01-02T00:00:00.000Z', stopped_at: null }
  ]).execute()
}

for (const database of testDatabases) {
  t.test(`${database.name}: rows older than the retention go; open sessions and unstopped processes stay`, { skip: database.skip }, async (t) => {
    const db = await database.open(t)
    await seed(db)
    let now = Date.parse('2026-06-15T12:00:00.000Z')
    const retention = new Retention({ db, now: () => now, days: 30 })
    await retention.prune()

    const ids = async (): Promise<string[]> => (await db.selectFrom('sessions').select('id').orderBy('id').execute()).map((r) => r.id)
    t.same(await ids(), ['ended-at', 'still-open'], 'a session ended before the cutoff goes; an open one stays, however old')
    t.same((await db.selectFrom('analytics_user_days').select('day').execute()).map((r) => r.day), ['2026-05-16'], 'days before the cutoff day go')
    t.same((await db.selectFrom('analytics_daily_users').select('day').execute()).map((r) => r.day), ['2026-05-16'])
    for (const table of ['analytics_message_counts', 'analytics_delivery_latency', 'analytics_presence'] as const) {
      t.same((await db.selectFrom(table).select('minute').execute()).map((r) => r.minute), [AT], `${table}: minutes before the cutoff go`)
    }
    t.same((await db.selectFrom('analytics_instances').select('id').orderBy('id').execute()).map((r) => r.id), ['never-stopped', 'stopped-at'],
      'a process that never noted its stop stays (a sweep closes its sessions first)')

    // once a UTC day: later in the day nothing goes, the next day it does
    await seed(db, '-again')
    now = Date.parse('2026-06-15T23:59:59.999Z')
    await retention.pruneIfDue(now)
    t.ok((await ids()).includes('ended-before-again'), 'not twice on the same day')
    now = Date.parse('2026-06-16T00:00:00.000Z')
    await retention.pruneIfDue(now)
    t.same(await ids(), ['still-open', 'still-open-again'], 'again on the next day, with that day\'s cutoff (2026-05-17T00:00Z)')
  })
}
