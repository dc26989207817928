import { join } from 'node:path'
import { Migrator, NO_MIGRATIONS, sql } from 'kysely'
import t from 'tap'
import { migrations } from '../../migrations/index.js'
import { createDatabase, createPostgresDatabase, isPostgres, migrateToLatest, openSqlite } from '../../services/database.js'
import { isUniqueViolation } from '../../services/users.js'
import { postgresDatabaseUrl, testDatabases } from '../databases.js'
import { tempDir } from '../helper.js'

t.test('migrations run once and are idempotent on the same file', async (t) => {
  const path = join(tempDir(t), 'nested', 'folder', 'db.sqlite')
  const first = createDatabase({ path })
  t.same(await migrateToLatest(first), Object.keys(migrations).sort(), 'the folder is created and every migration applied, in order')
  await first.destroy()
  const second = createDatabase({ path })
  t.same(await migrateToLatest(second), [], 'nothing to do the second time')
  const tables = await second.introspection.getTables()
  const names = tables.map((x) => x.name)
  for (const table of ['challenges', 'messages', 'revoked_tokens', 'sessions', 'users']) t.ok(names.includes(table), `table ${table}`)
  await second.destroy()
})

t.test('postgres: the same migrations, up, down to nothing and up again', { skip: testDatabases[1]?.skip }, async (t) => {
  const url = await postgresDatabaseUrl(t)
  const db = createPostgresDatabase({ url, poolSize: 2 })
  t.teardown(() => db.destroy())
  t.ok(isPostgres(db))
  t.same(await migrateToLatest(db), Object.keys(migrations).sort(), 'every migration applied, in order')
  t.same(await migrateToLatest(db), [], 'nothing to do the second time')
  const names = (await db.introspection.getTables()).map((x) => x.name)
  for (const table of ['challenges', 'messages', 'revoked_tokens', 'sessions', 'users', 'analytics_message_counts']) t.ok(names.includes(table), `table ${table}`)
  const seq = (await db.introspection.getTables()).find((x) => x.name === 'messages')?.columns.find((c) => c.name === 'seq')
  t.match(seq, { dataType: 'int8', isAutoIncrementing: true }, 'messages.seq is a bigint identity')

  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } })
  const down = await migrator.migrateTo(NO_MIGRATIONS)
  t.equal(down.error, undefined, 'every down migration runs on PostgreSQL')
  const left = (await db.introspection.getTables()).map((x) => x.name)
  t.same(left.filter((n) => !n.startsWith('kysely_')), [], 'and leaves no table behind')
  t.same(await migrateToLatest(db), Object.keys(migrations).sort(), 'up again')
})

for (const database of testDatabases) {
  t.test(`${database.name}: (from_user, id) is unique; user ids are unique without regard to case`, { skip: database.skip }, async (t) => {
    const db = await database.open(t)
    const row = { id: 'm1', from_user: 'alice', to_user: 'bob', message_type: 'direct', envelope: '{}', status: 'pending' as const, created_at: 'now', delivered_at: null, receipt_sent_at: null }
    await db.insertInto('messages').values(row).execute()
    const err = await db.insertInto('messages').values(row).execute().then(() => undefined, (e: unknown) => e)
    t.ok(isUniqueViolation(err), 'a second (alice, m1) is a unique violation')
    await db.insertInto('messages').values({ ...row, from_user: 'carol' }).execute()
    t.pass('the same id from another sender is fine')

    const user = { user_id: 'Alice', username: 'a', public_key: 'k', x25519_public_key: 'x', x25519_key_signature: null, created_at: 'now', updated_at: 'now' }
    await db.insertInto('users').values(user).execute()
    const clash = await db.insertInto('users').values({ ...user, user_id: 'alice' }).execute().then(() => undefined, (e: unknown) => e)
    t.ok(isUniqueViolation(clash), '"alice" cannot join "Alice"')
    const row2 = await sql<{ n: number }>`select count(*) as n from users`.execute(db)
    t.equal(Number(row2.rows[0]?.n), 1)
  })
}

t.test('WAL mode and full synchronous writes by default', async (t) => {
  const sqlite = openSqlite({ path: join(tempDir(t), 'wal.db') })
  t.equal(sqlite.pragma('journal_mode', { simple: true }), 'wal')
  t.equal(sqlite.pragma('synchronous', { simple: true }), 2)
  sqlite.close()
})

t.test(':memory: works', async (t) => {
  const db = createDatabase({ path: ':memory:' })
  await migrateToLatest(db)
  await db.insertInto('users').values({ user_id: 'alice', username: 'a', public_key: 'k', x25519_public_key: 'x', x25519_key_signature: null, created_at: 'now', updated_at: 'now' }).execute()
  t.equal((await db.selectFrom('users').selectAll().execute()).length, 1)
  await db.destroy()
})
