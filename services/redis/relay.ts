import { createHmac, timingSafeEqual } from 'node:crypto'
import type { Redis, Result } from 'ioredis'
import { Compile } from 'typebox/compile'
import { RelayPacket, type ClusterDelivery, type Delivery, type UserDelivery } from '../../schemas/relay.js'
import type { ServiceLog } from '../log.js'
import { Listeners, type Relay } from '../relay.js'

// Keys, all under the prefix:
//   nodes                 SET of node ids that registered
//   node:<id>             "1" while the node lives (renewed every TTL / 3, expires after TTL)
//   node:<id>:users       SET of users connected to that node
// Channels: user:<user_id> (direct messages and receipts for that user), all (everything else).
// The scripts read other nodes' keys by name, so this needs a standalone Redis, not Redis Cluster.
// A packet on a channel is `<HMAC-SHA256 of the JSON, base64url>.<JSON>`, keyed by a secret every node shares:
// whoever else can publish on that Redis cannot hand frames to users' sockets or close their connections.

const NODE_KEY = "local function node(n) return ARGV[1] .. 'node:' .. n end\n"

/** KEYS nodes, own users; ARGV prefix, own id, user. Adds the user here; 1 when no other live node has it. */
const JOIN = `${NODE_KEY}
redis.call('SADD', KEYS[2], ARGV[3])
for _, n in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if n ~= ARGV[2] and redis.call('EXISTS', node(n)) == 1 and redis.call('SISMEMBER', node(n) .. ':users', ARGV[3]) == 1 then return 0 end
end
return 1`

/** The same, removing the user: 1 when no other live node has it either. */
const LEAVE = JOIN.replace("'SADD'", "'SREM'")

/** KEYS nodes; ARGV prefix. The users of every live node. */
const ONLINE = `${NODE_KEY}
local sets = {}
for _, n in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', node(n)) == 1 then table.insert(sets, node(n) .. ':users') end
end
if #sets == 0 then return {} end
return redis.call('SUNION', unpack(sets))`

/**
 * KEYS nodes, own alive key, own users; ARGV prefix, own id, TTL, users TTL. Renews this node, then claims
 * every node whose alive key has expired: it is removed, and its users that no live node has are returned.
 * Returns {1 if this node's key was still there, dead id, {users}, dead id, {users}, ...}; the script runs
 * alone, so each dead node is claimed by one node only.
 */
const HEARTBEAT = `${NODE_KEY}
local existed = redis.call('EXISTS', KEYS[2])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
redis.call('SADD', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
local live, dead = {}, {}
for _, n in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', node(n)) == 1 then table.insert(live, n) else table.insert(dead, n) end
end
local out = {existed}
for _, n in ipairs(dead) do
  redis.call('SREM', KEYS[1], n)
  local gone = {}
  for _, u in ipairs(redis.call('SMEMBERS', node(n) .. ':users')) do
    local elsewhere = false
    for _, m in ipairs(live) do
      if redis.call('SISMEMBER', node(m) .. ':users', u) == 1 then elsewhere = true break end
    end
    if not elsewhere then table.insert(gone, u) end
  end
  redis.call('DEL', node(n) .. ':users')
  table.insert(out, n)
  table.insert(out, gone)
end
return out`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    sealwireJoin: (nodes: string, users: string, prefix: string, nodeId: string, userId: string) => Result<number, Context>
    sealwireLeave: (nodes: string, users: string, prefix: string, nodeId: string, userId: string) => Result<number, Context>
    sealwireOnline: (nodes: string, prefix: string) => Result<string[], Context>
    sealwireHeartbeat: (nodes: string, alive: string, users: string, prefix: string, nodeId: string, ttlMs: number, usersTtlMs: number) => Result<Array<number | string | string[]>, Context>
  }
}

export interface RedisRelayOptions {
  /** signs and checks every packet; the same on every node (derived from JWT_SECRET) */
  packetKey: Uint8Array
  /** commands and PUBLISH; created with enableOfflineQueue: false so that nothing waits on a lost server */
  command: Redis
  /** SUBSCRIBE only */
  subscriber: Redis
  prefix: string
  nodeId: string
  /** a node that has not renewed its entry for this long is taken for dead */
  nodeTtlMs: number
  log: ServiceLog
  /** how long a join waits for Redis to confirm the subscription before it goes on without it */
  joinTimeoutMs?: number
}

const packetValidator = Compile(RelayPacket)
/** channels or set members per command */
const CHUNK = 1000
/** users whose deliveries were lost, remembered one by one up to this many; beyond it everyone resyncs */
const MAX_MISSED = 10_000
/** base64url of an HMAC-SHA256, then the dot */
const MAC_LENGTH = 43

