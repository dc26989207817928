import t, { type Test } from 'tap'
import type { ConfigOverrides } from '../../services/config.js'
import { testDeployments } from '../databases.js'
import { registerAndLogin } from '../helper.js'
import { ackMarker, direct, hubFixture, idOf } from '../ws-client.js'

// Acks name the sender (issue 14, §4): with body.from an ack marks exactly (from, id); the old ack by id alone
// still works unless the id names pending messages of several senders, when nothing is marked.

for (const deployment of testDeployments) {
  t.test(deployment.name, { skip: deployment.skip }, async (t) => {
    const setup = async (t: Test, config: ConfigOverrides = {}) => await hubFixture(t, { ...await deployment.config(t), ...config })

    t.test('alice\'s and mallory\'s messages with the same id: acks by sender, ambiguous id alone refused', async (t) => {
      const { app, alice, bob, connect } = await setup(t)
      const mallory = await registerAndLogin(app, 'mallory')
      const a = await connect(alice)
      const m = await connect(mallory)
      const b = await connect(bob)
      const fromAlice = direct(alice.id, 'bob')
      // mallory copies the id of alice's message, hoping bob's ack for it marks hers delivered too
      const fromMallory = direct(mallory.id, 'bob', { id: idOf(fromAlice) })
      a.send(fromAlice)
      await a.receipt(idOf(fromAlice), 'accepted')
      m.send(fromMallory)
      await m.receipt(idOf(fromMallory), 'accepted')
      await b.next((f) => f.header.id === idOf(fromAlice) && f.header.from === 'alice')
      await b.next((f) => f.header.id === idOf(fromAlice) && f.header.from === 'mallory')
      const statuses = async () => (await app.db.selectFrom('messages').select(['from_user', 'status']).where('id', '=', idOf(fromAlice)).orderBy('from_user').execute())
        .map((r) => `${r.from_user}:${r.status}`)

      b.ack(idOf(fromAlice))
      const err = await b.error(idOf(fromAlice))
      t.equal(err.body.code, 'ambiguous_ack')
      t.equal(err.body.message, 'several messages have this id: name their sender in body.from')
      t.same(await statuses(), ['alice:pending', 'mallory:pending'], 'nothing marked')
      t.ok(await a.noneBefore((f) => f.header.in_reply_to === idOf(fromAlice), await ackMarker(a, alice.id, b, 'bob')), 'and nobody told delivered')
      t.ok(await m.noneSoFar((f) => f.header.in_reply_to === idOf(fromAlice)))

      b.send({ header: { message_type: 'ack', in_reply_to: idOf(fromAlice) }, body: { from: 'mallory' } })
      await m.receipt(idOf(fromMallory), 'delivered')
      t.ok(await a.noneBefore((f) => f.header.in_reply_to === idOf(fromAlice), await ackMarker(a, alice.id, b, 'bob')), 'alice\'s message is not marked by an ack of mallory\'s')
      t.same(await statuses(), ['alice:pending', 'mallory:delivered'])

      b.ack(idOf(fromAlice))
      await a.receipt(idOf(fromAlice), 'delivered')
      t.same(await statuses(), ['alice:delivered', 'mallory:delivered'], 'once one sender is left, the id alone names its message again')
    })

    t.test('acks with body.from: a wrong sender marks nothing; malformed bodies are refused', async (t) => {
      const { app, alice, bob, connect } = await setup(t)
      const a = await connect(alice)
      const b = await connect(bob)
      const msg = direct(alice.id, 'bob')
      a.send(msg)
      await a.receipt(idOf(msg), 'accepted')
      await b.envelope(idOf(msg))
      b.send({ header: { message_type: 'ack', in_reply_to: idOf(msg) }, body: { from: 'carol' } })
      for (const body of [{ from: 42 }, { from: 'no way' }, 'alice']) {
        b.send({ header: { message_type: 'ack', in_reply_to: idOf(msg) }, body })
        t.equal((await b.error()).body.code, 'invalid_frame', `body ${JSON.stringify(body)}: invalid_frame`)
      }
      t.ok(await a.noneBefore((f) => f.header.in_reply_to === idOf(msg), await ackMarker(a, alice.id, b, 'bob')), 'an ack naming another sender marks nothing')
      t.equal((await app.db.selectFrom('messages').select('status').where('id', '=', idOf(msg)).executeTakeFirstOrThrow()).status, 'pending')
      b.send({ header: { message_type: 'ack', in_reply_to: idOf(msg) }, body: { from: 'alice', note: 'extra fields are fine' } })
      await a.receipt(idOf(msg), 'delivered')
      b.send({ header: { message_type: 'ack', in_reply_to: idOf(msg) }, body: { from: 'alice' } })
      await a.next(await ackMarker(a, alice.id, b, 'bob'))
      t.ok(await b.noneSoFar((f) => f.header.message_type === 'error'), 'acking twice is not an error')
    })

    t.test('a v1 client (no epoch, acks by id alone) registers, logs in, sends and receives', async (t) => {
      // hubFixture registers alice and bob exactly as the seed's clients do: the v1 binding, no epoch fields
      const { app, alice, bob, connect } = await setup(t)
      const user = await app.inject({ url: '/auth/users/bob', headers: { authorization: `Bearer ${alice.token}` } })
      t.match(user.json(), { x25519_key_signature: bob.id.x25519_key_signature, x25519_key_epoch: 0, x25519_key_expires_at: null })
      const a = await connect(alice)
      const b = await connect(bob)
      const there = direct(alice.id, 'bob')
      a.send(there)
      await a.receipt(idOf(there), 'accepted')
      await b.envelope(idOf(there))
      b.ack(idOf(there))
      await a.receipt(idOf(there), 'delivered')
      const back = direct(bob.id, 'alice')
      b.send(back)
      await b.receipt(idOf(back), 'accepted')
      await a.envelope(idOf(back))
      a.ack(idOf(back))
      await b.receipt(idOf(back), 'delivered')
      await a.next(await ackMarker(a, alice.id, b, 'bob'))
      await b.next(await ackMarker(b, bob.id, a, 'alice'))
      t.ok(await a.noneSoFar((f) => f.header.message_type === 'error'), 'no refusals')
      t.ok(await b.noneSoFar((f) => f.header.message_type === 'error'))
    })
  })
}
