// The broker, presence and control channel between nodes: the same tests for the in-process implementation (nodes
// on one shared bus) and the Redis one (nodes on one Redis key prefix).
import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import type { Cluster, Delivery } from '../../services/cluster/cluster.js'
import { MemoryBus, MemoryCluster } from '../../services/cluster/memory.js'
import { startRedisCluster } from '../../services/cluster/redis/index.js'
import { NEEDS_REDIS, redisPrefix } from '../databases.js'
import { TEST_JWT_SECRET } from '../helper.js'

/** Everything a node's listeners heard, in order, with a way to wait for the next thing. */
class Heard {
  readonly events: unknown[] = []
  #waiters: Array<{ match: (e: unknown) => boolean, resolve: (e: unknown) => void }> = []

  add (event: unknown): void {
    this.events.push(event)
    const i = this.#waiters.findIndex((w) => w.match(event))
    if (i >= 0) this.#waiters.splice(i, 1)[0]?.resolve(event)
  }

  /** The first event from now on that matches; fails the test after 30 s (a bound on a failure, not a wait). */
  async next (match: (e: unknown) => boolean): Promise<unknown> {
    const already = this.events.findIndex(match)
    if (already >= 0) return this.events.splice(already, 1)[0]
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not heard within 30 s; heard ${JSON.stringify(this.events)}`)), 30_000)
      this.#waiters.push({ match, resolve: (e) => { clearTimeout(timer); this.events.splice(this.events.indexOf(e), 1); resolve(e) } })
    })
  }
}

interface Node { cluster: Cluster, heard: Heard }

function listen (cluster: Cluster): Node {
  const heard = new Heard()
  cluster.broker.onDelivery((d: Delivery) => heard.add({ delivery: d }))
  cluster.presence.onChange((users, status) => heard.add({ presence: { users, status } }))
  cluster.control.onRevoke((jti) => heard.add({ revoke: jti }))
  cluster.control.onResync((users) => heard.add({ resync: users }))
  return { cluster, heard }
}

const silent = { info () {}, warn () {}, error () {}, debug () {} }

const implementations: Array<{ name: string, skip: string | false, nodes: (t: Test, n: number) => Promise<Node[]> }> = [
  {
    name: 'memory',
    skip: false,
    nodes: async (_t, n) => {
      const bus = new MemoryBus()
      return Array.from({ length: n }, () => listen(new MemoryCluster(randomUUID(), bus)))
    }
  },
  {
    name: 'redis',
    skip: NEEDS_REDIS,
    nodes: async (t, n) => {
      const url = process.env.REDIS_URL as string
      const prefix = redisPrefix(t, url)
      const nodes: Node[] = []
      for (let i = 0; i < n; i++) {
        const cluster = await startRedisCluster({ url, prefix, nodeId: randomUUID(), nodeTtlMs: 5000, secret: TEST_JWT_SECRET, log: silent })
        t.teardown(() => cluster.close())
        nodes.push(listen(cluster))
      }
      return nodes
    }
  }
]

const isDelivery = (kind: string, id?: string) => (e: unknown): boolean => {
  const d = (e as { delivery?: { kind: string, id?: string, frame?: string } }).delivery
  return d?.kind === kind && (id === undefined || d.id === id || d.frame === id)
}
const isPresence = (user: string, status: string) => (e: unknown): boolean => {
  const p = (e as { presence?: { users: string[], status: string } }).presence
  return p?.status === status && p.users.includes(user)
}

for (const impl of implementations) {
  t.test(`${impl.name}: deliveries reach the nodes where the user is subscribed, and no other`, { skip: impl.skip }, async (t) => {
    const [a, b, c] = await impl.nodes(t, 3) as [Node, Node, Node]
    await b.cluster.broker.subscribe('bob')
    await c.cluster.broker.subscribe('carol')
    a.cluster.broker.toUser({ kind: 'receipt', to: 'bob', id: randomUUID() })
    const first = randomUUID()
    a.cluster.broker.toUser({ kind: 'receipt', to: 'bob', id: first })
    await b.heard.next(isDelivery('receipt', first))
    // carol's delivery is published after bob's: once it is at C, bob's would be there too had it gone to C
    const barrier = randomUUID()
    a.cluster.broker.toUser({ kind: 'receipt', to: 'carol', id: barrier })
    await c.heard.next(isDelivery('receipt', barrier))
    t.notOk(c.heard.events.some(isDelivery('receipt')), 'the node without bob got none of his')
    t.notOk(a.heard.events.some(isDelivery('receipt')), 'the sending node gets nothing back: it served its own connections')

    b.cluster.broker.unsubscribe('bob')
    await c.cluster.broker.subscribe('bob')
    const later = randomUUID()
    a.cluster.broker.toUser({ kind: 'direct', to: 'bob', seq: 7, frame: later })
    await c.heard.next(isDelivery('direct', later))
    const barrierB = randomUUID()
    await b.cluster.broker.subscribe('bert')
    a.cluster.broker.toUser({ kind: 'receipt', to: 'bert', id: barrierB })
    await b.heard.next(isDelivery('receipt', barrierB))
    t.notOk(b.heard.events.some(isDelivery('direct', later)), 'an unsubscribed node no longer gets the user\'s deliveries')
  })

  t.test(`${impl.name}: a broadcast reaches every other node`, { skip: impl.skip }, async (t) => {
    const [a, b, c] = await impl.nodes(t, 3) as [Node, Node, Node]
    a.cluster.broker.toAll({ kind: 'broadcast', frame: 'hello' })
    await b.heard.next(isDelivery('broadcast', 'hello'))
    await c.heard.next(isDelivery('broadcast', 'hello'))
    // a's own broadcast would have come back before b's, which a publishes on the same channel after it
    b.cluster.broker.toAll({ kind: 'broadcast', frame: 'from b' })
    await a.heard.next(isDelivery('broadcast', 'from b'))
    t.notOk(a.heard.events.some(isDelivery('broadcast', 'hello')), 'not back to the node that sent it')
  })

  t.test(`${impl.name}: presence is news only for a user's first and last connection across nodes`, { skip: impl.skip }, async (t) => {
    const [a, b] = await impl.nodes(t, 2) as [Node, Node]
    a.cluster.presence.join('alice')
    await a.heard.next(isPresence('alice', 'online'))
    await b.heard.next(isPresence('alice', 'online'))
    b.cluster.presence.join('alice')
    b.cluster.presence.join('carol')
    // b handles carol after alice: an announcement of alice's second node would be heard before carol's
    await b.heard.next(isPresence('carol', 'online'))
    t.notOk(b.heard.events.some(isPresence('alice', 'online')), 'a second node is not news')
    t.same((await b.cluster.presence.online()).sort(), ['alice', 'carol'])
    t.same((await a.cluster.presence.online()).sort(), ['alice', 'carol'], 'the same answer on every node')

    a.cluster.presence.leave('alice')
    b.cluster.presence.leave('carol')
    await b.heard.next(isPresence('carol', 'offline'))
    t.notOk(b.heard.events.some(isPresence('alice', 'offline')), 'leaving one of two nodes is not news')
    b.cluster.presence.leave('alice')
    await a.heard.next(isPresence('alice', 'offline'))
    t.same(await a.cluster.presence.online(), [])
  })

  t.test(`${impl.name}: a revocation reaches the other nodes`, { skip: impl.skip }, async (t) => {
    const [a, b, c] = await impl.nodes(t, 3) as [Node, Node, Node]
    const jti = randomUUID()
    a.cluster.control.revoke(jti, Date.now() + 60_000)
    t.same(await b.heard.next((e) => (e as { revoke?: string }).revoke === jti), { revoke: jti })
    t.same(await c.heard.next((e) => (e as { revoke?: string }).revoke === jti), { revoke: jti })
    const barrier = randomUUID()
    b.cluster.control.revoke(barrier, Date.now() + 60_000)
    await a.heard.next((e) => (e as { revoke?: string }).revoke === barrier)
    t.notOk(a.heard.events.some((e) => (e as { revoke?: string }).revoke === jti), 'not back to the node that revoked')
  })
}
