// A reject on one node, the sender on another: the rejected receipt crosses nodes as delivered receipts do.
import { ed25519 } from '@noble/curves/ed25519.js'
import t from 'tap'
import { Compile } from 'typebox/compile'
import { ReceiptFrame, type SignedReject } from '../../schemas/frames.js'
import { messageSigningInput } from '../../services/protocol/signing.js'
import { NEEDS_CLUSTER } from '../databases.js'
import { registerAndLogin } from '../helper.js'
import { direct, idOf, sign, type Frame } from '../ws-client.js'
import { cluster, until } from './nodes.js'

const receiptSchema = Compile(ReceiptFrame)

t.test('a reject on B reaches the sender on A live, and on C at its next connection', { skip: NEEDS_CLUSTER }, async (t) => {
  const c = await cluster(t)
  const [a, b, cc] = [await c.start('A'), await c.start('B'), await c.start('C')]
  const alice = await registerAndLogin(a.app, 'alice')
  const bob = await registerAndLogin(a.app, 'bob')
  const onA = await a.connect(alice)
  const onB = await b.connect(bob)
  const rejectOf = (msg: Frame, reason: string): Frame =>
    sign(bob.id, { id: idOf(msg), from: 'bob', to: 'alice', message_type: 'reject', timestamp: new Date().toISOString() }, { reason })

  const live = direct(alice.id, 'bob')
  onA.send(live)
  await onB.envelope(idOf(live))
  const refusal = rejectOf(live, 'decrypt_failed')
  onB.send(refusal)
  const receipt = await onA.receipt(idOf(live), 'rejected')
  t.ok(receiptSchema.Check(receipt))
  t.equal(receipt.body.reason, 'decrypt_failed')
  t.same(receipt.body.rejection, { header: refusal.header, body: refusal.body }, 'the reject crosses nodes exactly as signed')
  const rejection = receipt.body.rejection as SignedReject
  t.ok(ed25519.verify(Buffer.from(rejection.header.signature, 'base64'),
    new TextEncoder().encode(messageSigningInput(rejection.header, rejection.body)), Buffer.from(bob.id.public_key, 'base64')))
  await until(async () => (await a.app.db.selectFrom('messages').select('receipt_sent_at').where('id', '=', idOf(live)).executeTakeFirstOrThrow()).receipt_sent_at !== null,
    2000, 'the node that told the sender notes the receipt as sent')

  // alice away: the receipt waits in the database and C sends it when she connects there
  const later = direct(alice.id, 'bob')
  onA.send(later)
  await onB.envelope(idOf(later))
  await onA.close()
  onB.send(rejectOf(later, 'key_changed'))
  await until(async () => (await b.app.db.selectFrom('messages').select('status').where('id', '=', idOf(later)).executeTakeFirstOrThrow()).status === 'rejected',
    2000, 'the reject is stored')
  const onC = await cc.connect(alice)
  const owed = await onC.receipt(idOf(later), 'rejected')
  t.equal(owed.body.reason, 'key_changed')
  // owed receipts are sent in one pass: one still owed for live would be here by the pong
  t.ok(await onC.noneSoFar((f) => f.header.in_reply_to === idOf(live)), 'the receipt told live is not sent again')
})
