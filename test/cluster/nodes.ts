import Fastify, { type FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import type { ConfigOverrides } from '../../services/config.js'
import { postgresDatabaseUrl, redisPrefix } from '../databases.js'
import { sealwireUnencapsulated, TEST_JWT_SECRET } from '../helper.js'
import { until as untilHolds } from '../until.js'
import { listen, TestClient } from '../ws-client.js'

export interface Node {
  name: string
  app: FastifyInstance
  /** ws://127.0.0.1:port */
  url: string
  connect: (who: { token: string }) => Promise<TestClient>
}

export interface Cluster {
  databaseUrl: string
  redisUrl: string
  prefix: string
  settings: ConfigOverrides
  start: (name: string) => Promise<Node>
}

/**
 * Nodes of one cluster in this process, each its own Fastify server on a loopback port, sharing a fresh
 * PostgreSQL database and a Redis key prefix, as separate machines behind a load balancer would.
 */
export async function cluster (t: Test, settings: ConfigOverrides = {}, redisUrl = process.env.REDIS_URL as string): Promise<Cluster> {
  const databaseUrl = await postgresDatabaseUrl(t)
  const prefix = redisPrefix(t, redisUrl)
  const all: ConfigOverrides = {
    DATABASE_URL: databaseUrl,
    DATABASE_POOL_SIZE: 4,
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: prefix,
    JWT_SECRET: TEST_JWT_SECRET,
    CLUSTER_NODE_TTL_MS: 1500,
    MESSAGE_RATE_LIMIT: 1000,
    MESSAGE_BURST_LIMIT: 1000,
    ...settings
  }
  return {
    databaseUrl,
    redisUrl,
    prefix,
    settings: all,
    start: async (name) => {
      const app = Fastify({ logger: false })
      await app.register(sealwireUnencapsulated, { env: {}, config: all })
      // registered after the database's teardown, so it runs before it
      t.teardown(() => app.close())
      const url = await listen(app)
      return {
        name,
        app,
        url,
        connect: async (who) => {
          const client = await TestClient.connect(url, who.token)
          t.teardown(() => client.close())
          return client
        }
      }
    }
  }
}

/**
 * Polls until `check` holds; fails with `what` after `ms`, stretched to 30 s at least: a deadline here bounds a
 * failure, it is not a claim about speed, and a loaded machine must not fail a test that would pass.
 */
export async function until (check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  await untilHolds(check, what, Math.max(ms, 30_000), 25)
}
