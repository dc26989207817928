// The web client's model, without a browser: what the screen shows follows from these rules.
import t from 'tap'
import { ChatModel, EVERYONE } from '../../client/web/model.js'

const at = (iso: string): number => Date.parse(iso)
const msg = (id: string, from: string, timestamp = '2026-01-01T10:00:00.000Z') => ({ id, from, text: `text ${id}`, timestamp })

t.test('conversations are listed by last activity, then by name; the broadcast channel is not among them', async (t) => {
  const model = new ChatModel('alice')
  t.equal(model.conversation(EVERYONE).history, 'loaded', 'the broadcast channel has no history to load')
  t.equal(model.conversation('carol').history, 'none')
  t.same(model.touch(model.conversation('bob'), 2000), { peer: 'bob', last_at: 2000 })
  t.same(model.touch(model.conversation('bob'), 1000), { peer: 'bob', last_at: 2000 }, 'never moves back')
  model.touch(model.conversation('dave'), 2000)
  t.equal(model.touch(model.conversation(EVERYONE), 3000), undefined, 'the channel is not stored')
  t.same(model.list().map((c) => c.peer), ['bob', 'dave', 'carol'])
  t.equal(model.find('erin'), undefined, 'find does not create')
})

t.test('incoming messages: once each, unread unless the reader looks at them', async (t) => {
  const model = new ChatModel('alice')
  const first = model.receiveDirect(msg('m1', 'bob'))
  t.match(first, { key: 'm1', id: 'm1', from: 'bob', state: 'received', at: at('2026-01-01T10:00:00.000Z') })
  t.equal(model.receiveDirect(msg('m1', 'bob')), undefined, 'a message delivered again is not shown twice')
  t.equal(model.receiveDirect({ ...msg('m2', 'bob'), timestamp: 'not a date' }, 42)?.at, 42, 'a bad time stamp is read as now')
  const bob = model.conversation('bob')
  t.equal(bob.entries.size, 2)

  t.equal(model.arrived(bob, true), true, 'not open: unread')
  model.view = { kind: 'conversation', peer: 'bob' }
  t.equal(model.current, bob)
  t.equal(model.arrived(bob, false), true, 'open in a hidden tab: unread')
  t.equal(model.arrived(bob, true), false, 'open and visible: read')
  t.equal(bob.unread, 2)
  const channel = model.conversation(EVERYONE)
  t.ok(model.receiveBroadcast(msg('b1', 'carol')))
  model.arrived(channel, true)
  t.equal(model.unreadTotal(), 3)
  t.equal(model.markRead(bob), true)
  t.equal(model.markRead(bob), false, 'nothing left to read')
  t.equal(model.unreadTotal(), 1)
  model.view = { kind: 'commands' }
  t.equal(model.current, undefined, 'no conversation is open on the commands pane')
})

t.test('a broadcast of one\'s own comes back as sent; others as received', async (t) => {
  const model = new ChatModel('alice')
  t.equal(model.receiveBroadcast(msg('b1', 'alice'))?.state, 'accepted')
  t.equal(model.receiveBroadcast(msg('b2', 'bob'))?.state, 'received')
  t.equal(model.receiveBroadcast(msg('b2', 'bob')), undefined)
  t.same(model.entries(model.conversation(EVERYONE)).map((e) => e.id), ['b1', 'b2'])
})

