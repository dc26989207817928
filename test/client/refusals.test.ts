// Refusals that reach the sender, against a scripted server: a message that fails a check is answered with a
// signed reject (never an ack), and a `rejected` receipt counts only when the recipient's signature verifies.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { createNodeClient, generateIdentity, MemoryStore, publicKeys, RejectedError, type SealwireError } from '../../client/node.js'
import { signEnvelope } from '../../client/identity.js'
import { fromBase64, utf8Encode } from '../../services/protocol/base64.js'
import { Ed25519Verifier } from '../../services/ed25519.js'
import { verifyStrict } from '../../services/protocol/signature.js'
import { messageSigningInput } from '../../services/protocol/signing.js'
import { direct, fakeServer, newX25519Secret, receipt, userRecord, type Frame } from './hostile-server.js'

t.test('a message that fails to decrypt or verify gets a correctly signed reject, never an ack', async (t) => {
  const fake = await fakeServer(t)
  const alice = generateIdentity('alice')
  const bob = generateIdentity('bob')
  fake.users.set('bob', userRecord(bob, { secretKey: newX25519Secret(), epoch: 1 }))
  const c = createNodeClient({ serverUrl: fake.url, identity: alice, store: new MemoryStore(), reconnect: false })
  t.teardown(() => c.close())
  const shown: string[] = []
  c.on('message', (m) => { shown.push(m.text) })
  await c.connect()

  const wrongKey = direct(bob, 'alice', x25519Public(newX25519Secret()), 'sealed to a key alice never had')
  const forged = direct(bob, 'alice', fromBase64(publicKeys(alice).x25519_public_key, 32) as Uint8Array, 'altered')
  ;(forged.body as Record<string, unknown>).content = direct(bob, 'alice', fromBase64(publicKeys(alice).x25519_public_key, 32) as Uint8Array, 'other').body?.content
  const good = direct(bob, 'alice', fromBase64(publicKeys(alice).x25519_public_key, 32) as Uint8Array, 'fine')
  for (const frame of [wrongKey, forged, good]) await fake.push('alice', frame)
  await fake.nextFrame((f) => f.frame.header.in_reply_to === good.header.id)

  const aliceKey = fromBase64(publicKeys(alice).public_key, 32) as Uint8Array
  for (const [frame, reason] of [[wrongKey, 'decrypt_failed'], [forged, 'bad_signature']] as Array<[Frame, string]>) {
    const answers = fake.frames.filter((f) => f.frame.header.in_reply_to === frame.header.id || f.frame.header.id === frame.header.id)
    t.equal(answers.length, 1, `${reason}: one answer, no ack`)
    const reject = answers[0]?.frame as { header: Record<string, unknown>, body: Record<string, unknown> }
    t.match(reject, { header: { message_type: 'reject', id: frame.header.id, from: 'alice', to: 'bob' }, body: { reason } })
    t.ok(Math.abs(Date.parse(String(reject.header.timestamp)) - Date.now()) < 60_000)
    t.ok(verifyStrict(aliceKey, utf8Encode(messageSigningInput(reject.header, reject.body)), fromBase64(String(reject.header.signature), 64) as Uint8Array),
      `${reason}: signed by alice over sealwire/v1/message: + JCS({header, body})`)
    t.ok(new Ed25519Verifier().verify(publicKeys(alice).public_key, messageSigningInput(reject.header, reject.body), String(reject.header.signature)),
      `${reason}: and the server's own verifier (OpenSSL) agrees`)
  }
  t.same(shown, ['fine'])
})

t.test('a rejected receipt with a valid rejection rejects `delivered`; a forged one is ignored', async (t) => {
  const fake = await fakeServer(t)
  const alice = generateIdentity('alice')
  const bob = generateIdentity('bob')
  fake.users.set('bob', userRecord(bob, { secretKey: newX25519Secret(), epoch: 1 }))
  const c = createNodeClient({ serverUrl: fake.url, identity: alice, store: new MemoryStore(), reconnect: false })
  t.teardown(() => c.close())
  const events: RejectedError[] = []
  const errors: SealwireError[] = []
  c.on('rejected-receipt', (e) => { events.push(e) })
  c.on('error', (e) => { errors.push(e) })
  await c.connect()
  const rejection = (signer: typeof bob, id: string, reason = 'decrypt_failed'): unknown =>
    signEnvelope(signer, { message_type: 'reject', id, from: 'bob', to: 'alice', timestamp: new Date().toISOString() }, { reason })
  const rejected = (id: string, body: unknown, reason = 'decrypt_failed'): Frame => receipt('alice', id, { status: 'rejected', reason, rejection: body })

  const refused = await c.sendDirect('bob', 'you cannot read this')
  await fake.push('alice', rejected(refused.id, rejection(bob, refused.id)))
  const err = await refused.delivered.then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof RejectedError)
  t.match(err, { code: 'rejected', reason: 'decrypt_failed', recipient: 'bob', messageId: refused.id })
  t.equal(events.length, 1, 'rejected-receipt emitted')

  const kept = await c.sendDirect('bob', 'delivered in the end')
  const forgeries: Array<[string, unknown, string?]> = [
    ['signed by another key', rejection(generateIdentity('bob'), kept.id)],
    ['for another message', rejection(bob, randomUUID())],
    ['with another reason than the receipt says', rejection(bob, kept.id, 'stale')],
    ['altered after signing', { ...(rejection(bob, kept.id) as { header: object }), body: { reason: 'bad_signature' } }, 'bad_signature'],
    ['not a reject frame', { hello: 'world' }]
  ]
  for (const [, body, reason] of forgeries) await fake.push('alice', rejected(kept.id, body, reason))
  await fake.push('alice', receipt('alice', kept.id, { status: 'delivered' }))
  await kept.delivered
  t.pass('every forged rejection was ignored: the message stayed pending and was delivered')
  t.equal(errors.filter((e) => e.code === 'invalid_rejection').length, forgeries.length)
  t.equal(events.length, 1)
})

function x25519Public (secret: Uint8Array): Uint8Array {
  return fromBase64(userRecord(generateIdentity('zed'), { secretKey: secret, epoch: 0 }).x25519_public_key, 32) as Uint8Array
}
