import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import { createDatabase, createPostgresDatabase, migrateToLatest, type Database } from '../services/database.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<Database>
  }
}

/** no query of the service takes this long; a migration may, so migrations run without it */
const STATEMENT_TIMEOUT_MS = 30_000

export default fp(async (fastify) => {
  const { config } = fastify
  const url = config.DATABASE_URL
  const onError = (err: Error): void => fastify.log.warn({ err }, 'a PostgreSQL connection failed; the pool opens a new one')
  const db = url === undefined
    ? createDatabase({ path: config.DB_PATH })
    : createPostgresDatabase({ url, poolSize: config.DATABASE_POOL_SIZE, statementTimeoutMs: STATEMENT_TIMEOUT_MS, onError })
  const migrating = url === undefined ? db : createPostgresDatabase({ url, poolSize: 1, onError })
  try {
    // several nodes may start at once: Kysely's migrator takes a lock on PostgreSQL
    const applied = await migrateToLatest(migrating)
    if (applied.length > 0) fastify.log.info({ migrations: applied }, 'database migrated')
  } catch (err) {
    await db.destroy()
    throw err
  } finally {
    if (migrating !== db) await migrating.destroy()
  }
  fastify.log.info(url === undefined ? `database: SQLite at ${config.DB_PATH}` : 'database: PostgreSQL')
  fastify.decorate('db', db)
  fastify.addHook('onClose', async () => {
    await db.destroy()
  })
}, { name: 'sealwire-db', dependencies: ['sealwire-config'] })
