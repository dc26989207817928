import { randomUUID } from 'node:crypto'
import type { FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import { ChallengeStore, type Challenges } from '../services/challenges.js'
import { connectRedis } from '../services/redis/index.js'
import { LocalRelay, type Relay } from '../services/relay.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** this node and what it shares with the others: in-process alone, through Redis with REDIS_URL */
    cluster: {
      /** this server process, fresh at each start */
      nodeId: string
      /** deliver to a user or to everyone, wherever they are connected; who is online */
      relay: Relay
      /** login challenges, in Redis when there is one so that a login may finish on another node */
      challenges: Challenges
      /** the HTTP rate limiter's counters when they are shared; undefined: each node counts alone */
      rateLimitStore: FastifyRateLimitStoreCtor | undefined
    }
  }
}

export default fp(async (fastify) => {
  const { config } = fastify
  const nodeId = randomUUID()
  const inDatabase = new ChallengeStore(fastify.db)
  const onListenerError = (err: unknown, delivery: { kind: string }): void => {
    fastify.log.error({ err, delivery: delivery.kind }, 'a relay listener failed')
  }

  if (config.REDIS_URL === undefined) {
    fastify.decorate('cluster', { nodeId, relay: new LocalRelay(nodeId, onListenerError), challenges: inDatabase, rateLimitStore: undefined })
    return
  }
  if (config.DATABASE_URL === undefined) {
    fastify.log.warn('REDIS_URL without DATABASE_URL: every node must share the same SQLite file (processes on one host); ' +
      'nodes on several hosts need PostgreSQL')
  }
  const redis = await connectRedis({
    url: config.REDIS_URL,
    prefix: config.REDIS_KEY_PREFIX,
    nodeId,
    nodeTtlMs: config.CLUSTER_NODE_TTL_MS,
    secret: config.JWT_SECRET,
    log: fastify.log,
    challengeFallback: inDatabase
  })
  fastify.decorate('cluster', { nodeId, relay: redis.relay, challenges: redis.challenges, rateLimitStore: redis.rateLimitStore })
  // onClose hooks run last-registered first: by now the hub has closed every connection
  fastify.addHook('onClose', async () => {
    await redis.close()
  })
}, { name: 'sealwire-cluster', dependencies: ['sealwire-config', 'sealwire-db'] })
