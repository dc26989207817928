import { ed25519 } from '@noble/curves/ed25519.js'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { Compile } from 'typebox/compile'
import { ErrorFrame, ReceiptFrame, type SignedReject } from '../../schemas/frames.js'
import type { ConfigOverrides } from '../../services/config.js'
import { messageSigningInput } from '../../services/protocol/signing.js'
import { testDeployments } from '../databases.js'
import { registerAndLogin, type Identity } from '../helper.js'
import { until } from '../until.js'
import { ackMarker, direct, hubFixture, idOf, sign, type Frame, type TestClient } from '../ws-client.js'

// Refusals that reach the sender (issue 14, §3): a recipient answers a message it cannot use with a signed
// reject; the server marks the message rejected and the sender gets a `rejected` receipt carrying the reject.

const receiptSchema = Compile(ReceiptFrame)
const errorSchema = Compile(ErrorFrame)

interface RejectOptions { reason?: string, signer?: Identity, header?: Record<string, unknown> }

/** The reject `by` signs for a message it received. */
function reject (by: Identity, msg: Frame, o: RejectOptions = {}): Frame {
  const header = { id: idOf(msg), from: by.user_id, to: msg.header.from, message_type: 'reject', timestamp: new Date().toISOString(), ...o.header }
  return sign(o.signer ?? by, header, { reason: o.reason ?? 'decrypt_failed' })
}

/** What the SDK does with a rejection: verify it with the recipient's identity key. */
function verifies (rejection: SignedReject, publicKey: string): boolean {
  const input = new TextEncoder().encode(messageSigningInput(rejection.header, rejection.body))
  return ed25519.verify(Buffer.from(rejection.header.signature, 'base64'), input, Buffer.from(publicKey, 'base64'))
}