function chunks<T> (items: T[]): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK))
  return out
}

async function within<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer from Redis within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * The relay across nodes over Redis pub/sub. Deliveries for this node's own users go to its listeners at
 * once; the same delivery is published for the other nodes. While Redis is out of reach the node serves its
 * own users alone and remembers whose deliveries it could not publish; when Redis is back it subscribes and
 * registers again, asks the other nodes to resync those users, and resyncs its own (everything accepted is
 * in the database, so nothing is lost, only late).
 */
export class RedisRelay implements Relay {
  readonly nodeId: string
  readonly #o: RedisRelayOptions
  readonly #listeners: Listeners
  readonly #keys: { nodes: string, alive: string, users: string, all: string }
  /** users with connections here */
  readonly #local = new Set<string>()
  /** users this node has subscribed to and listed in Redis */
  #registered = new Set<string>()
  readonly #missed = new Set<string>()
  #missedAll = false
  /** revocations this node could not publish: the other nodes must still close those tokens' connections */
  #missedRevokes: Delivery[] = []
  #healthy = false
  #closed = false
  #recovering: Promise<void> | undefined
  /** counts lost connections, so that a registration during which one dropped is not taken for done */
  #generation = 0
  /** SUBSCRIBE commands not confirmed yet, by user */
  readonly #subscribing = new Map<string, Promise<void>>()
  #timer: NodeJS.Timeout | undefined
  /** how this node's own packets' JSON begins (JSON.stringify keeps the key order of #packet) */
  readonly #echo: string

