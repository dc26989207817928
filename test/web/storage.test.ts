// The page's ClientStore, on the memory fallback (no IndexedDB in Node): the same rules as the SDK's FileStore.
// The IndexedDB paths and the upgrade from version 1 run in Chromium (storage-upgrade.test.ts and chat.test.ts).
import t from 'tap'
import { BrowserClientStore, Storage } from '../../client/web/storage.js'

t.test('peers keep their trust state and key-epoch record, apart per local identity', async (t) => {
  const storage = await Storage.open()
  t.equal(storage.persistent, false, 'no IndexedDB here: memory')
  const alice = new BrowserClientStore(storage, 'alice')
  const carol = new BrowserClientStore(storage, 'carol')
  t.equal(await alice.getPeer('bob'), undefined)
  await alice.putPeer('bob', { publicKey: 'K', trust: 'verified', epoch: 3, encryptionKey: 'X' })
  t.same(await alice.getPeer('bob'), { publicKey: 'K', trust: 'verified', epoch: 3, encryptionKey: 'X' })
  await alice.putPeer('bob', { publicKey: 'K2', trust: 'unverified', epoch: 0, encryptionKey: undefined })
  t.same(await alice.getPeer('bob'), { publicKey: 'K2', trust: 'unverified', epoch: 0, encryptionKey: undefined })
  t.equal(await carol.getPeer('bob'), undefined, 'another identity on this browser pinned nothing')
})

t.test('seen records: seen once, evicted past the per-sender bound with the floor raised, pruned by age', async (t) => {
  const storage = await Storage.open()
  const store = new BrowserClientStore(storage, 'alice', { maxSeenPerSender: 10 })
  t.equal(await store.checkSeen('bob', 'm1', 1000), 'new')
  await store.markSeen({ from: 'bob', id: 'm1', timestamp: 1000 })
  t.equal(await store.checkSeen('bob', 'm1', 1000), 'seen')
  t.equal(await store.checkSeen('carol', 'm1', 1000), 'new', 'per sender')
  for (let i = 2; i <= 11; i++) await store.markSeen({ from: 'bob', id: `m${i}`, timestamp: 1000 * i })
  // 11 records past a bound of 10: the oldest (a tenth, one) goes and the floor rises to its time
  t.equal(await storage.count('seen', 'alice\nbob\n'), 10)
  t.equal(await store.checkSeen('bob', 'm1', 1000), 'stale', 'evicted early: refused by the floor, not taken as new')
  t.equal(await store.checkSeen('bob', 'other', 999), 'stale', 'anything at or below the floor is')
  t.equal(await store.checkSeen('bob', 'other', 1001), 'new')
  t.equal(await store.checkSeen('bob', 'm2', 2000), 'seen')
  t.equal(await store.checkSeen('carol', 'x', 5), 'new', 'another sender has no floor')

  await store.markSeen({ from: 'carol', id: 'c1', timestamp: 500 })
  await new BrowserClientStore(storage, 'dave').markSeen({ from: 'bob', id: 'd1', timestamp: 10 })
  await store.pruneSeen(5500)
  t.equal(await store.checkSeen('bob', 'm5', 5000), 'new', 'older than the window: forgotten (refused by its time stamp instead)')
  t.equal(await store.checkSeen('bob', 'm6', 6000), 'seen', 'newer records stay')
  t.equal(await store.checkSeen('carol', 'c1', 500), 'new')
  t.equal(await storage.count('floors', 'alice\n'), 0, 'the floor went with the window')
  t.equal(await new BrowserClientStore(storage, 'dave').checkSeen('bob', 'd1', 10), 'seen', 'another identity\'s records are its own')
})
