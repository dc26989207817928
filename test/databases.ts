import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import type { Kysely } from 'kysely'
import pg from 'pg'
import type { Test } from 'tap'
import type { ConfigOverrides } from '../services/config.js'
import { createDatabase, createPostgresDatabase, migrateToLatest, type Database } from '../services/database.js'
import { tempDir } from './helper.js'

/** Why the PostgreSQL and Redis tests did not run, or false when they can. */
export const NEEDS_POSTGRES = process.env.DATABASE_URL === undefined || process.env.DATABASE_URL === ''
  ? 'DATABASE_URL is not set: run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/test (.ci/run sets it)'
  : false
export const NEEDS_REDIS = process.env.REDIS_URL === undefined || process.env.REDIS_URL === ''
  ? 'REDIS_URL is not set: run with REDIS_URL=redis://127.0.0.1:6379 (.ci/run sets it)'
  : false
export const NEEDS_CLUSTER = NEEDS_POSTGRES !== false && NEEDS_REDIS !== false
  ? 'DATABASE_URL and REDIS_URL are not set: run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379 (.ci/run sets them)'
  : NEEDS_POSTGRES !== false ? NEEDS_POSTGRES : NEEDS_REDIS

/**
 * A fresh PostgreSQL database on the server of DATABASE_URL, dropped when the test ends: tests running in
 * parallel never see each other's rows.
 */
export async function postgresDatabaseUrl (t: Test): Promise<string> {
  const base = process.env.DATABASE_URL
  if (base === undefined || base === '') throw new Error(NEEDS_POSTGRES as string)
  const name = `sealwire_test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: base })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE ${name}`)
  } finally {
    await admin.end()
  }
  t.teardown(async () => {
    const client = new pg.Client({ connectionString: base })
    await client.connect()
    try {
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    } finally {
      await client.end()
    }
  })
  const url = new URL(base)
  url.pathname = `/${name}`
  return url.toString()
}

export interface TestDatabase {
  name: 'sqlite' | 'postgres'
  /** false, or why this database cannot be tested here */
  skip: string | false
  /** a migrated, empty database closed when the test ends */
  open: (t: Test) => Promise<Kysely<Database>>
  /** the settings that point the app at a fresh database of this kind */
  config: (t: Test) => Promise<ConfigOverrides>
}

const sqlite: TestDatabase = {
  name: 'sqlite',
  skip: false,
  open: async (t) => {
    const db = createDatabase({ path: join(tempDir(t), 'test.db') })
    t.teardown(() => db.destroy())
    await migrateToLatest(db)
    return db
  },
  config: async (t) => ({ DB_PATH: join(tempDir(t), 'test.db') })
}

const postgres: TestDatabase = {
  name: 'postgres',
  skip: NEEDS_POSTGRES,
  open: async (t) => {
    const url = await postgresDatabaseUrl(t)
    const db = createPostgresDatabase({ url, poolSize: 4 })
    // registered after the drop, so it runs first: the pool closes before the database goes
    t.teardown(() => db.destroy())
    await migrateToLatest(db)
    return db
  },
  config: async (t) => ({ DATABASE_URL: await postgresDatabaseUrl(t), DATABASE_POOL_SIZE: 4 })
}

/** Both dialects: tests that run once for each show the same behaviour on SQLite and PostgreSQL. */
export const testDatabases: readonly TestDatabase[] = [sqlite, postgres]

/** A key prefix of its own, so that tests sharing one Redis never meet; its keys are removed at the end. */
export function redisPrefix (t: Test, redisUrl: string): string {
  const prefix = `sealwire-test-${randomBytes(5).toString('hex')}:`
  t.teardown(async () => {
    const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 })
    try {
      await redis.connect()
      let cursor = '0'
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
        if (keys.length > 0) await redis.del(...keys)
        cursor = next
      } while (cursor !== '0')
    } catch {
      // a test that stopped its own Redis has nothing to clean
    } finally {
      redis.disconnect()
    }
  })
  return prefix
}

export interface TestDeployment {
  name: string
  skip: string | false
  /** the settings of a node of this kind, on fresh stores */
  config: (t: Test) => Promise<ConfigOverrides>
}

/**
 * One node on SQLite with nothing else, as `npm start` runs; and one node on PostgreSQL with the Redis relay,
 * as each node of a cluster runs. Tests run once for each must behave the same.
 */
export const testDeployments: readonly TestDeployment[] = [
  { name: 'sqlite', skip: false, config: sqlite.config },
  {
    name: 'postgres+redis',
    skip: NEEDS_CLUSTER,
    config: async (t) => {
      const redisUrl = process.env.REDIS_URL as string
      return { ...await postgres.config(t), REDIS_URL: redisUrl, REDIS_KEY_PREFIX: redisPrefix(t, redisUrl), CLUSTER_NODE_TTL_MS: 1500 }
    }
  }
]
