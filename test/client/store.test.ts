// The built-in stores: seen records pruned by age, per-sender floors, and a FileStore that survives a crash.
import { appendFileSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { FileStore, MemoryStore } from '../../client/node.js'
import { tempDir } from '../helper.js'

t.test('seen records: pruned by age, evicted per sender with a floor that bounds only that sender', async (t) => {
  const store = new MemoryStore(10)
  for (let i = 0; i < 11; i++) await store.markSeen({ from: 'mallory', id: `m${i}`, timestamp: 1000 + i })
  await store.markSeen({ from: 'bob', id: 'b0', timestamp: 500 })
  t.equal(await store.checkSeen('mallory', 'm0', 1000), 'stale', 'evicted early: at the floor')
  t.equal(await store.checkSeen('mallory', 'new', 1000), 'stale', 'anything at or below the floor')
  t.equal(await store.checkSeen('mallory', 'new', 1001), 'new')
  t.equal(await store.checkSeen('mallory', 'm5', 1005), 'seen')
  t.equal(await store.checkSeen('bob', 'b1', 400), 'new', 'another sender\'s flood does not raise bob\'s floor')
  await store.pruneSeen(1006)
  t.equal(await store.checkSeen('mallory', 'm5', 1005), 'new', 'pruned by age: the timestamp window refuses it now')
  t.equal(await store.checkSeen('mallory', 'm6', 1006), 'seen')
  t.equal(await store.checkSeen('bob', 'b0', 500), 'new')
})

t.test('a FileStore keeps peers and seen records across instances, and a journal line cut short by a crash', async (t) => {
  const path = join(tempDir(t), 'sub', 'store.json')
  const first = new FileStore(path, { maxSeenPerSender: 10 })
  await first.putPeer('bob', { publicKey: 'K', trust: 'verified', epoch: 3, encryptionKey: 'X' })
  for (let i = 0; i < 11; i++) await first.markSeen({ from: 'bob', id: `m${i}`, timestamp: 2000 + i })
  t.equal(statSync(path).mode & 0o777, 0o600)
  t.equal(statSync(join(path, '..')).mode & 0o777, 0o700)
  appendFileSync(`${path}.journal`, '{"from":"bob","id":"half')

  const second = new FileStore(path, { maxSeenPerSender: 10 })
  t.same(await second.getPeer('bob'), { publicKey: 'K', trust: 'verified', epoch: 3, encryptionKey: 'X' })
  t.equal(await second.checkSeen('bob', 'm10', 2010), 'seen')
  t.equal(await second.checkSeen('bob', 'm0', 2000), 'stale', 'the floor survived the restart')
  t.equal(readFileSync(`${path}.journal`, 'utf8'), '', 'the journal was folded into the file')
  t.match(JSON.parse(readFileSync(path, 'utf8')), { version: 2, seen: { bob: { floor: 2000 } } })
})
