import { join } from 'node:path'
import t from 'tap'
import { createDatabase, migrateToLatest } from '../../services/database.js'
import { MessageStore, type MessageToStore } from '../../services/message-store.js'
import { tempDir } from '../helper.js'

const row = (from: string, to: string, id: string): MessageToStore => ({
  id, from_user: from, to_user: to, message_type: 'direct', envelope: '{}', status: 'pending', created_at: new Date().toISOString()
})

t.test('group commit: one transaction per turn, duplicates inside and across batches', async (t) => {
  const db = createDatabase({ path: join(tempDir(t), 'store.db') })
  await migrateToLatest(db)
  t.teardown(() => db.destroy())
  const store = new MessageStore(db)
  const before = store.commits
  const results = await Promise.all([
    store.store(row('alice', 'bob', 'm1')),
    store.store(row('alice', 'bob', 'm2')),
    store.store(row('alice', 'bob', 'm1')),
    store.store(row('carol', 'bob', 'm1'))
  ])
  t.equal(store.commits - before, 1, 'four writes, one commit')
  t.match(results, [{ status: 'accepted' }, { status: 'accepted' }, { status: 'duplicate' }, { status: 'accepted' }])
  const seqs = results.flatMap((r) => r.status === 'accepted' ? [r.seq] : [])
  t.same(seqs, [...seqs].sort((a, b) => a - b), 'seq follows arrival')
  t.same(await store.store(row('alice', 'bob', 'm2')), { status: 'duplicate' }, 'a later resend too')

  const acks = await Promise.all([store.ack('bob', 'm1'), store.ack('bob', 'm1'), store.ack('bob', 'm2'), store.ack('mallory', 'm2')])
  t.same(acks[0]?.map((a) => a.from_user).sort(), ['alice', 'carol'], 'an ack marks every pending message to its sender with that id')
  t.same(acks[1], [], 'the second ack of the same message changes nothing')
  t.match(acks[2], [{ from_user: 'alice', id: 'm2', created_at: String }])
  t.equal(acks[2]?.length, 1)
  t.same(acks[3], [], 'an ack touches only the acknowledging user\'s own queue')
  t.same(await store.receiptsOwed('alice', 10), [{ from_user: 'alice', id: 'm1' }, { from_user: 'alice', id: 'm2' }])
  store.receiptSent('alice', 'm1')
  await store.flush()
  t.same(await store.receiptsOwed('alice', 10), [{ from_user: 'alice', id: 'm2' }])
  t.same((await store.pendingFor('bob', 0, 10)).length, 0)
})

t.test('a failed commit rejects every write of its batch and the next batch works', async (t) => {
  const db = createDatabase({ path: join(tempDir(t), 'fail.db') })
  await migrateToLatest(db)
  t.teardown(() => db.destroy())
  const store = new MessageStore(db)
  const bad = { ...row('alice', 'bob', 'x'), envelope: null as unknown as string }
  const settled = await Promise.allSettled([store.store(row('alice', 'bob', 'ok')), store.store(bad)])
  t.same(settled.map((s) => s.status), ['rejected', 'rejected'], 'all or nothing')
  t.same((await db.selectFrom('messages').select('id').execute()).length, 0)
  t.match(await store.store(row('alice', 'bob', 'ok')), { status: 'accepted' })
})