  constructor (options: RedisRelayOptions) {
    this.#o = options
    this.nodeId = options.nodeId
    const p = options.prefix
    this.#keys = { nodes: `${p}nodes`, alive: `${p}node:${options.nodeId}`, users: `${p}node:${options.nodeId}:users`, all: `${p}all` }
    this.#listeners = new Listeners((err, delivery) => options.log.error({ err, delivery: delivery.kind }, 'a relay listener failed'))
    this.#echo = `{"node":${JSON.stringify(options.nodeId)},`

    const { command, subscriber } = options
    command.defineCommand('sealwireJoin', { numberOfKeys: 2, lua: JOIN })
    command.defineCommand('sealwireLeave', { numberOfKeys: 2, lua: LEAVE })
    command.defineCommand('sealwireOnline', { numberOfKeys: 1, lua: ONLINE })
    command.defineCommand('sealwireHeartbeat', { numberOfKeys: 3, lua: HEARTBEAT })
    subscriber.on('message', (_channel: string, text: string) => this.#receive(text))
    for (const client of [command, subscriber]) {
      client.on('ready', () => { void this.#recover() })
      client.on('close', () => {
        this.#generation++
        this.#degrade(new Error('connection to Redis lost'))
      })
    }
  }

  get state (): 'ok' | 'degraded' {
    return this.#healthy ? 'ok' : 'degraded'
  }

  /** Registers this node (when Redis answers) and starts renewing its entry. */
  async start (): Promise<void> {
    await this.#recover()
    this.#timer = setInterval(() => { void this.#tick() }, Math.max(200, Math.floor(this.#o.nodeTtlMs / 3)))
    this.#timer.unref()
  }

  async join (userId: string): Promise<void> {
    this.#local.add(userId)
    if (this.#recovering !== undefined) await this.#recovering
    if (!this.#local.has(userId)) return
    if (!this.#healthy) {
      this.#listeners.emit({ kind: 'presence', users: [userId], status: 'online' })
      return
    }
    if (!this.#registered.has(userId)) {
      this.#registered.add(userId)
      this.#announce(userId, 'online')
      this.#subscribe(userId)
    }
    const pending = this.#subscribing.get(userId)
    if (pending === undefined) return
    try {
      await within(pending, this.#o.joinTimeoutMs ?? 2000, 'SUBSCRIBE')
    } catch (err) {
      // the recovery subscribes again and resyncs this node's users, this one included
      this.#degrade(err)
    }
  }

  leave (userId: string): void {
    if (!this.#local.delete(userId)) return
    if (!this.#healthy) {
      this.#listeners.emit({ kind: 'presence', users: [userId], status: 'offline' })
      return
    }
    if (!this.#registered.delete(userId)) return
    this.#o.subscriber.unsubscribe(this.#userChannel(userId)).catch((err: unknown) => this.#degrade(err))
    this.#announce(userId, 'offline')
  }

  toUser (delivery: UserDelivery): void {
    this.#listeners.emit(delivery)
    this.#publish(this.#userChannel(delivery.to), delivery, delivery.to)
  }

  toAll (delivery: ClusterDelivery): void {
    this.#listeners.emit(delivery)
    this.#publish(this.#keys.all, delivery)
  }

  async online (): Promise<string[]> {
    if (this.#healthy) {
      try {
        return await this.#o.command.sealwireOnline(this.#keys.nodes, this.#o.prefix)
      } catch (err) {
        // a slow answer is not a lost Redis: this node's own users stand in for once
        this.#o.log.warn({ err }, 'who is online: Redis did not answer; this node\'s users only')
      }
    }
    return [...this.#local]
  }

  onDelivery (listener: (delivery: Delivery) => void): void {
    this.#listeners.add(listener)
  }

  /** Leaves the cluster: the other nodes see this node's users go now rather than after the TTL. */
  async close (): Promise<void> {
    this.#closed = true
    clearInterval(this.#timer)
    await this.#recovering
    const { command, subscriber } = this.#o
    if (this.#healthy) {
      this.#healthy = false
      try {
        await command.multi().srem(this.#keys.nodes, this.nodeId).del(this.#keys.alive, this.#keys.users).exec()
      } catch (err) {
        this.#o.log.warn({ err }, 'could not remove this node from Redis; the others will after its TTL')
      }
    }
    for (const client of [command, subscriber]) {
      if (client.status === 'ready') await client.quit().catch(() => client.disconnect())
      else client.disconnect()
    }
  }

  // ---- inside ------------------------------------------------------------------------------------

  #userChannel (userId: string): string {
    return `${this.#o.prefix}user:${userId}`
  }

  #subscribe (userId: string): void {
    const subscribed = this.#o.subscriber.subscribe(this.#userChannel(userId)).then(() => {}, (err: unknown) => this.#degrade(err))
    this.#subscribing.set(userId, subscribed)
    void subscribed.finally(() => {
      if (this.#subscribing.get(userId) === subscribed) this.#subscribing.delete(userId)
    })
  }

  #publish (channel: string, delivery: Delivery, missedUser?: string): void {
    if (!this.#healthy) {
      this.#miss(missedUser, delivery)
      return
    }
    this.#o.command.publish(channel, this.#packet(delivery)).catch((err: unknown) => {
      this.#miss(missedUser, delivery)
      this.#degrade(err)
    })
  }

  #packet (delivery: Delivery): string {
    const packet: RelayPacket = { node: this.nodeId, delivery }
    const json = JSON.stringify(packet)
    return `${this.#mac(json)}.${json}`
  }

  #mac (json: string): string {
    return createHmac('sha256', this.#o.packetKey).update(json).digest('base64url')
  }

  /**
   * Tells the other nodes whose deliveries this node could not publish, so that they resync those users, and
   * which tokens it revoked meanwhile.
   */
  #flushMissed (): void {
    const revokes = this.#missedRevokes
    this.#missedRevokes = []
    for (const delivery of revokes) this.#publish(this.#keys.all, delivery)
    if (!this.#missedAll && this.#missed.size === 0) return
    const lists: Array<string[] | 'all'> = this.#missedAll ? ['all'] : chunks([...this.#missed])
    this.#missed.clear()
    this.#missedAll = false
    for (const users of lists) {
      this.#o.command.publish(this.#keys.all, this.#packet({ kind: 'resync', users })).catch((err: unknown) => {
        if (users === 'all') this.#missedAll = true
        else for (const userId of users) this.#miss(userId)
        this.#degrade(err)
      })
    }
  }

  #miss (userId: string | undefined, delivery?: Delivery): void {
    if (delivery?.kind === 'revoke' && this.#missedRevokes.length < MAX_MISSED) this.#missedRevokes.push(delivery)
    if (userId === undefined || this.#missedAll) return
    if (this.#missed.size >= MAX_MISSED) this.#missedAll = true
    else this.#missed.add(userId)
  }

  #announce (userId: string, status: 'online' | 'offline'): void {
    const script = status === 'online' ? this.#o.command.sealwireJoin : this.#o.command.sealwireLeave
    script.call(this.#o.command, this.#keys.nodes, this.#keys.users, this.#o.prefix, this.nodeId, userId).then((alone) => {
      if (alone === 1) this.toAll({ kind: 'presence', users: [userId], status })
    }, (err: unknown) => this.#degrade(err))
  }

  #receive (text: string): void {
    // this node's own deliveries come back on the channels it listens to; they were handed over already
    if (text.startsWith(this.#echo, MAC_LENGTH + 1)) return
    const json = text.slice(MAC_LENGTH + 1)
    const mac = Buffer.from(text.slice(0, MAC_LENGTH))
    const expected = Buffer.from(this.#mac(json))
    if (text[MAC_LENGTH] !== '.' || mac.length !== expected.length || !timingSafeEqual(mac, expected)) {
      this.#o.log.warn({}, 'a relay message without a valid signature was ignored (another JWT_SECRET, or not from a node)')
      return
    }
    let packet: unknown
    try {
      packet = JSON.parse(json)
    } catch {
      this.#o.log.warn({}, 'a relay message that is not JSON was ignored')
      return
    }
    if (!packetValidator.Check(packet)) {
      this.#o.log.warn({}, 'a relay message of an unknown shape was ignored')
      return
    }
    if (packet.node === this.nodeId) return
    this.#listeners.emit(packet.delivery)
  }

  #degrade (err: unknown): void {
    if (!this.#healthy || this.#closed) return
    this.#healthy = false
    this.#o.log.warn({ err }, 'Redis is out of reach: this node serves its own users alone until it is back')
  }

  async #tick (): Promise<void> {
    if (this.#closed || this.#recovering !== undefined) return
    if (!this.#healthy) {
      await this.#recover()
      return
    }
    let reply: Array<number | string | string[]>
    try {
      reply = await this.#o.command.sealwireHeartbeat(this.#keys.nodes, this.#keys.alive, this.#keys.users,
        this.#o.prefix, this.nodeId, this.#o.nodeTtlMs, this.#o.nodeTtlMs * 4)
    } catch (err) {
      this.#degrade(err)
      return
    }
    const claimed: string[] = []
    for (let i = 1; i + 1 < reply.length; i += 2) {
      claimed.push(String(reply[i]))
      const gone = reply[i + 1]
      for (const users of chunks(Array.isArray(gone) ? gone : [])) this.toAll({ kind: 'presence', users, status: 'offline' })
    }
    if (claimed.length > 0) {
      this.#o.log.warn({ nodes: claimed }, 'nodes stopped renewing their entry and are taken for dead; every node resyncs its users')
      // a node that died between storing a message and publishing it leaves it undelivered until a resync
      this.toAll({ kind: 'resync', users: 'all' })
    }
    if (reply[0] !== 1) {
      // this node's entry had expired: the others took it for dead (a long pause) or Redis lost its data
      this.#degrade(new Error('this node\'s entry in Redis had expired'))
      await this.#recover()
    }
  }

  async #recover (): Promise<void> {
    if (this.#closed) return
    if (this.#recovering !== undefined) return await this.#recovering
    const { command, subscriber } = this.#o
    if (command.status !== 'ready' || subscriber.status !== 'ready') return
    const generation = this.#generation
    this.#recovering = (async () => {
      try {
        const users = [...this.#local]
        for (const channels of chunks([this.#keys.all, ...users.map((u) => this.#userChannel(u))])) {
          await subscriber.subscribe(...channels)
        }
        const register = command.multi()
          .set(this.#keys.alive, '1', 'PX', this.#o.nodeTtlMs)
          .sadd(this.#keys.nodes, this.nodeId)
          .del(this.#keys.users)
        for (const members of chunks(users)) register.sadd(this.#keys.users, ...members)
        await register.pexpire(this.#keys.users, this.#o.nodeTtlMs * 4).exec()
        this.#registered = new Set(users)
        // a subscription made on a connection that has dropped since is gone with it
        if (this.#generation !== generation) throw new Error('a connection to Redis dropped during the registration')
        this.#healthy = true
        this.#o.log.info({ node: this.nodeId, users: users.length }, 'Redis reachable: this node is registered and relays to the others')
        // the other nodes may have missed deliveries this node could not publish
        this.#flushMissed()
        this.#reconcile()
        // and this node may have missed what the others published
        this.#listeners.emit({ kind: 'resync', users: 'all' })
      } catch (err) {
        this.#o.log.warn({ err }, 'Redis answered but registering this node failed; trying again')
      } finally {
        this.#recovering = undefined
      }
    })()
    await this.#recovering
    // a connection came back while the registration ran: register on it
    if (!this.#healthy && this.#generation !== generation) setImmediate(() => { void this.#recover() })
  }

  /** Users who came or went while the registration ran. */
  #reconcile (): void {
    for (const userId of this.#registered) {
      if (this.#local.has(userId)) continue
      this.#registered.delete(userId)
      this.#o.subscriber.unsubscribe(this.#userChannel(userId)).catch((err: unknown) => this.#degrade(err))
      this.#announce(userId, 'offline')
    }
    for (const userId of this.#local) {
      if (this.#registered.has(userId)) continue
      this.#registered.add(userId)
      this.#subscribe(userId)
      this.#announce(userId, 'online')
    }
  }
}
