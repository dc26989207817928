import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import pg from 'pg'
import { onCleanup } from './cleanup.js'

export interface SharedStores {
  /** DATABASE_URL, REDIS_URL and REDIS_KEY_PREFIX for every node, as far as asked for */
  env: Record<string, string>
  /** what the report shows: the engines, without passwords */
  describe: string
  remove: () => Promise<void>
}

function withoutPassword (url: string): string {
  const u = new URL(url)
  u.password = ''
  return u.toString()
}

const DROP = `
const pg = require('pg')
const c = new pg.Client({ connectionString: process.env.BENCH_ADMIN_URL })
c.connect().then(() => c.query('DROP DATABASE IF EXISTS ' + process.env.BENCH_DB + ' WITH (FORCE)')).finally(() => c.end())`

/**
 * A fresh PostgreSQL database on the server of `databaseUrl` and a fresh Redis key prefix, for the nodes of one
 * run; both are removed at the end. An interrupted run drops the database too (from a synchronous child, as
 * exit handlers must be synchronous); its few Redis keys expire or stay under a prefix nobody uses again.
 */
export async function sharedStores (databaseUrl: string | undefined, redisUrl: string | undefined, cwd: string): Promise<SharedStores> {
  const env: Record<string, string> = {}
  const describe: string[] = []
  const removers: Array<() => Promise<void>> = []
  if (databaseUrl !== undefined) {
    const name = `sealwire_bench_${randomBytes(5).toString('hex')}`
    const admin = new pg.Client({ connectionString: databaseUrl })
    await admin.connect()
    await admin.query(`CREATE DATABASE ${name}`).finally(async () => { await admin.end() })
    const forget = onCleanup(() => {
      spawnSync(process.execPath, ['-e', DROP], { cwd, env: { ...process.env, BENCH_ADMIN_URL: databaseUrl, BENCH_DB: name }, timeout: 10_000 })
    })
    const url = new URL(databaseUrl)
    url.pathname = `/${name}`
    env.DATABASE_URL = url.toString()
    describe.push(`PostgreSQL ${withoutPassword(env.DATABASE_URL)}`)
    removers.push(async () => {
      const client = new pg.Client({ connectionString: databaseUrl })
      await client.connect()
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(async () => { await client.end() })
      forget()
    })
  }
  if (redisUrl !== undefined) {
    const prefix = `sealwire-bench-${randomBytes(5).toString('hex')}:`
    env.REDIS_URL = redisUrl
    env.REDIS_KEY_PREFIX = prefix
    describe.push(`Redis ${withoutPassword(redisUrl)} (prefix ${prefix})`)
    removers.push(async () => {
      const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
      try {
        let cursor = '0'
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
          if (keys.length > 0) await redis.del(...keys)
          cursor = next
        } while (cursor !== '0')
      } finally {
        redis.disconnect()
      }
    })
  }
  return {
    env,
    describe: describe.length === 0 ? 'SQLite' : describe.join(', '),
    remove: async () => { for (const remove of removers) await remove() }
  }
}
