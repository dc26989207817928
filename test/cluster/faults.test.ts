// Faults with real processes, a real PostgreSQL and a real Redis: nodes killed with messages in flight, Redis
// stopped and started, the database refusing connections.
import t from 'tap'
import pg from 'pg'
import WebSocket from 'ws'
import { NEEDS_CLUSTER, NEEDS_POSTGRES, postgresDatabaseUrl, redisPrefix } from '../databases.js'
import { build, login, makeIdentity, registerAndLogin, TEST_JWT_SECRET, type Identity } from '../helper.js'
import { broadcast, direct, idOf, listen, TestClient, type Frame } from '../ws-client.js'
import { within } from '../until.js'
import { cluster, until } from './nodes.js'
import { health, loginOver, NEEDS_REDIS_SERVER, redisServer, registerOver, startNodeProcess, type NodeProcess } from './processes.js'

// a deadline for the whole file, not a wait: it runs long on a loaded machine
t.setTimeout(600_000)

/** A connection that acknowledges every direct message it gets and remembers each id once. */
function ackingReader (client: TestClient): Set<string> {
  const got = new Set<string>()
  client.ws.on('message', (data: Buffer) => {
    const frame = JSON.parse(data.toString()) as Frame
    if (frame.header.message_type !== 'direct') return
    got.add(frame.header.id as string)
    client.ack(frame.header.id as string)
  })
  return got
}

function receipts (client: TestClient, status: string): Set<string> {
  return new Set(client.frames.filter((f) => f.header.message_type === 'receipt' && f.body.status === status).map((f) => f.header.in_reply_to as string))
}

/**
 * Sends fresh messages ten at a time, each ten once the node has read the last, until `ready` holds, then 1000 more at once and, with those
 * still in flight, runs `kill`. Returns every message sent.
 */
async function streamAndKill (client: TestClient, make: () => Frame, ready: () => boolean, kill: () => Promise<void>): Promise<Frame[]> {
  const sent: Frame[] = []
  const send = (frame: Frame): void => {
    sent.push(frame)
    client.send(frame)
  }
  // signed beforehand: signing takes longer than the node takes to store one
  const burst = Array.from({ length: 1000 }, make)
  while (!ready()) {
    if (sent.length > 20_000) throw new Error('the node never got going')
    for (let i = 0; i < 10; i++) send(make())
    // paced by the node: the pong comes once it has read these ten
    await client.pong()
  }
  for (const frame of burst) send(frame)
  await kill()
  return sent
}