t.test('a sent message moves forward only: sending, accepted, delivered; a failure can be sent again', async (t) => {
  const model = new ChatModel('alice')
  const bob = model.conversation('bob')
  const entry = model.add(bob, model.newEntry({ from: 'alice', text: 'hi', at: 1, state: 'sending' }))
  t.match(entry.key, /^local:/)
  t.same(model.sending(), [entry])
  t.equal(model.accepted(bob, entry, 'id-1'), undefined, 'no twin')
  t.match(entry, { key: 'id-1', id: 'id-1', state: 'accepted' })
  t.same([...bob.entries.keys()], ['id-1'], 're-keyed under the server\'s id')
  t.same(model.sending(), [])

  t.equal(model.receipt('id-1', 'pending'), undefined, 'an unknown receipt status changes nothing')
  t.equal(model.receipt('nope', 'delivered'), undefined, 'nor does a receipt for a message not ours')
  t.equal(model.receipt('id-1', 'delivered'), entry)
  t.equal(entry.state, 'delivered')
  t.equal(model.receipt('id-1', 'accepted'), undefined, 'never back')
  t.equal(model.advance(entry, 'accepted'), false)

  const failed = model.add(bob, model.newEntry({ from: 'alice', text: 'again', at: 2, state: 'sending' }))
  model.fail(failed, 'too many messages', 5000)
  t.match(failed, { state: 'failed', failure: 'too many messages', retryAt: 5000 })
  t.equal(model.remove(failed), bob, 'taken out to be sent again')
  t.equal(bob.entries.has(failed.key), false)
  t.equal(model.remove(failed), undefined, 'only once')
  const retried = model.add(bob, failed)
  t.equal(model.advance(retried, 'accepted'), true, 'a failed message can still be accepted')
  t.equal(retried.failure, undefined)
})

t.test('the history may bring a sent message before its answer: one copy is kept, and its delivery', async (t) => {
  const model = new ChatModel('alice')
  const bob = model.conversation('bob')
  const entry = model.add(bob, model.newEntry({ from: 'alice', text: 'hi', at: 1, state: 'sending' }))
  const moved = model.historyPage(bob, { messages: [{ id: 'id-1', from: 'alice', text: 'hi', error: undefined, timestamp: '2026-01-01T10:00:00.000Z', status: 'delivered' }], nextBefore: null }, false)
  t.same(moved, [], 'a new stored message did not move')
  const twin = model.accepted(bob, entry, 'id-1')
  t.ok(twin, 'the stored copy is returned, for its element to go')
  t.not(twin, entry)
  t.equal(entry.state, 'delivered', 'and its delivery is kept')
  t.equal(bob.entries.size, 1)
  t.equal(bob.entries.get('id-1'), entry)
  t.equal(model.receipt('id-1', 'delivered'), undefined, 'receipts find the kept copy')
})

t.test('history pages: merged, states moved on, the cursor kept at the oldest page', async (t) => {
  const model = new ChatModel('alice')
  const bob = model.conversation('bob')
  const stored = (id: string, from: string, status: 'pending' | 'delivered', minute: number) =>
    ({ id, from, text: `from ${from}`, error: undefined, timestamp: `2026-01-01T10:0${minute}:00.000Z`, status })
  model.historyPage(bob, { messages: [stored('a2', 'alice', 'pending', 5), stored('b1', 'bob', 'delivered', 4)], nextBefore: 400 }, false)
  t.match(bob, { history: 'loaded', nextBefore: 400, historyError: undefined })
  t.equal(bob.entries.get('a2')?.state, 'accepted', 'stored, not delivered yet')
  t.equal(bob.entries.get('b1')?.state, 'received')

  const moved = model.historyPage(bob, { messages: [stored('a2', 'alice', 'delivered', 5), stored('a1', 'alice', 'delivered', 1)], nextBefore: 100 }, true)
  t.same(moved.map((e) => e.id), ['a2'], 'the message delivered since then moved on')
  t.equal(bob.nextBefore, 100, 'an older page moves the cursor back')
  model.historyPage(bob, { messages: [], nextBefore: 300 }, true)
  t.equal(bob.nextBefore, 100, 'a newer cursor from an older-page request does not')
  model.historyPage(bob, { messages: [], nextBefore: null }, true)
  t.equal(bob.nextBefore, null, 'the end of the history is the end')
  t.same(model.entries(bob).map((e) => e.id), ['a1', 'b1', 'a2'], 'in time order')
  t.equal(model.receipt('a1', 'delivered'), undefined, 'already delivered')

  model.historyFailed(bob, 'offline')
  t.match(bob, { history: 'failed', historyError: 'offline' })
})

