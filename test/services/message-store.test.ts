import t from 'tap'
import { createPostgresDatabase, migrateToLatest } from '../../services/database.js'
import { MessageStore, type MessageToStore } from '../../services/message-store.js'
import { postgresDatabaseUrl, testDatabases } from '../databases.js'

const row = (from: string, to: string, id: string): MessageToStore => ({
  id, from_user: from, to_user: to, message_type: 'direct', envelope: '{}', status: 'pending', created_at: new Date().toISOString()
})

for (const database of testDatabases) {
  t.test(`${database.name}: group commit, one transaction per turn, duplicates inside and across batches`, { skip: database.skip }, async (t) => {
    const db = await database.open(t)
    const store = new MessageStore(db)
    const before = store.commits
    const results = await Promise.all([
      store.store(row('alice', 'bob', 'm1')),
      store.store(row('alice', 'bob', 'm2')),
      store.store(row('alice', 'bob', 'm1')),
      store.store(row('carol', 'bob', 'm1'))
    ])
    t.equal(store.commits - before, 1, 'four writes, one commit')
    t.match(results, [{ status: 'accepted' }, { status: 'accepted' }, { status: 'duplicate', delivered: false }, { status: 'accepted' }])
    const seqs = results.flatMap((r) => r.status === 'accepted' ? [r.seq] : [])
    t.ok(seqs.every((s) => typeof s === 'number'), 'seq is a number on every dialect')
    t.same(seqs, [...seqs].sort((a, b) => a - b), 'seq follows arrival')
    t.same(await store.store(row('alice', 'bob', 'm2')), { status: 'duplicate', delivered: false }, 'a later resend too')

    const acks = await Promise.all([
      store.ack('bob', 'm1'), store.ack('bob', 'm1', 'alice'), store.ack('bob', 'm1', 'alice'), store.ack('bob', 'm2'), store.ack('mallory', 'm2')
    ])
    t.equal(acks[0], 'ambiguous', 'an ack by id alone that names pending messages of two senders marks nothing')
    t.match(acks[1], [{ from_user: 'alice', id: 'm1', created_at: String }], 'an ack naming the sender marks exactly that message')
    t.equal((acks[1] as unknown[]).length, 1)
    t.same(acks[2], [], 'the second ack of the same message changes nothing')
    t.match(acks[3], [{ from_user: 'alice', id: 'm2', created_at: String }], 'an id alone that names one pending message still works')
    t.equal((acks[3] as unknown[]).length, 1)
    t.same(acks[4], [], 'an ack touches only the acknowledging user\'s own queue')
    t.match(await store.ack('bob', 'm1'), [{ from_user: 'carol', id: 'm1' }], 'once alice\'s m1 is delivered, the id alone names carol\'s')
    t.same(await store.receiptsOwed('alice', 10), [{ from_user: 'alice', id: 'm1' }, { from_user: 'alice', id: 'm2' }])
    store.receiptSent('alice', 'm1')
    await store.flush()
    t.same(await store.receiptsOwed('alice', 10), [{ from_user: 'alice', id: 'm2' }])
    t.same((await store.pendingFor('bob', 0, 10)).length, 0)
    t.equal(await store.pendingCount('bob'), 0)
    const resent = await Promise.all([store.store(row('alice', 'bob', 'm2')), store.store(row('alice', 'bob', 'm9')), store.store(row('alice', 'bob', 'm9'))])
    t.same(resent[0], { status: 'duplicate', delivered: true }, 'a resend of a delivered message says it was delivered')
    t.match(resent[1], { status: 'accepted', seq: Number })
    t.same(resent[2], { status: 'duplicate', delivered: false }, 'a second copy in the same batch was not')
  })

  t.test(`${database.name}: a reject marks exactly (sender, id) to the refusing user rejected, and its receipt is owed`, { skip: database.skip }, async (t) => {
    const db = await database.open(t)
    const store = new MessageStore(db)
    await Promise.all([store.store(row('alice', 'bob', 'm1')), store.store(row('mallory', 'bob', 'm1')), store.store(row('alice', 'bob', 'm2')), store.store(row('alice', 'carol', 'm3'))])
    const reject = (toUser: string, fromUser: string, id: string) => ({ toUser, fromUser, id, reason: 'decrypt_failed', rejection: `{"id":"${id}"}` })
    const out = await Promise.all([
      store.reject(reject('bob', 'alice', 'm1')),
      store.reject(reject('bob', 'alice', 'm1')),
      store.reject(reject('mallory', 'alice', 'm3')),
      store.reject(reject('bob', 'alice', 'm9'))
    ])
    t.match(out[0], { from_user: 'alice', id: 'm1', created_at: String })
    t.equal(out[1], undefined, 'a second reject of the same message finds nothing pending')
    t.equal(out[2], undefined, 'only the recipient can reject')
    t.equal(out[3], undefined, 'nor an unknown id')
    const rows = await db.selectFrom('messages').select(['from_user', 'id', 'status', 'rejected_reason', 'rejection']).orderBy('seq').execute()
    t.same(rows.map((r) => [r.from_user, r.id, r.status, r.rejected_reason]), [
      ['alice', 'm1', 'rejected', 'decrypt_failed'], ['mallory', 'm1', 'pending', null], ['alice', 'm2', 'pending', null], ['alice', 'm3', 'pending', null]
    ], 'mallory\'s message with the same id is untouched')
    t.same(await store.ack('bob', 'm1', 'alice'), [], 'a rejected message is never delivered')
    t.match(await store.ack('bob', 'm1'), [{ from_user: 'mallory' }], 'and no longer makes the id ambiguous')

    // an ack and a reject of the same message in one batch: the ack comes first, the reject finds it gone
    const [acked, late] = await Promise.all([store.ack('bob', 'm2', 'alice'), store.reject(reject('bob', 'alice', 'm2'))])
    t.match(acked, [{ id: 'm2' }])
    t.equal(late, undefined)
    t.same(await store.receiptsOwed('alice', 10), [{ from_user: 'alice', id: 'm1', rejection: '{"id":"m1"}' }, { from_user: 'alice', id: 'm2' }],
      'the rejected receipt is owed with the signed reject, in order with the delivered ones')
    store.receiptSent('alice', 'm1')
    await store.flush()
    t.same(await store.receiptsOwed('alice', 10), [{ from_user: 'alice', id: 'm2' }])
  })

  t.test(`${database.name}: a failed commit rejects every write of its batch and the next batch works`, { skip: database.skip }, async (t) => {
    const db = await database.open(t)
    const store = new MessageStore(db)
    const bad = { ...row('alice', 'bob', 'x'), envelope: null as unknown as string }
    const settled = await Promise.allSettled([store.store(row('alice', 'bob', 'ok')), store.store(bad)])
    t.same(settled.map((s) => s.status), ['rejected', 'rejected'], 'all or nothing')
    t.same((await db.selectFrom('messages').select('id').execute()).length, 0)
    t.match(await store.store(row('alice', 'bob', 'ok')), { status: 'accepted' })
  })
}

