import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { createNodeClient, generateIdentity, KeyChangedError, MemoryStore, publicKeys, type DirectMessage, type RejectedMessage, type SealwireClient } from '../../client/node.js'
import { build, tempDir } from '../helper.js'
import { until } from '../until.js'

async function server (t: Test): Promise<{ app: FastifyInstance, url: string }> {
  const app = await build(t, { config: { DB_PATH: join(tempDir(t), 'sdk.db'), MESSAGE_RATE_LIMIT: 1000, MESSAGE_BURST_LIMIT: 1000 } })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url }
}

function client (t: Test, url: string, userId: string, store = new MemoryStore(), identity = generateIdentity(userId)): SealwireClient {
  const c = createNodeClient({ serverUrl: url, identity, store, reconnectDelayMs: { min: 50, max: 200 } })
  t.teardown(() => c.close())
  return c
}

/** alice and bob registered, alice connected. */
async function aliceAndBob (t: Test, url: string): Promise<{ alice: SealwireClient, bob: SealwireClient }> {
  const alice = client(t, url, 'alice')
  const bob = client(t, url, 'bob')
  await alice.register()
  await bob.register()
  await alice.connect()
  return { alice, bob }
}

function collect<T> (c: SealwireClient, event: 'message' | 'rejected'): T[] {
  const items: T[] = []
  c.on(event, (item) => { items.push(item as T) })
  return items
}

t.test('two SDK clients exchange encrypted messages both ways; delivered receipts resolve', async (t) => {
  const { app, url } = await server(t)
  const alice = client(t, url, 'alice')
  const bob = client(t, url, 'bob')
  await alice.register()
  await bob.register()
  const toBob = collect<DirectMessage>(bob, 'message')
  const toAlice = collect<DirectMessage>(alice, 'message')
  await alice.connect()
  await bob.connect()

  const sent = await alice.sendDirect('bob', 'hello bob 👋')
  await sent.delivered
  t.match(toBob, [{ id: sent.id, from: 'alice', to: 'bob', text: 'hello bob 👋' }])
  const reply = await bob.sendDirect('alice', 'hi alice')
  await reply.delivered
  t.match(toAlice, [{ from: 'bob', text: 'hi alice' }])

  const row = await app.db.selectFrom('messages').select('envelope').where('id', '=', sent.id).executeTakeFirstOrThrow()
  t.notMatch(row.envelope, /hello bob/, 'the server stores only ciphertext')
  t.equal(await alice.safetyNumber('bob'), await bob.safetyNumber('alice'), 'safety numbers agree')
  t.match(await alice.safetyNumber('bob'), /^(\d{5} ){11}\d{5}$/)
  t.same((await alice.activeUsers()).sort(), ['alice', 'bob'])
  t.equal(await alice.command('ping'), 'pong')
  t.same(await alice.command('echo', { x: [1, 2] }), { x: [1, 2] })
  await t.rejects(alice.command('nope'), { code: 'unknown_command' })
})

t.test('broadcasts reach the others; offline delivery on connect; the sender reads its history', async (t) => {
  const { url } = await server(t)
  const { alice, bob } = await aliceAndBob(t, url)
  const first = await alice.sendDirect('bob', 'while you were away')
  const second = await alice.sendDirect('bob', 'and another')
  const toBob = collect<DirectMessage>(bob, 'message')
  const broadcasts: string[] = []
  bob.on('broadcast', (b) => { broadcasts.push(b.text) })
  await bob.connect()
  await Promise.all([first.delivered, second.delivered])
  t.same(toBob.map((m) => m.text), ['while you were away', 'and another'], 'in order')
  await alice.broadcast('hello all')
  await until(() => broadcasts.length === 1)
  t.same(broadcasts, ['hello all'])

  const { messages } = await alice.history('bob')
  t.same(messages.map((m) => m.text), ['and another', 'while you were away'], 'alice reads her own sent messages through the sender copy')
  t.same(messages.map((m) => m.status), ['delivered', 'delivered'])
  const bobView = await bob.history('alice')
  t.same(bobView.messages.map((m) => m.text), ['and another', 'while you were away'])
})

t.test('a message altered in the database is detected and not shown', async (t) => {
  const { app, url } = await server(t)
  const { alice, bob } = await aliceAndBob(t, url)
  const fields: Array<[string, (e: { header: Record<string, string>, body: Record<string, string> }) => void]> = [
    ['ciphertext', (e) => { e.body.content = flip(e.body.content as string) }],
    ['nonce', (e) => { e.header.encryption_nonce = flip(e.header.encryption_nonce as string) }],
    ['content key', (e) => { e.header.encrypted_key = flip(e.header.encrypted_key as string) }],
    ['timestamp', (e) => { e.header.timestamp = new Date(Date.parse(e.header.timestamp as string) - 1000).toISOString() }],
    ['an added header field', (e) => { e.header.note = 'added' }]
  ]
  const ids: string[] = []
  for (const [name] of fields) ids.push((await alice.sendDirect('bob', `secret ${name}`)).id)
  for (const [i, [, alter]] of fields.entries()) {
    const row = await app.db.selectFrom('messages').select('envelope').where('id', '=', ids[i] as string).executeTakeFirstOrThrow()
    const envelope = JSON.parse(row.envelope) as { header: Record<string, string>, body: Record<string, string> }
    alter(envelope)
    await app.db.updateTable('messages').set({ envelope: JSON.stringify(envelope) }).where('id', '=', ids[i] as string).execute()
  }
  const shown = collect<DirectMessage>(bob, 'message')
  const rejected = collect<RejectedMessage>(bob, 'rejected')
  await bob.connect()
  await until(() => rejected.length === fields.length)
  t.same(shown, [], 'nothing altered is shown')
  t.same(rejected.map((r) => r.reason), fields.map(() => 'bad_signature'))
  const pending = async (): Promise<number> => {
    await app.messages.flush()
    return (await app.db.selectFrom('messages').select('id').where('status', '=', 'pending').execute()).length
  }
  await until(async () => await pending() === 0, 'the client rejects what it refuses')
  t.equal(await pending(), 0, 'refused messages are marked rejected, so they do not come back')
})