async function status (app: FastifyInstance, id: string): Promise<string> {
  await app.messages.flush()
  return (await app.db.selectFrom('messages').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status
}

/**
 * Reconnects alice once a `delivered` receipt is owed to her for a fresh marker: owed receipts are sent in one
 * pass, so when the marker's has come, any other receipt still owed to her has come too.
 */
async function reconnectWithOwedMarker (
  app: FastifyInstance, connect: (who: { token: string }) => Promise<TestClient>, alice: { id: Identity, token: string },
  a: TestClient, b: TestClient
): Promise<TestClient> {
  const marker = direct(alice.id, 'bob')
  a.send(marker)
  await b.envelope(idOf(marker))
  await a.close()
  await until(() => app.hub.connectionCount('alice') === 0, 'alice is away')
  b.send({ header: { message_type: 'ack', in_reply_to: idOf(marker) }, body: { from: 'alice' } })
  await until(async () => await status(app, idOf(marker)) === 'delivered', 'the marker\'s ack is stored')
  const again = await connect(alice)
  await again.receipt(idOf(marker), 'delivered')
  return again
}

for (const deployment of testDeployments) {
  t.test(deployment.name, { skip: deployment.skip }, async (t) => {
    const setup = async (t: Test, config: ConfigOverrides = {}) => await hubFixture(t, { ...await deployment.config(t), ...config })

    t.test('a reject: the message is marked rejected, the sender told live with the signed reject, never delivered', async (t) => {
      const { app, alice, bob, connect } = await setup(t)
      const a = await connect(alice)
      const b = await connect(bob)
      const msg = direct(alice.id, 'bob')
      a.send(msg)
      await a.receipt(idOf(msg), 'accepted')
      await b.envelope(idOf(msg))
      const refusal = reject(bob.id, msg, { reason: 'key_rollback' })
      b.send(refusal)
      const receipt = await a.receipt(idOf(msg), 'rejected')
      t.ok(receiptSchema.Check(receipt), 'the receipt has the schema of a receipt')
      t.match(receipt.header, { from: 'server', to: 'alice', message_type: 'receipt', in_reply_to: idOf(msg) })
      t.equal(receipt.body.reason, 'key_rollback')
      const rejection = receipt.body.rejection as SignedReject
      t.same(rejection, { header: refusal.header, body: refusal.body }, 'the reject exactly as bob signed it')
      t.ok(verifies(rejection, bob.id.public_key), 'and it verifies with bob\'s identity key')
      t.notOk(verifies(rejection, alice.id.public_key))

      await app.messages.flush()
      const row = await app.db.selectFrom('messages').selectAll().where('id', '=', idOf(msg)).executeTakeFirstOrThrow()
      t.match(row, { status: 'rejected', rejected_reason: 'key_rollback', delivered_at: null })
      t.ok(row.receipt_sent_at, 'the receipt is noted as sent')
      await a.next(await ackMarker(a, alice.id, b, 'bob'))
      t.ok(await b.noneSoFar((f) => f.header.in_reply_to === idOf(msg)), 'the refusing client gets nothing back')

      b.ack(idOf(msg))
      t.ok(await a.noneBefore((f) => f.header.in_reply_to === idOf(msg), await ackMarker(a, alice.id, b, 'bob')), 'a later ack does not make it delivered')
      const b2 = await connect(bob)
      // a message sent after b2 connected comes after its queue
      const marker = direct(alice.id, 'bob')
      a.send(marker)
      t.ok(await b2.noneBefore((f) => f.header.id === idOf(msg), (f) => f.header.id === idOf(marker)), 'a rejected message is not sent again')
      const a2 = await reconnectWithOwedMarker(app, connect, alice, a, b2)
      t.ok(await a2.noneSoFar((f) => f.header.in_reply_to === idOf(msg)), 'nor is its receipt')
    })

    t.test('the sender away: the rejected receipt comes at its next connection, once', async (t) => {
      const { app, alice, bob, connect } = await setup(t)
      const a = await connect(alice)
      const msg = direct(alice.id, 'bob')
      a.send(msg)
      await a.receipt(idOf(msg), 'accepted')
      await a.close()
      const b = await connect(bob)
      await b.envelope(idOf(msg))
      const refusal = reject(bob.id, msg, { reason: 'unknown_key' })
      b.send(refusal)
      // a reject is not answered; a message bob sends after it is stored in the same commit or a later one
      const after = direct(bob.id, 'alice')
      b.send(after)
      await b.receipt(idOf(after), 'accepted')
      t.equal((await app.db.selectFrom('messages').select('status').where('id', '=', idOf(msg)).executeTakeFirstOrThrow()).status, 'rejected')
      const a2 = await connect(alice)
      const receipt = await a2.receipt(idOf(msg), 'rejected')
      t.ok(receiptSchema.Check(receipt))
      t.equal(receipt.body.reason, 'unknown_key')
      t.ok(verifies(receipt.body.rejection as SignedReject, bob.id.public_key), 'the stored reject still verifies')
      // owed receipts are sent in one pass: a delivered one for msg would be here by the pong
      t.ok(await a2.noneSoFar((f) => f.header.in_reply_to === idOf(msg) && f.body.status === 'delivered'), 'never delivered')
      await app.messages.flush()
      const a3 = await reconnectWithOwedMarker(app, connect, alice, a2, b)
      t.ok(await a3.noneSoFar((f) => f.header.in_reply_to === idOf(msg)), 'not sent twice')
    })

    t.test('refused rejects: unknown, delivered, twice, forged, spoofed, by a third user, malformed, stale', async (t) => {
      const { app, alice, bob, connect } = await setup(t)
      const carol = await registerAndLogin(app, 'carol')
      const mallory = await registerAndLogin(app, 'mallory')
      const a = await connect(alice)
      const b = await connect(bob)
      const c = await connect(carol)
      const pending = direct(alice.id, 'bob')
      const delivered = direct(alice.id, 'bob')
      for (const m of [pending, delivered]) {
        a.send(m)
        await a.receipt(idOf(m), 'accepted')
      }
      b.ack(idOf(delivered))
      await a.receipt(idOf(delivered), 'delivered')
      const twice = direct(alice.id, 'bob')
      a.send(twice)
      await a.receipt(idOf(twice), 'accepted')
      b.send(reject(bob.id, twice))
      await a.receipt(idOf(twice), 'rejected')

      const never = direct(alice.id, 'bob')
      const cases: Array<[string, TestClient, Frame, string, RegExp]> = [
        ['a message never sent', b, reject(bob.id, never), 'unknown_message', /pending/],
        ['a delivered message', b, reject(bob.id, delivered), 'unknown_message', /pending/],
        ['a message rejected already', b, reject(bob.id, twice), 'unknown_message', /pending/],
        ['signed by someone else', b, reject(bob.id, pending, { signer: mallory.id }), 'bad_signature', /signature/],
        ['from another user', b, reject(alice.id, pending), 'forbidden', /from/],
        ['by a user the message is not for', c, reject(carol.id, pending), 'unknown_message', /pending/],
        ['naming another sender', b, reject(bob.id, pending, { header: { to: 'mallory' } }), 'unknown_message', /pending/],
        ['an unknown reason', b, reject(bob.id, pending, { reason: 'bored' }), 'invalid_frame', /reason/],
        ['a bad message id', b, reject(bob.id, pending, { header: { id: 'NOT-A-UUID' } }), 'invalid_frame', /header.id/],
        ['a stale timestamp', b, reject(bob.id, pending, { header: { timestamp: new Date(Date.now() - 6 * 60_000).toISOString() } }), 'clock_skew', /timestamp/],
        ['unsigned', b, (() => { const f = reject(bob.id, pending); delete f.header.signature; return f })(), 'invalid_frame', /signature/]
      ]
      for (const [name, client, frame, code, message] of cases) {
        client.send(frame)
        const err = await client.error()
        t.ok(errorSchema.Check(err), `${name}: an error frame`)
        t.equal(err.body.code, code, `${name}: ${code}`)
        t.match(err.body.message, message, `${name}: ${String(err.body.message)}`)
        if (/^[0-9a-f-]{36}$/.test(String(frame.header.id))) t.equal(err.header.in_reply_to, frame.header.id, `${name}: in_reply_to`)
      }
      t.ok(await a.noneBefore((f) => f.header.in_reply_to === idOf(pending), await ackMarker(a, alice.id, b, 'bob')), 'alice was told nothing about the pending message')
      const row = await app.db.selectFrom('messages').select('status').where('id', '=', idOf(pending)).executeTakeFirstOrThrow()
      t.equal(row.status, 'pending', 'which is still pending')
      b.ack(idOf(pending))
      await a.receipt(idOf(pending), 'delivered')
    })
  })
}