t.test('nodes killed with messages in flight: nothing acknowledged is lost', { skip: NEEDS_CLUSTER }, async (t) => {
  const settings = {
    DATABASE_URL: await postgresDatabaseUrl(t),
    REDIS_URL: process.env.REDIS_URL as string,
    REDIS_KEY_PREFIX: redisPrefix(t, process.env.REDIS_URL as string),
    JWT_SECRET: TEST_JWT_SECRET,
    CLUSTER_NODE_TTL_MS: 1500,
    MESSAGE_RATE_LIMIT: 100_000,
    MESSAGE_BURST_LIMIT: 100_000,
    AUTH_RATE_LIMIT_MAX: 100_000
  }
  const [A, B, C] = await Promise.all(['A', 'B', 'C'].map(async (name) => await startNodeProcess(t, name, settings))) as [NodeProcess, NodeProcess, NodeProcess]
  const alice = makeIdentity('alice')
  const carol = makeIdentity('carol')
  await registerOver(B, alice)
  await registerOver(B, carol)
  const aliceToken = await loginOver(A, B, alice)
  const carolToken = await loginOver(C, A, carol)
  const connect = async (node: NodeProcess, token: string): Promise<TestClient> => {
    const client = await TestClient.connect(node.url, token)
    t.teardown(() => client.close())
    return client
  }

  // 1. the sender's node dies mid-stream
  let sender = await connect(A, aliceToken)
  let reader = await connect(C, carolToken)
  const gotByCarol = ackingReader(reader)
  const warmup = direct(alice, 'carol')
  sender.send(warmup)
  await sender.receipt(idOf(warmup), 'delivered')
  // A dies once it has accepted some, with more still arriving
  const first = await streamAndKill(sender, () => direct(alice, 'carol'), () => receipts(sender, 'accepted').size > 50, A.kill)
  const accepted1 = receipts(sender, 'accepted')
  accepted1.delete(idOf(warmup))
  t.ok(accepted1.size < first.length, `A accepted ${accepted1.size} of ${first.length} before it was killed`)
  await until(() => [...accepted1].every((id) => gotByCarol.has(id)), 15_000, 'every message A accepted reaches carol on C')
  t.pass(`carol on C has all ${accepted1.size} messages A accepted`)

  // the sender reconnects elsewhere and sends again what it has no answer for
  const before = sender
  sender = await connect(B, aliceToken)
  const unanswered = first.filter((m) => !accepted1.has(idOf(m)))
  for (const m of unanswered) sender.send(m)
  for (const m of unanswered) await sender.reply(idOf(m), 'receipt')
  const duplicates = unanswered.filter((m) => receipts(sender, 'duplicate').has(idOf(m))).length
  t.pass(`resent ${unanswered.length} unanswered: ${unanswered.length - duplicates} accepted, ${duplicates} duplicate (stored by A before it died)`)
  await until(() => first.every((m) => gotByCarol.has(idOf(m))), 10_000, 'carol gets every message')
  await until(() => first.every((m) => receipts(sender, 'delivered').has(idOf(m)) || receipts(before, 'delivered').has(idOf(m))), 10_000,
    'alice hears `delivered` for every one, on B for what was acked while she was away')

  // 2. the recipient's node dies mid-stream
  const before2 = gotByCarol.size
  const second = await streamAndKill(sender, () => direct(alice, 'carol'), () => gotByCarol.size > before2 + 50, C.kill)
  for (const m of second) await sender.receipt(idOf(m), 'accepted')
  t.pass(`B accepted all ${second.length} while C died`)
  const seenOnC = second.filter((m) => gotByCarol.has(idOf(m))).length
  reader = await connect(B, carolToken)
  const gotOnB = ackingReader(reader)
  await until(() => second.every((m) => gotByCarol.has(idOf(m)) || gotOnB.has(idOf(m))), 10_000, 'carol, reconnected to B, gets the rest')
  t.pass(`${seenOnC} arrived on C before it died, the rest on B`)
  await until(() => second.every((m) => receipts(sender, 'delivered').has(idOf(m))), 10_000, 'alice hears `delivered` for all of them')

  t.match(await health(B), { status: 'ok', redis: 'ok' }, 'the survivor is healthy')
  const activeUsers = async (): Promise<unknown> => await (await fetch(`${B.http}/active-users`, { headers: { authorization: `Bearer ${aliceToken}` } })).json()
  await until(async () => JSON.stringify(await activeUsers()) === JSON.stringify({ users: ['alice', 'carol'], count: 2 }), 5000,
    'the dead nodes\' entries are gone from who is online')
  const history = await fetch(`${B.http}/messages?peer=carol&limit=100`, { headers: { authorization: `Bearer ${aliceToken}` } })
  t.equal(history.status, 200)
  const rows = (await history.json() as { messages: Array<{ status: string }> }).messages
  t.ok(rows.every((m) => m.status === 'delivered'), 'every stored message is marked delivered')
})

