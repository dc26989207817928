import { hkdfSync } from 'node:crypto'
import type { FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import { Redis } from 'ioredis'
import type { Challenges } from '../challenges.js'
import { RedisChallenges } from './challenges.js'
import { sharedRateLimitStore } from './rate-limit-store.js'
import type { ServiceLog } from '../log.js'
import { RedisRelay } from './relay.js'

export interface RedisClusterOptions {
  url: string
  prefix: string
  nodeId: string
  nodeTtlMs: number
  /** JWT_SECRET, which every node shares: the relay's packets are signed with a key derived from it */
  secret: string
  log: ServiceLog & { debug: (obj: object, msg: string) => void }
  /** where challenges go while Redis is out of reach */
  challengeFallback: Challenges
  /** how long the start waits for Redis before the node starts without it (degraded) */
  connectTimeoutMs?: number
}

/** Everything a node shares with the others through Redis. The only place that knows Redis is there. */
export interface RedisCluster {
  relay: RedisRelay
  challenges: Challenges
  rateLimitStore: FastifyRateLimitStoreCtor
  close: () => Promise<void>
}

function client (url: string, role: 'command' | 'subscriber', log: RedisClusterOptions['log']): Redis {
  const redis = new Redis(url, {
    connectionName: `sealwire-${role}`,
    // a command to a lost server fails at once instead of waiting in a queue: the node goes on without it
    enableOfflineQueue: false,
    // the relay subscribes again itself, and resyncs what it may have missed meanwhile
    autoResubscribe: false,
    // many PUBLISH of one turn in one write
    enableAutoPipelining: role === 'command',
    commandTimeout: 3000,
    connectTimeout: 5000,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000)
  })
  // errors come with every failed reconnection; the relay reports the state once
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

/**
 * Connects to Redis and registers this node. When Redis does not answer in time the node starts anyway,
 * degraded, and joins the others as soon as Redis answers.
 */
export async function connectRedis (o: RedisClusterOptions): Promise<RedisCluster> {
  const command = client(o.url, 'command', o.log)
  const subscriber = client(o.url, 'subscriber', o.log)
  const packetKey = new Uint8Array(hkdfSync('sha256', o.secret, '', 'sealwire/v1/relay-packets', 32))
  const relay = new RedisRelay({ command, subscriber, packetKey, prefix: o.prefix, nodeId: o.nodeId, nodeTtlMs: o.nodeTtlMs, log: o.log })
  const timeout = o.connectTimeoutMs ?? 5000
  const [a, b] = await Promise.all([ready(command, timeout), ready(subscriber, timeout)])
  if (!a || !b) o.log.warn({}, `Redis did not answer within ${timeout} ms: starting degraded, serving this node's users alone until it does`)
  await relay.start()
  const up = (): boolean => relay.state === 'ok'
  return {
    relay,
    challenges: new RedisChallenges({ redis: command, prefix: o.prefix, up, fallback: o.challengeFallback }),
    rateLimitStore: sharedRateLimitStore(command, o.prefix, up),
    close: async () => { await relay.close() }
  }
}
