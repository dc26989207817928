// Three nodes sharing one PostgreSQL database and one Redis, in this process, on loopback ports.
import t from 'tap'
import { NEEDS_CLUSTER } from '../databases.js'
import { login, makeIdentity, register, registerAndLogin } from '../helper.js'
import { broadcast, command, direct, idOf, type Frame, type TestClient } from '../ws-client.js'
import { cluster, until } from './nodes.js'

// a deadline for the whole file, not a wait: it runs long on a loaded machine
t.setTimeout(600_000)

const skip = NEEDS_CLUSTER
const isPresence = (userId: string, status: string) => (f: Frame): boolean =>
  f.header.message_type === 'presence' && f.body.user_id === userId && f.body.status === status

t.test('direct messages between nodes: live, in order, queued for later, receipts back to the sender\'s node', { skip }, async (t) => {
  const c = await cluster(t)
  const [a, b, cc] = [await c.start('A'), await c.start('B'), await c.start('C')]
  const alice = await registerAndLogin(a.app, 'alice')
  const carol = await registerAndLogin(a.app, 'carol')
  const bob = await registerAndLogin(a.app, 'bob')
  const onA = await a.connect(alice)
  const onC = await cc.connect(carol)

  const msg = direct(alice.id, 'carol')
  onA.send(msg)
  await onA.receipt(idOf(msg), 'accepted')
  const got = await onC.envelope(idOf(msg))
  t.same(got.header, msg.header, 'the envelope crosses nodes exactly as signed')
  t.match(got.meta, { received_at: String })
  onC.ack(idOf(msg))
  await onA.receipt(idOf(msg), 'delivered')
  const row = await cc.app.db.selectFrom('messages').select(['status', 'receipt_sent_at']).where('id', '=', idOf(msg)).executeTakeFirstOrThrow()
  t.equal(row.status, 'delivered')
  await until(async () => (await a.app.db.selectFrom('messages').select('receipt_sent_at').where('id', '=', idOf(msg)).executeTakeFirstOrThrow()).receipt_sent_at !== null,
    2000, 'the node that told the sender notes the receipt as sent')

  const burst = Array.from({ length: 100 }, () => direct(alice.id, 'carol'))
  for (const m of burst) onA.send(m)
  // delivery is at least once: on a loaded machine a node may miss its 1.5 s heartbeat, the others resync its
  // users, and unacknowledged messages come again. Their first arrivals keep the order they were sent in.
  const order: string[] = []
  while (order.length < burst.length) {
    const id = idOf(await onC.next((f) => f.header.message_type === 'direct'))
    if (!order.includes(id)) order.push(id)
  }
  t.same(order, burst.map(idOf), 'a hundred messages from A arrive on C in the order they were sent')

  // bob is offline: the message waits in the database, and B delivers it when bob connects there
  const later = direct(carol.id, 'bob')
  onC.send(later)
  await onC.receipt(idOf(later), 'accepted')
  const onB = await b.connect(bob)
  t.equal(idOf(await onB.next((f) => f.header.message_type === 'direct')), idOf(later), 'queued on C, delivered on B')
  onB.ack(idOf(later))
  await onC.receipt(idOf(later), 'delivered')

  // a resend of the same id to another node is still a duplicate
  const onA2 = await a.connect(carol)
  onA2.send(later)
  await onA2.receipt(idOf(later), 'duplicate')
  // a marker on the same path, A to bob on B through the relay: a second delivery would come before it
  const marker = direct(carol.id, 'bob')
  onA2.send(marker)
  t.ok(await onB.noneBefore((f) => f.header.id === idOf(later), (f) => f.header.id === idOf(marker)), 'and is not delivered again')
})

