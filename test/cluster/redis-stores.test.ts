// What the nodes share in Redis besides the relay, against the real Redis of REDIS_URL: login challenges and
// the HTTP rate limiter's counters, each with its fallback for while Redis is out of reach.
import { createHmac } from 'node:crypto'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { ChallengeStore } from '../../services/challenges.js'
import { RedisChallenges } from '../../services/cluster/redis/challenges.js'
import { sharedRateLimitStore } from '../../services/cluster/redis/rate-limit-store.js'
import { NEEDS_CLUSTER, NEEDS_REDIS, redisPrefix, testDatabases } from '../databases.js'
import { registerAndLogin } from '../helper.js'
import { direct, idOf } from '../ws-client.js'
import { until } from '../until.js'
import { cluster } from './nodes.js'

function redis (t: Test): Redis {
  const client = new Redis(process.env.REDIS_URL as string)
  t.teardown(() => client.disconnect())
  return client
}

t.test('challenges in Redis: once, for their user only, expiring, five at most; the database while Redis is out', { skip: NEEDS_CLUSTER }, async (t) => {
  const db = await testDatabases[1]!.open(t)
  const client = redis(t)
  const prefix = redisPrefix(t, process.env.REDIS_URL as string)
  let up = true
  const fallback = new ChallengeStore(db)
  const store = new RedisChallenges({ redis: client, prefix, up: () => up, fallback, ttlMs: 300 })

  const { challenge, expires_at: expiresAt } = await store.issue('alice')
  t.match(challenge, /^[A-Za-z0-9+/]{43}=$/, '32 random bytes in base64')
  t.ok(Date.parse(expiresAt) - Date.now() <= 300 && Date.parse(expiresAt) > Date.now())
  t.ok(await client.exists(`${prefix}challenge:${challenge}`), 'kept in Redis')
  t.equal(await store.consume('alice', challenge), true)
  t.equal(await store.consume('alice', challenge), false, 'once only')

  const foreign = await store.issue('bob')
  t.equal(await store.consume('alice', foreign.challenge), false, 'not for another user')
  t.equal(await store.consume('bob', foreign.challenge), false, 'and spent by that attempt')

  const old = await store.issue('alice')
  await until(async () => await client.exists(`${prefix}challenge:${old.challenge}`) === 0, 'Redis lets the challenge expire')
  t.equal(await store.consume('alice', old.challenge), false, 'expired after its TTL')

  const issued = []
  for (let i = 0; i < 7; i++) issued.push((await store.issue('carol')).challenge)
  t.equal(await client.llen(`${prefix}challenges:carol`), 5, 'five kept per user')
  t.same(await Promise.all(issued.map(async (c) => await store.consume('carol', c))), [false, false, true, true, true, true, true], 'the two oldest dropped')

  up = false
  const offline = await store.issue('dave')
  t.notOk(await client.exists(`${prefix}challenge:${offline.challenge}`), 'while Redis is out: not in Redis')
  t.ok(await db.selectFrom('challenges').select('user_id').where('challenge', '=', offline.challenge).executeTakeFirst(), 'but in the database')
  up = true
  t.equal(await store.consume('dave', offline.challenge), true, 'and answered from there once Redis is back')
  t.equal(await store.consume('dave', offline.challenge), false)
})

t.test('the HTTP limiter counts in Redis across stores, and alone while Redis is out', { skip: NEEDS_REDIS }, async (t) => {
  const client = redis(t)
  const prefix = redisPrefix(t, process.env.REDIS_URL as string)
  let up = true
  const Store = sharedRateLimitStore(client, prefix, () => up)
  const route = { routeInfo: { method: 'POST', url: '/auth/login' } } as unknown as Parameters<InstanceType<typeof Store>['child']>[0]
  const nodeA = new Store({}).child(route)
  const nodeB = new Store({}).child(route)
  const incr = async (store: InstanceType<typeof Store>): Promise<{ current: number, ttl: number }> =>
    await new Promise((resolve, reject) => store.incr('198.51.100.7', (err, res) => err === null && res !== undefined ? resolve(res) : reject(err), 500, 3))
  t.match(await incr(nodeA), { current: 1 })
  t.match(await incr(nodeB), { current: 2 }, 'the second node sees the first one\'s count')
  const third = await incr(nodeA)
  t.equal(third.current, 3)
  t.ok(third.ttl > 0 && third.ttl <= 500, 'within the window')
  // the window ends when Redis expires its counter
  await until(async () => (await client.keys(`${prefix}rate:*`)).length === 0, 'the window\'s counter expires')
  t.match(await incr(nodeB), { current: 1 }, 'a new window')

  up = false
  t.match(await incr(nodeA), { current: 1 }, 'Redis out of reach: each node counts alone')
  t.match(await incr(nodeA), { current: 2 })
  t.match(await incr(nodeB), { current: 1 })
})

t.test('the relay ignores what is not a packet signed by a node, and goes on', { skip: NEEDS_CLUSTER }, async (t) => {
  const c = await cluster(t)
  const [a, b] = [await c.start('A'), await c.start('B')]
  const alice = await registerAndLogin(a.app, 'alice')
  const bob = await registerAndLogin(a.app, 'bob')
  const onA = await a.connect(alice)
  const onB = await b.connect(bob)
  const client = redis(t)
  // a well-formed direct frame for bob, a revocation and a resync, as a node would send them, but not signed
  // with the nodes' key (derived from JWT_SECRET): whoever else can publish on this Redis cannot use them
  const forged = [
    { node: 'x', delivery: { kind: 'direct', to: 'bob', seq: 1, frame: JSON.stringify({ header: { from: 'server', message_type: 'error' }, body: { code: 'forged' } }) } },
    { node: 'x', delivery: { kind: 'revoke', jti: 'anything', expires_at_ms: Date.now() + 60_000 } },
    { node: 'x', delivery: { kind: 'resync', users: 'all' } }
  ].map((p) => JSON.stringify(p))
  const signed = (json: string): string => `${createHmac('sha256', 'not the key').update(json).digest('base64url')}.${json}`
  for (const channel of [`${c.prefix}all`, `${c.prefix}user:bob`]) {
    for (const junk of ['not json', '{}', ...forged, ...forged.map(signed), `${'A'.repeat(43)}.not json`]) {
      await client.publish(channel, junk)
    }
  }
  // a real delivery published after the junk comes after it on B's subscription: it is the marker
  const msg = direct(alice.id, 'bob')
  onA.send(msg)
  t.ok(await onB.noneBefore(() => true, (f) => f.header.id === idOf(msg) && f.header.from === 'alice'), 'nothing reaches a client')
  t.match((await b.app.inject({ url: '/health' })).json(), { status: 'ok', redis: 'ok' }, 'and the node stays healthy')
})
