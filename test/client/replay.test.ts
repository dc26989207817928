// Replays by a hostile server: with forged meta, after the seen record was evicted, after a restart. The
// client decides from the signed timestamp and its own durable store.
import { statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createNodeClient, FileStore, generateIdentity, KeyChangedError, publicKeys, type DirectMessage, type Identity, type RejectedMessage, type SealwireClient } from '../../client/node.js'
import { fromBase64 } from '../../services/protocol/base64.js'
import { tempDir } from '../helper.js'
import { direct, fakeServer, newX25519Secret, userRecord, type FakeServer, type Frame } from './hostile-server.js'

interface Setup { fake: FakeServer, alice: Identity, bob: Identity, aliceKey: Uint8Array, dir: string }

async function setup (t: Test): Promise<Setup> {
  const fake = await fakeServer(t)
  const alice = generateIdentity('alice')
  const bob = generateIdentity('bob')
  fake.users.set('bob', userRecord(bob, { secretKey: newX25519Secret(), epoch: 1 }))
  return { fake, alice, bob, aliceKey: fromBase64(publicKeys(alice).x25519_public_key, 32) as Uint8Array, dir: tempDir(t) }
}

function connect (t: Test, s: Setup, store: FileStore): SealwireClient & { shown: DirectMessage[], refused: RejectedMessage[] } {
  const c = createNodeClient({ serverUrl: s.fake.url, identity: s.alice, store, reconnect: false })
  t.teardown(() => c.close())
  const shown: DirectMessage[] = []
  const refused: RejectedMessage[] = []
  c.on('message', (m) => { shown.push(m) })
  c.on('rejected', (r) => { refused.push(r) })
  return Object.assign(c, { shown, refused })
}

/** Pushes a message to alice and waits for her answer to it: an ack or a reject, the n-th for that id. */
async function answer (s: Setup, frame: Frame, nth = 1): Promise<Frame> {
  const id = frame.header.id
  const seen = (): Array<{ frame: Frame }> => s.fake.frames.filter((f) => f.frame.header.in_reply_to === id || (f.frame.header.message_type === 'reject' && f.frame.header.id === id))
  const before = seen().length
  await s.fake.push('alice', frame)
  await s.fake.nextFrame(() => seen().length >= before + 1 && seen().length >= nth)
  return (seen().at(-1) as { frame: Frame }).frame
}

const ago = (ms: number): string => new Date(Date.now() - ms).toISOString()

t.test('forged meta changes nothing: freshness comes from the signed timestamp', async (t) => {
  const s = await setup(t)
  const c = connect(t, s, new FileStore(join(s.dir, 'store.json')))
  await c.connect()
  const first = direct(s.bob, 'alice', s.aliceKey, 'hello')
  const ack = await answer(s, first)
  t.same(ack, { header: { message_type: 'ack', in_reply_to: first.header.id }, body: { from: 'bob' } }, 'the ack names the sender')
  t.same(c.shown.map((m) => m.text), ['hello'])

  const replay = { ...first, meta: { received_at: new Date().toISOString() } }
  t.equal((await answer(s, replay, 2)).header.message_type, 'ack', 'a replay of a message seen is acked again')
  const old = direct(s.bob, 'alice', s.aliceKey, 'from last month', { timestamp: ago(31 * 86_400_000), receivedAt: new Date().toISOString() })
  t.match(await answer(s, old), { header: { message_type: 'reject' }, body: { reason: 'stale' } }, 'an old message with a fresh received_at is refused')
  const future = direct(s.bob, 'alice', s.aliceKey, 'from the future', { timestamp: new Date(Date.now() + 600_000).toISOString() })
  t.match(await answer(s, future), { body: { reason: 'clock_skew' } })
  t.same(c.shown.map((m) => m.text), ['hello'], 'nothing but the first was shown')
  t.same(c.refused.map((r) => r.reason), ['stale', 'clock_skew'])
})

t.test('a replay after its record was evicted is refused by the sender\'s floor', async (t) => {
  const s = await setup(t)
  const c = connect(t, s, new FileStore(join(s.dir, 'store.json'), { maxSeenPerSender: 10 }))
  await c.connect()
  const sent: Frame[] = []
  for (let i = 0; i < 11; i++) {
    const m = direct(s.bob, 'alice', s.aliceKey, `m${i}`, { timestamp: ago(60_000 - i * 1000) })
    sent.push(m)
    await answer(s, m)
  }
  t.equal(c.shown.length, 11)
  t.match(await answer(s, sent[0] as Frame, 2), { header: { message_type: 'reject' }, body: { reason: 'stale' } }, 'the evicted one is at the floor: refused')
  t.equal((await answer(s, sent[5] as Frame, 2)).header.message_type, 'ack', 'one still recorded is a plain replay')
  const fresh = direct(s.bob, 'alice', s.aliceKey, 'new')
  t.equal((await answer(s, fresh)).header.message_type, 'ack')
  t.same(c.shown.map((m) => m.text).slice(11), ['new'], 'only the new one was shown')
})

t.test('a replay after a restart is refused: the store is a file (mode 600)', async (t) => {
  const s = await setup(t)
  const path = join(s.dir, 'store.json')
  const first = connect(t, s, new FileStore(path))
  await first.connect()
  const m = direct(s.bob, 'alice', s.aliceKey, 'once')
  await answer(s, m)
  first.close()
  t.equal(statSync(path).mode & 0o777, 0o600)
  t.equal(statSync(`${path}.journal`).mode & 0o777, 0o600)

  const second = connect(t, s, new FileStore(path))
  await second.connect()
  t.equal((await answer(s, { ...m, meta: { received_at: new Date().toISOString() } }, 2)).header.message_type, 'ack')
  t.same(second.shown, [], 'not shown again by the new process')
})

t.test('a store file of the older shape is read: its pins and seen ids still count', async (t) => {
  const s = await setup(t)
  const path = join(s.dir, 'old.store.json')
  const m = direct(s.bob, 'alice', s.aliceKey, 'seen by the old SDK')
  const carol = generateIdentity('carol')
  s.fake.users.set('carol', userRecord(generateIdentity('carol'), { secretKey: newX25519Secret(), epoch: 1 }))
  const pins = { bob: publicKeys(s.bob).public_key, carol: publicKeys(carol).public_key }
  writeFileSync(path, JSON.stringify({ pins, seen: [`bob\n${String(m.header.id)}`] }), { mode: 0o644 })
  const c = connect(t, s, new FileStore(path))
  await c.connect()
  t.equal(statSync(path).mode & 0o777, 0o600, 'rewritten in the new shape, private')
  await t.rejects(c.sendDirect('carol', 'x'), KeyChangedError, 'an old pin holds against another key')
  t.same(await c.trust('bob'), { state: 'unverified', publicKey: pins.bob, epoch: 0 })
  t.equal((await answer(s, m)).header.message_type, 'ack', 'a message the old store had seen is a replay')
  t.same(c.shown, [], 'not shown again')
})