t.test('a user connected to two nodes gets every message on both', { skip }, async (t) => {
  const c = await cluster(t)
  const [a, b, cc] = [await c.start('A'), await c.start('B'), await c.start('C')]
  const alice = await registerAndLogin(a.app, 'alice')
  const carol = await registerAndLogin(a.app, 'carol')
  const sender = await a.connect(alice)
  const phone = await b.connect(carol)
  const laptop = await cc.connect(carol)
  const msg = direct(alice.id, 'carol')
  sender.send(msg)
  await phone.envelope(idOf(msg))
  await laptop.envelope(idOf(msg))
  phone.ack(idOf(msg))
  await sender.receipt(idOf(msg), 'delivered')
})

t.test('a broadcast from B reaches every node; the sending connection does not get it back', { skip }, async (t) => {
  const c = await cluster(t)
  const nodes = [await c.start('A'), await c.start('B'), await c.start('C')]
  const [a, b, cc] = nodes
  const users = await Promise.all(['alice', 'bob', 'carol', 'dave'].map(async (u) => await registerAndLogin(b!.app, u)))
  const [alice, bob, carol, dave] = users
  const onA = await a!.connect(alice!)
  const onB = await b!.connect(bob!)
  const bobOnC = await cc!.connect(bob!)
  const onC = await cc!.connect(carol!)
  const daveOnA = await a!.connect(dave!)
  const msg = broadcast(bob!.id, 'hello, every node')
  onB.send(msg)
  await onB.receipt(idOf(msg), 'accepted')
  for (const [name, client] of [['A', onA], ['C', onC], ['A (dave)', daveOnA], ['C (bob\'s other connection)', bobOnC]] as const) {
    const got = await client.envelope(idOf(msg))
    t.equal(got.body.content, 'hello, every node', `seen on ${name}`)
  }
  // every other node has had it from the relay; a broadcast from A after it comes back the same way
  const marker = broadcast(alice!.id, 'marker')
  onA.send(marker)
  t.ok(await onB.noneBefore((f) => f.header.id === idOf(msg) && f.header.from === 'bob', (f) => f.header.id === idOf(marker)), 'not echoed to the connection that sent it')
})

t.test('presence and who is online span the nodes', { skip }, async (t) => {
  const c = await cluster(t)
  const [a, b, cc] = [await c.start('A'), await c.start('B'), await c.start('C')]
  const alice = await registerAndLogin(a.app, 'alice')
  const dave = await registerAndLogin(a.app, 'dave')
  const watcher = await a.connect(alice)
  const onC = await cc.connect(dave)
  await watcher.next(isPresence('dave', 'online'))
  const onB = await b.connect(dave)
  // markers: a broadcast from the node where the connection opened (or closed) goes out after what that
  // node announced of it, on the same relay channel
  const marker = async (from: TestClient, who: typeof alice): Promise<(f: Frame) => boolean> => {
    const m = broadcast(who.id, 'marker')
    from.send(m)
    await from.receipt(idOf(m), 'accepted')
    return (f) => f.header.id === idOf(m)
  }
  t.ok(await watcher.noneBefore((f) => f.header.message_type === 'presence', await marker(onB, dave)), 'a second connection on another node is not news')

  for (const node of [a, b, cc]) {
    const res = await node.app.inject({ url: '/active-users', headers: { authorization: `Bearer ${alice.token}` } })
    t.same(res.json(), { users: ['alice', 'dave'], count: 2 }, `/active-users on ${node.name} lists the users of every node`)
  }
  const ask = command(alice.id, 'user_count')
  watcher.send(ask)
  const answer = await watcher.reply(idOf(ask), 'server_response')
  t.match(JSON.parse(answer.body.content as string), { ok: true, result: { registered: 2, online: 2 } }, 'user_count counts the whole cluster')

  const aliceOnC = await cc.connect(alice)
  await onC.close()
  await until(() => cc.app.hub.connectionCount('dave') === 0, 15_000, 'C has closed dave\'s connection')
  t.ok(await watcher.noneBefore((f) => f.header.message_type === 'presence', await marker(aliceOnC, alice)), 'closing one of two connections is not news either')
  await onB.close()
  await watcher.next(isPresence('dave', 'offline'))
  const res = await b.app.inject({ url: '/active-users', headers: { authorization: `Bearer ${alice.token}` } })
  t.same(res.json(), { users: ['alice'], count: 1 })
})

