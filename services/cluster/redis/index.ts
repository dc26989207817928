import { hkdfSync } from 'node:crypto'
import type { FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import { Redis } from 'ioredis'
import type { Challenges } from '../../challenges.js'
import type { ServiceLog } from '../../log.js'
import type { Cluster } from '../cluster.js'
import { RedisBroker } from './broker.js'
import { RedisChallenges } from './challenges.js'
import { RedisControl } from './control.js'
import { chunks, RedisLink } from './link.js'
import { RedisPresence } from './presence.js'
import { sharedRateLimitStore } from './rate-limit-store.js'

export interface RedisClusterOptions {
  url: string
  prefix: string
  nodeId: string
  /** a node that has not renewed its entry for this long is taken for dead */
  nodeTtlMs: number
  /** JWT_SECRET, which every node shares: packets between nodes are signed with a key derived from it */
  secret: string
  log: ServiceLog & { debug: (obj: object, msg: string) => void }
  /** where challenges go while Redis is out of reach */
  challengeFallback: Challenges
  /** how long the start waits for Redis before the node starts without it (degraded) */
  connectTimeoutMs?: number
  /** how long a first connection waits for Redis to confirm its subscription before it goes on without it */
  joinTimeoutMs?: number
}

/**
 * This node among the others, through Redis. While Redis is out of reach the node serves its own users alone
 * and remembers whose deliveries it could not publish; when Redis is back it subscribes and registers again,
 * asks the other nodes to resync those users, and resyncs its own (everything accepted is in the database,
 * so nothing is lost, only late).
 */
export class RedisCluster implements Cluster {
  readonly nodeId: string
  readonly broker: RedisBroker
  readonly presence: RedisPresence
  readonly control: RedisControl
  readonly link: RedisLink
  readonly #ttlMs: number
  #timer: NodeJS.Timeout | undefined

  constructor (link: RedisLink, o: { nodeTtlMs: number, joinTimeoutMs?: number }) {
    this.link = link
    this.nodeId = link.nodeId
    this.#ttlMs = o.nodeTtlMs
    this.broker = new RedisBroker(link, o.joinTimeoutMs ?? 2000)
    this.presence = new RedisPresence(link, o.nodeTtlMs)
    this.control = new RedisControl(link)
    for (const client of [link.command, link.subscriber]) {
      client.on('ready', () => { void this.#recover() })
      client.on('close', () => {
        link.generation++
        link.degrade(new Error('connection to Redis lost'))
      })
    }
  }

  get state (): 'ok' | 'degraded' {
    return this.link.healthy ? 'ok' : 'degraded'
  }

  /** Registers this node (when Redis answers) and starts renewing its entry. */
  async start (): Promise<void> {
    await this.#recover()
    this.#timer = setInterval(() => { void this.#tick() }, Math.max(200, Math.floor(this.#ttlMs / 3)))
    this.#timer.unref()
  }

  /** Leaves the cluster: the other nodes see this node's users go now rather than after the TTL. */
  async close (): Promise<void> {
    clearInterval(this.#timer)
    const link = this.link
    link.closed = true
    await link.recovering
    if (link.release()) {
      try {
        await this.presence.deregister()
      } catch (err) {
        link.log.warn({ err }, 'could not remove this node from Redis; the others will after its TTL')
      }
    }
    for (const client of [link.command, link.subscriber]) {
      if (client.status === 'ready') await client.quit().catch(() => client.disconnect())
      else client.disconnect()
    }
  }

  async #tick (): Promise<void> {
    const link = this.link
    if (link.closed || link.recovering !== undefined) return
    if (!link.healthy) {
      await this.#recover()
      return
    }
    let beat
    try {
      beat = await this.presence.heartbeat()
    } catch (err) {
      link.degrade(err)
      return
    }
    for (const { gone } of beat.claimed) {
      for (const users of chunks(gone)) this.presence.announce(users, 'offline')
    }
    if (beat.claimed.length > 0) {
      link.log.warn({ nodes: beat.claimed.map((c) => c.node) }, 'nodes stopped renewing their entry and are taken for dead; every node resyncs its users')
      // a node that died between storing a message and publishing it leaves it undelivered until a resync
      this.control.askResync('all')
      this.control.resyncHere('all')
    }
    if (!beat.existed) {
      // this node's entry had expired: the others took it for dead (a long pause) or Redis lost its data
      link.degrade(new Error('this node\'s entry in Redis had expired'))
      await this.#recover()
    }
  }

  async #recover (): Promise<void> {
    const link = this.link
    if (link.closed) return
    if (link.recovering !== undefined) return await link.recovering
    const { command, subscriber } = link
    if (command.status !== 'ready' || subscriber.status !== 'ready') return
    const generation = link.generation
    link.recovering = (async () => {
      try {
        const { users: subscribed, channels } = this.broker.channelsToRestore()
        for (const batch of chunks([link.allChannel, ...channels])) await subscriber.subscribe(...batch)
        const registration = command.multi()
        const registered = this.presence.register(registration)
        await registration.exec()
        this.broker.restored(subscribed)
        this.presence.registered(registered)
        // a subscription made on a connection that has dropped since is gone with it
        if (link.generation !== generation) throw new Error('a connection to Redis dropped during the registration')
        link.markHealthy()
        link.log.info({ node: link.nodeId, users: registered.length }, 'Redis reachable: this node is registered and relays to the others')
        // the other nodes may have missed what this node could not publish
        this.control.flushRevokes()
        for (const users of this.broker.takeMissed()) this.control.askResync(users, () => this.broker.missedAgain(users))
        this.presence.reconcile()
        this.broker.reconcile()
        // and this node may have missed what the others published
        this.control.resyncHere('all')
      } catch (err) {
        link.log.warn({ err }, 'Redis answered but registering this node failed; trying again')
      } finally {
        link.recovering = undefined
      }
    })()
    await link.recovering
    // a connection came back while the registration ran: register on it
    if (!link.healthy && link.generation !== generation) setImmediate(() => { void this.#recover() })
  }
}

export interface RedisShared {
  cluster: RedisCluster
  challenges: Challenges
  rateLimitStore: FastifyRateLimitStoreCtor
}

function client (url: string, role: 'command' | 'subscriber', log: RedisClusterOptions['log']): Redis {
  const redis = new Redis(url, {
    connectionName: `sealwire-${role}`,
    // a command to a lost server fails at once instead of waiting in a queue: the node goes on without it
    enableOfflineQueue: false,
    // the cluster subscribes again itself, and resyncs what it may have missed meanwhile
    autoResubscribe: false,
    // many PUBLISH of one turn in one write
    enableAutoPipelining: role === 'command',
    commandTimeout: 3000,
    connectTimeout: 5000,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000)
  })
  // errors come with every failed reconnection; the cluster reports the state once
  redis.on('error', (err: Error) => log.debug({ err, role }, 'Redis connection error'))
  return redis
}

async function ready (redis: Redis, ms: number): Promise<boolean> {
  if (redis.status === 'ready') return true
  return await new Promise((resolve) => {
    const timer = setTimeout(() => { redis.off('ready', onReady); resolve(false) }, ms)
    const onReady = (): void => { clearTimeout(timer); resolve(true) }
    redis.once('ready', onReady)
  })
}

export type RedisNodeOptions = Omit<RedisClusterOptions, 'challengeFallback'>

/**
 * Connects to Redis and registers this node. When Redis does not answer in time the node starts anyway,
 * degraded, and joins the others as soon as Redis answers.
 */
export async function startRedisCluster (o: RedisNodeOptions): Promise<RedisCluster> {
  const command = client(o.url, 'command', o.log)
  const subscriber = client(o.url, 'subscriber', o.log)
  const packetKey = new Uint8Array(hkdfSync('sha256', o.secret, '', 'sealwire/v1/relay-packets', 32))
  const link = new RedisLink({ command, subscriber, packetKey, prefix: o.prefix, nodeId: o.nodeId, log: o.log })
  const cluster = new RedisCluster(link, { nodeTtlMs: o.nodeTtlMs, joinTimeoutMs: o.joinTimeoutMs })
  const timeout = o.connectTimeoutMs ?? 5000
  const [a, b] = await Promise.all([ready(command, timeout), ready(subscriber, timeout)])
  if (!a || !b) o.log.warn({}, `Redis did not answer within ${timeout} ms: starting degraded, serving this node's users alone until it does`)
  await cluster.start()
  return cluster
}

/** The node in its cluster, with everything the nodes share in Redis besides: login challenges and the HTTP limiter. */
export async function connectRedis (o: RedisClusterOptions): Promise<RedisShared> {
  const cluster = await startRedisCluster(o)
  const up = (): boolean => cluster.state === 'ok'
  const { command } = cluster.link
  return {
    cluster,
    challenges: new RedisChallenges({ redis: command, prefix: o.prefix, up, fallback: o.challengeFallback }),
    rateLimitStore: sharedRateLimitStore(command, o.prefix, up)
  }
}