t.test('a changed key: flagged once per new key, cleared by trust, which reloads the history', async (t) => {
  const model = new ChatModel('alice')
  const change = { userId: 'bob', pinnedKey: 'old', presentedKey: 'new' }
  const bob = model.keyChanged(change)
  if (bob === undefined) throw new Error('the first change must be flagged')
  t.equal(bob.keyChanged, change)
  t.equal(model.keyChanged({ ...change }), undefined, 'the same change again is no news')
  t.ok(model.keyChanged({ ...change, presentedKey: 'newer' }), 'another new key is')
  bob.history = 'loaded'
  t.equal(model.trust('carol'), undefined, 'nothing to trust')
  t.match(model.trust('bob'), { presentedKey: 'newer' })
  t.match(bob, { keyChanged: undefined, history: 'none' })
  t.equal(model.trust('bob'), undefined)
})

t.test('a sent message refused by its recipient shows the refusal, and is never delivered after it', async (t) => {
  const model = new ChatModel('alice')
  const bob = model.conversation('bob')
  const entry = model.add(bob, model.newEntry({ from: 'alice', text: 'hi', at: 1, state: 'sending' }))
  model.accepted(bob, entry, 'id-1')
  t.equal(model.refused('nope', 'Refused by bob: x'), undefined, 'a refusal of a message not ours changes nothing')
  t.equal(model.refused('id-1', 'Refused by bob: it cannot be decrypted'), entry)
  t.match(entry, { state: 'rejected', failure: 'Refused by bob: it cannot be decrypted' })
  t.equal(model.refused('id-1', 'Refused by bob: again'), undefined, 'once')
  t.equal(model.receipt('id-1', 'delivered'), undefined, 'a delivered receipt after a refusal does not move it')
  t.equal(model.advance(entry, 'accepted'), false)
  t.equal(entry.state, 'rejected')
  const moved = model.historyPage(bob, { messages: [{ id: 'id-1', from: 'alice', text: 'hi', error: undefined, timestamp: '2026-01-01T10:00:00.000Z', status: 'pending' }], nextBefore: null }, false)
  t.same(moved, [], 'the stored copy (still pending on the server) does not move it back')
  t.equal(model.receipt('id-1', 'rejected'), undefined, 'the receipt event alone changes nothing: the verified refusal does')

  const delivered = model.add(bob, model.newEntry({ from: 'alice', text: 'ok', at: 2, state: 'sending' }))
  model.accepted(bob, delivered, 'id-2')
  model.receipt('id-2', 'delivered')
  t.equal(model.refused('id-2', 'Refused by bob: x'), undefined, 'a delivered message is not refused afterwards')
  t.equal(delivered.state, 'delivered')
})

t.test('a changed key found by its safety number alone is flagged once; the SDK\'s report then names the key', async (t) => {
  const model = new ChatModel('alice')
  const byNumber = { userId: 'bob', pinnedKey: 'old', presentedKey: undefined, presentedNumber: '1 2' }
  const bob = model.keyChanged(byNumber)
  t.equal(bob?.keyChanged, byNumber)
  t.equal(model.keyChanged({ ...byNumber }), undefined, 'no news')
  t.ok(model.keyChanged({ userId: 'bob', pinnedKey: 'old', presentedKey: 'new' }), 'the key itself replaces the number')
  t.equal(model.keyChanged({ ...byNumber }), undefined, 'a number-only report does not replace a known key')
  model.trust('bob')
  t.equal(bob?.trust, 'unverified', 'an accepted key is unverified')
})

t.test('presence: everyone else online, sorted; a fresh list replaces the old one', async (t) => {
  const model = new ChatModel('alice')
  model.setOnline(['carol', 'alice', 'bob'])
  t.same(model.others(), ['bob', 'carol'])
  model.presence('bob', 'offline')
  model.presence('dave', 'online')
  t.same(model.others(), ['carol', 'dave'])
  t.equal(model.isOnline('dave'), true)
  model.setOnline([])
  t.same(model.others(), [])
})

t.test('a refusal notice goes into an existing conversation only', async (t) => {
  const model = new ChatModel('alice')
  t.equal(model.notice('mallory', 'refused', 7), undefined, 'no conversation appears for a refused message')
  t.equal(model.notice(undefined, 'refused'), undefined)
  model.conversation('bob')
  t.match(model.notice('bob', 'refused', 7), { kind: 'notice', from: 'server', text: 'refused', at: 7, state: 'received' })
  t.equal(model.find('mallory'), undefined)
})