t.test('Redis stopped and started again mid-run: each node serves its own users, then catches up by itself', { skip: NEEDS_CLUSTER !== false ? NEEDS_CLUSTER : NEEDS_REDIS_SERVER }, async (t) => {
  const redis = await redisServer(t)
  const c = await cluster(t, {}, redis.url)
  const [a, b] = [await c.start('A'), await c.start('B')]
  const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map(async (u) => await registerAndLogin(a.app, u))) as Array<{ id: Identity, token: string }>
  const aliceOnA = await a.connect(alice!)
  const bobOnA = await a.connect(bob!)
  const carolOnB = await b.connect(carol!)
  const warmup = direct(alice!.id, 'carol')
  aliceOnA.send(warmup)
  await carolOnB.envelope(idOf(warmup))
  carolOnB.ack(idOf(warmup))
  await aliceOnA.receipt(idOf(warmup), 'delivered')

  await redis.stop()
  const state = async (node: typeof a): Promise<string> => (await node.app.inject({ url: '/health' })).json<{ status: string }>().status
  await until(async () => await state(a) === 'degraded' && await state(b) === 'degraded', 5000, 'both nodes report degraded')
  t.match((await a.app.inject({ url: '/health' })).json(), { status: 'degraded', redis: 'unreachable', database: 'ok' })
  t.match((await a.app.inject({ url: '/metrics' })).body, /^sealwire_redis_up 0$/m, '/metrics says so too')

  const local = direct(alice!.id, 'bob')
  aliceOnA.send(local)
  await bobOnA.envelope(idOf(local))
  bobOnA.ack(idOf(local))
  await aliceOnA.receipt(idOf(local), 'delivered')
  t.pass('users on the same node go on talking')
  const across = direct(alice!.id, 'carol')
  aliceOnA.send(across)
  await aliceOnA.receipt(idOf(across), 'accepted')
  const row = await a.app.db.selectFrom('messages').select('status').where('id', '=', idOf(across)).executeTakeFirstOrThrow()
  // A could not relay it: nothing B has sent carol so far is it, and it waits in the database
  t.ok(row.status === 'pending' && await carolOnB.noneSoFar((f) => f.header.id === idOf(across)), 'a message to another node is stored, not yet delivered')
  const fromB = direct(carol!.id, 'alice')
  carolOnB.send(fromB)
  await carolOnB.receipt(idOf(fromB), 'accepted')
  const online = await a.app.inject({ url: '/active-users', headers: { authorization: `Bearer ${alice!.token}` } })
  t.same(online.json(), { users: ['alice', 'bob'], count: 2 }, 'who is online: this node\'s users')
  const dave = await registerAndLogin(a.app, 'dave')
  t.ok(dave.token, 'registration and the challenge login go on (challenges from the database meanwhile)')
  // erin has a WebSocket on B and a second token; both are revoked through A. B cannot hear of it, but it
  // checks tokens it does not know against the shared table
  const erin = await registerAndLogin(a.app, 'erin')
  const erinOnB = await b.connect(erin)
  const second = await login(a.app, erin.id)
  for (const token of [erin.token, second]) {
    t.equal((await a.app.inject({ method: 'POST', url: '/auth/logout', headers: { authorization: `Bearer ${token}` } })).statusCode, 204)
  }
  t.equal((await b.app.inject({ url: '/active-users', headers: { authorization: `Bearer ${second}` } })).statusCode, 401,
    'B refuses a revoked token at once, Redis or not')
  // B has answered a ping after the logouts: it had not closed the connection by then
  await erinOnB.pong()
  t.equal(erinOnB.ws.readyState, WebSocket.OPEN, 'the connection on B stays open while B cannot hear of its revocation')

  await redis.start()
  await until(async () => await state(a) === 'ok' && await state(b) === 'ok', 10_000, 'both nodes are back to ok by themselves')
  t.match((await a.app.inject({ url: '/metrics' })).body, /^sealwire_redis_up 1$/m)
  const closed = await within(erinOnB.closed, 'B closes the revoked connection')
  t.equal(closed.code, 1008, 'and once Redis is back, B closes it')
  const late = await carolOnB.next((f) => f.header.id === idOf(across) && f.header.from === 'alice')
  t.same(late.header, across.header, 'carol gets the message sent during the outage without reconnecting')
  carolOnB.ack(idOf(across))
  await aliceOnA.receipt(idOf(across), 'delivered')
  await aliceOnA.next((f) => f.header.id === idOf(fromB) && f.header.from === 'carol')
  t.pass('and alice gets the one carol sent')
  const everyone = await a.app.inject({ url: '/active-users', headers: { authorization: `Bearer ${alice!.token}` } })
  t.same(everyone.json(), { users: ['alice', 'bob', 'carol'], count: 3 }, 'who is online spans the nodes again')
  const hello = broadcast(carol!.id, 'back together')
  carolOnB.send(hello)
  await aliceOnA.envelope(idOf(hello))
  await bobOnA.envelope(idOf(hello))
  t.pass('a broadcast from B reaches A again')
})

