import { randomUUID } from 'node:crypto'
import type { FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import { ChallengeStore, type Challenges } from '../services/challenges.js'
import type { Cluster } from '../services/cluster/cluster.js'
import { MemoryCluster } from '../services/cluster/memory.js'
import { connectRedis } from '../services/cluster/redis/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** this node among the others: the broker, presence and control channel (in-process alone, Redis with REDIS_URL) */
    cluster: Cluster
    /** what the nodes share besides the cluster's traffic */
    clusterStores: {
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

  if (config.REDIS_URL === undefined) {
    const onListenerError = (err: unknown): void => fastify.log.error({ err }, 'a cluster listener failed')
    const cluster = new MemoryCluster(nodeId, undefined, onListenerError)
    fastify.decorate('cluster', cluster)
    fastify.decorate('clusterStores', { challenges: inDatabase, rateLimitStore: undefined })
    fastify.addHook('onClose', async () => { await cluster.close() })
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
  fastify.decorate('cluster', redis.cluster)
  fastify.decorate('clusterStores', { challenges: redis.challenges, rateLimitStore: redis.rateLimitStore })
  // onClose hooks run last-registered first: by now the hub has closed every connection
  fastify.addHook('onClose', async () => {
    await redis.cluster.close()
  })
}, { name: 'sealwire-cluster', dependencies: ['sealwire-config', 'sealwire-db'] })