t.test('a server that swaps a user\'s keys is detected', async (t) => {
  const { app, url } = await server(t)
  const store = new MemoryStore()
  const aliceId = generateIdentity('alice')
  const alice = client(t, url, 'alice', store, aliceId)
  const bob = client(t, url, 'bob')
  await alice.register()
  await bob.register()
  await alice.connect()
  await alice.sendDirect('bob', 'first contact pins bob')

  const mallory = publicKeys(generateIdentity('bob'))
  await app.db.updateTable('users').set({ x25519_public_key: mallory.x25519_public_key }).where('user_id', '=', 'bob').execute()
  const again = client(t, url, 'alice', store, aliceId)
  await t.rejects(again.sendDirect('bob', 'to a swapped key'), { code: 'unverified_key' }, 'an encryption key not signed by bob\'s identity key is refused')

  await app.db.updateTable('users').set({ public_key: mallory.public_key, x25519_public_key: mallory.x25519_public_key, x25519_key_signature: mallory.x25519_key_signature }).where('user_id', '=', 'bob').execute()
  const third = client(t, url, 'alice', store, aliceId)
  const changes: KeyChangedError[] = []
  third.on('key-changed', (e) => { changes.push(e) })
  await t.rejects(third.sendDirect('bob', 'to a new identity'), KeyChangedError, 'a new identity key for a pinned user is refused loudly')
  t.equal(changes.length, 1)
  t.equal(changes[0]?.userId, 'bob')
})

t.test('a replayed message is dropped by the client', async (t) => {
  const { app, url } = await server(t)
  const alice = client(t, url, 'alice')
  const store = new MemoryStore()
  const bobId = generateIdentity('bob')
  const bob = client(t, url, 'bob', store, bobId)
  await alice.register()
  await bob.register()
  await alice.connect()
  const shown = collect<DirectMessage>(bob, 'message')
  await bob.connect()
  const sent = await alice.sendDirect('bob', 'once only')
  await sent.delivered
  bob.close()
  // the server (or someone with its database) sends the same signed message again
  await app.db.updateTable('messages').set({ status: 'pending' }).where('id', '=', sent.id).execute()
  const again = client(t, url, 'bob', store, bobId)
  const shownAgain = collect<DirectMessage>(again, 'message')
  await again.connect()
  // the client acknowledges the replay once it has decided about it: then it would have shown it, or not
  const status = async (): Promise<string> => {
    await app.messages.flush()
    return (await app.db.selectFrom('messages').select('status').where('id', '=', sent.id).executeTakeFirstOrThrow()).status
  }
  await until(async () => await status() === 'delivered', 'the replay is acknowledged')
  t.equal(shown.length, 1)
  t.equal(shownAgain.length, 0, 'the replay is not shown')
  await app.messages.flush()
  const row = await app.db.selectFrom('messages').select('status').where('id', '=', sent.id).executeTakeFirstOrThrow()
  t.equal(row.status, 'delivered', 'but it is acknowledged, so it stops coming')
})

t.test('the client reconnects by itself and gets what arrived meanwhile', async (t) => {
  const { app, url } = await server(t)
  const { alice, bob } = await aliceAndBob(t, url)
  await bob.connect()
  const shown = collect<DirectMessage>(bob, 'message')
  let reconnected = false
  bob.on('connected', ({ reconnected: r }) => { reconnected ||= r })
  for (const ws of app.websocketServer.clients) ws.terminate()
  const sent = await alice.sendDirect('bob', 'after the drop')
  await sent.delivered
  t.ok(reconnected)
  t.same(shown.map((m) => m.text), ['after the drop'])
})

t.test('a listener that fails leaves the message unacknowledged, to come again', async (t) => {
  const { app, url } = await server(t)
  const { alice, bob } = await aliceAndBob(t, url)
  bob.on('message', () => { throw new Error('disk full') })
  const errors: string[] = []
  bob.on('error', (e) => { errors.push(e.code) })
  await bob.connect()
  const sent = await alice.sendDirect('bob', 'try again')
  await until(() => errors.length > 0)
  t.same(errors, ['handler_failed'])
  const row = await app.db.selectFrom('messages').select('status').where('id', '=', sent.id).executeTakeFirstOrThrow()
  t.equal(row.status, 'pending')
})

function flip (b64: string): string {
  const bytes = Buffer.from(b64, 'base64')
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1
  return bytes.toString('base64')
}