t.test('a login begun on A finishes on B; the challenge is spent on every node', { skip }, async (t) => {
  const c = await cluster(t)
  const [a, b, cc] = [await c.start('A'), await c.start('B'), await c.start('C')]
  const id = makeIdentity('erin')
  await register(cc.app, id)
  const first = await a.app.inject({ method: 'POST', url: '/auth/login', payload: { user_id: 'erin' } })
  t.equal(first.statusCode, 200)
  const { challenge } = first.json<{ challenge: string }>()
  const answer = { user_id: 'erin', challenge, signature: id.sign(`sealwire/v1/login:erin:${challenge}`) }
  const res = await b.app.inject({ method: 'POST', url: '/auth/login?verify=true', payload: answer })
  t.equal(res.statusCode, 200, 'B accepts the answer to A\'s challenge')
  const { token } = res.json<{ token: string }>()
  const onC = await cc.connect({ token })
  onC.send(command(id, 'ping'))
  await onC.next((f) => f.header.message_type === 'server_response')
  t.pass('and C takes the token')

  for (const node of [a, b, cc]) {
    const replay = await node.app.inject({ method: 'POST', url: '/auth/login?verify=true', payload: answer })
    t.equal(replay.statusCode, 401, `a replay on ${node.name} is refused`)
  }
  // five challenges at most per user, across nodes
  const issued: string[] = []
  for (let i = 0; i < 7; i++) {
    const node = [a, b, cc][i % 3]!
    issued.push((await node.app.inject({ method: 'POST', url: '/auth/login', payload: { user_id: 'erin' } })).json<{ challenge: string }>().challenge)
  }
  const oldest = issued[0] as string
  const dropped = await cc.app.inject({ method: 'POST', url: '/auth/login?verify=true', payload: { user_id: 'erin', challenge: oldest, signature: id.sign(`sealwire/v1/login:erin:${oldest}`) } })
  t.equal(dropped.statusCode, 401, 'the oldest of seven outstanding challenges was dropped')
  t.ok(await login(a.app, id), 'a fresh login still works')
})

t.test('logout on A: the token is refused on B at once and its connection on C closes', { skip }, async (t) => {
  const c = await cluster(t)
  const [a, b, cc] = [await c.start('A'), await c.start('B'), await c.start('C')]
  const frank = await registerAndLogin(a.app, 'frank')
  const onC = await cc.connect(frank)
  const out = await a.app.inject({ method: 'POST', url: '/auth/logout', headers: { authorization: `Bearer ${frank.token}` } })
  t.equal(out.statusCode, 204)
  const refused = await b.app.inject({ url: '/active-users', headers: { authorization: `Bearer ${frank.token}` } })
  t.equal(refused.statusCode, 401, 'B refuses the revoked token in the very next request')
  t.equal((await onC.closed).code, 1008, 'the WebSocket on C is closed with 1008')
  await t.rejects(cc.connect(frank), /HTTP 401/, 'and C refuses a new upgrade with it')
})

t.test('the HTTP rate limit counts across nodes', { skip }, async (t) => {
  const c = await cluster(t, { AUTH_RATE_LIMIT_MAX: 6 })
  const nodes = [await c.start('A'), await c.start('B'), await c.start('C')]
  const codes: number[] = []
  for (let i = 0; i < 9; i++) {
    const res = await nodes[i % 3]!.app.inject({ url: '/auth/check-userid/someone', remoteAddress: '198.51.100.9' })
    codes.push(res.statusCode)
  }
  t.same(codes, [200, 200, 200, 200, 200, 200, 429, 429, 429], 'six in all, whichever node they reach')
  const other = await nodes[1]!.app.inject({ url: '/auth/check-userid/someone', remoteAddress: '198.51.100.10' })
  t.equal(other.statusCode, 200, 'another address has its own count')
})