t.test('postgres: two nodes storing the same ids at once, in opposite orders: each (from, id) is accepted exactly once', { skip: testDatabases[1]?.skip }, async (t) => {
  const url = await postgresDatabaseUrl(t)
  const nodes = [createPostgresDatabase({ url, poolSize: 4 }), createPostgresDatabase({ url, poolSize: 4 })] as const
  t.teardown(async () => { await Promise.all(nodes.map(async (db) => { await db.destroy() })) })
  // both nodes migrate at once, as nodes started together do: the migrator's lock lets one of them do it
  const applied = await Promise.all(nodes.map(async (db) => await migrateToLatest(db)))
  t.ok(applied.some((a) => a.length > 0) && applied.some((a) => a.length === 0), 'one node applies the migrations, the other finds them done')

  const stores = nodes.map((db) => new MessageStore(db))
  const ids = Array.from({ length: 300 }, (_, i) => `m${i}`)
  const results: Array<{ id: string, status: string }> = []
  // batches of 20 per turn; node B takes each batch in the reverse order, which makes PostgreSQL find
  // deadlocks between the two transactions: the loser is run again and must not lose or double anything
  for (let i = 0; i < ids.length; i += 20) {
    const batch = ids.slice(i, i + 20)
    const a = batch.map(async (id) => ({ id, status: (await stores[0]!.store(row('alice', 'bob', id))).status }))
    const b = [...batch].reverse().map(async (id) => ({ id, status: (await stores[1]!.store(row('alice', 'bob', id))).status }))
    results.push(...await Promise.all([...a, ...b]))
  }
  const accepted = results.filter((x) => x.status === 'accepted').map((x) => x.id).sort()
  t.same(accepted, [...ids].sort(), 'every id accepted once, by one node or the other')
  t.equal(results.filter((x) => x.status === 'duplicate').length, ids.length, 'the other copy is a duplicate')
  const stored = await nodes[0].selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  t.equal(stored.n, ids.length, 'one row each')
  t.equal(stores[0]!.commits, ids.length / 20, 'one commit per batch on each node')
})