t.test('a node started while Redis is down serves alone, degraded, and joins the others when Redis comes up', { skip: NEEDS_CLUSTER !== false ? NEEDS_CLUSTER : NEEDS_REDIS_SERVER }, async (t) => {
  const redis = await redisServer(t, false)
  const c = await cluster(t, {}, redis.url)
  const a = await c.start('A')
  t.match((await a.app.inject({ url: '/health' })).json(), { status: 'degraded', redis: 'unreachable' }, 'started, degraded')
  const alice = await registerAndLogin(a.app, 'alice')
  const bob = await registerAndLogin(a.app, 'bob')
  const aliceOnA = await a.connect(alice)
  const bobOnA = await a.connect(bob)
  const local = direct(alice.id, 'bob')
  aliceOnA.send(local)
  await bobOnA.envelope(idOf(local))
  t.pass('its own users talk')

  await redis.start()
  await until(async () => (await a.app.inject({ url: '/health' })).json<{ status: string }>().status === 'ok', 10_000, 'A joins by itself')
  const b = await c.start('B')
  const carol = await registerAndLogin(b.app, 'carol')
  const carolOnB = await b.connect(carol)
  const across = direct(carol.id, 'alice')
  carolOnB.send(across)
  await aliceOnA.envelope(idOf(across))
  t.pass('and a node started after it reaches its users')
})

t.test('PostgreSQL out of reach: nothing is accepted that is not stored, /health says 503, and it comes back by itself', { skip: NEEDS_POSTGRES }, async (t) => {
  const url = await postgresDatabaseUrl(t)
  const name = new URL(url).pathname.slice(1)
  const app = await build(t, { config: { DATABASE_URL: url, DATABASE_POOL_SIZE: 4, MESSAGE_RATE_LIMIT: 1000, MESSAGE_BURST_LIMIT: 1000 } })
  const wsUrl = await listen(app)
  const alice = await registerAndLogin(app, 'alice')
  const bob = await registerAndLogin(app, 'bob')
  const a = await TestClient.connect(wsUrl, alice.token)
  const b = await TestClient.connect(wsUrl, bob.token)
  t.teardown(async () => { await a.close(); await b.close() })

  const admin = new pg.Client({ connectionString: process.env.DATABASE_URL })
  await admin.connect()
  t.teardown(() => admin.end())
  await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`)
  await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name])

  const msg = direct(alice.id, 'bob')
  a.send(msg)
  const refused = await a.reply(idOf(msg), 'error')
  t.match(refused.body, { code: 'internal', message: 'the message was not stored; send it again' }, 'refused, not accepted')
  // a delivery goes out in the same turn as the answer to the sender, and the answer was a refusal
  t.ok(await b.noneSoFar((f) => f.header.id === idOf(msg)), 'and not delivered')
  t.equal((await app.inject({ url: '/health' })).statusCode, 503)

  await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`)
  await until(async () => (await app.inject({ url: '/health' })).statusCode === 200, 10_000, '/health is 200 again')
  a.send(msg)
  await a.receipt(idOf(msg), 'accepted')
  await b.envelope(idOf(msg))
  t.pass('the same message sent again is stored and delivered')
})
