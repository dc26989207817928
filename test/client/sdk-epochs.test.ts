// The SDK's default path against the real server: keys registered and rotated with epochs, refusals that come
// back as `rejected` receipts.
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { createNodeClient, generateIdentity, MemoryStore, RejectedError, type DirectMessage, type Identity, type SealwireClient } from '../../client/node.js'
import { build, tempDir } from '../helper.js'

async function server (t: Test): Promise<{ app: FastifyInstance, url: string }> {
  const app = await build(t, { config: { DB_PATH: join(tempDir(t), 'sdk.db'), MESSAGE_RATE_LIMIT: 1000, MESSAGE_BURST_LIMIT: 1000 } })
  return { app, url: await app.listen({ port: 0, host: '127.0.0.1' }) }
}

function client (t: Test, url: string, identity: Identity, store = new MemoryStore()): SealwireClient {
  const c = createNodeClient({ serverUrl: url, identity, store, reconnectDelayMs: { min: 50, max: 200 } })
  // the identity is "saved" in memory: enough for rotation within one process
  c.on('identity-changed', () => {})
  t.teardown(() => c.close())
  return c
}

t.test('keys registered and rotated with epochs; the peer follows them and refuses a rollback in the database', async (t) => {
  const { app, url } = await server(t)
  const aliceStore = new MemoryStore()
  const alice = client(t, url, generateIdentity('alice'), aliceStore)
  const bobIdentity = generateIdentity('bob')
  const bob = client(t, url, bobIdentity)
  t.match(await alice.register(), { x25519_key_epoch: 1 })
  await bob.register()
  await alice.connect()
  const got: DirectMessage[] = []
  bob.on('message', (m) => { got.push(m) })
  await bob.connect()
  await (await alice.sendDirect('bob', 'at epoch 1')).delivered
  t.equal((await alice.trust('bob'))?.epoch, 1)

  const epochOne = await app.db.selectFrom('users').selectAll().where('user_id', '=', 'bob').executeTakeFirstOrThrow()
  await bob.rotateEncryptionKey()
  t.equal(bob.identity.encryptionKeyEpoch, 2)
  const again = client(t, url, alice.identity, aliceStore)
  await again.connect()
  await (await again.sendDirect('bob', 'at epoch 2')).delivered
  t.equal((await again.trust('bob'))?.epoch, 2)
  t.same(got.map((m) => m.text), ['at epoch 1', 'at epoch 2'])

  // whoever runs the database puts bob's epoch-1 key back, with its valid binding
  await app.db.updateTable('users').set(epochOne).where('user_id', '=', 'bob').execute()
  const third = client(t, url, alice.identity, aliceStore)
  await third.connect()
  await t.rejects(third.sendDirect('bob', 'to the old key'), { code: 'key_rollback' })
})

t.test('a message its recipient refuses comes back as a rejected receipt, and is never delivered', async (t) => {
  const { app, url } = await server(t)
  const alice = client(t, url, generateIdentity('alice'))
  const bob = client(t, url, generateIdentity('bob'))
  await alice.register()
  await bob.register()
  await alice.connect()
  const sent = await alice.sendDirect('bob', 'altered on the way')
  const row = await app.db.selectFrom('messages').select('envelope').where('id', '=', sent.id).executeTakeFirstOrThrow()
  const envelope = JSON.parse(row.envelope) as { header: Record<string, unknown> }
  envelope.header.timestamp = new Date(Date.parse(String(envelope.header.timestamp)) - 1000).toISOString()
  await app.db.updateTable('messages').set({ envelope: JSON.stringify(envelope) }).where('id', '=', sent.id).execute()
  const receipts: RejectedError[] = []
  alice.on('rejected-receipt', (e) => { receipts.push(e) })
  await bob.connect()
  const err = await sent.delivered.then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof RejectedError)
  t.match(err, { reason: 'bad_signature', recipient: 'bob' })
  t.equal(receipts.length, 1)
  const stored = await app.db.selectFrom('messages').selectAll().where('id', '=', sent.id).executeTakeFirstOrThrow()
  t.match(stored, { status: 'rejected', rejected_reason: 'bad_signature' })
})
