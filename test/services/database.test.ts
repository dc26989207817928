import { join } from 'node:path'
import t from 'tap'
import { migrations } from '../../migrations/index.js'
import { createDatabase, migrateToLatest, openSqlite } from '../../services/database.js'
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

t.test('(from_user, id) is unique', async (t) => {
  const db = createDatabase({ path: ':memory:' })
  await migrateToLatest(db)
  const row = { id: 'm1', from_user: 'alice', to_user: 'bob', message_type: 'direct', envelope: '{}', status: 'pending' as const, created_at: 'now', delivered_at: null, receipt_sent_at: null }
  await db.insertInto('messages').values(row).execute()
  await t.rejects(db.insertInto('messages').values(row).execute(), { code: 'SQLITE_CONSTRAINT_UNIQUE' })
  await db.insertInto('messages').values({ ...row, from_user: 'carol' }).execute()
  t.pass('the same id from another sender is fine')
  await db.destroy()
})
