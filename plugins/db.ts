import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import { createDatabase, createPostgresDatabase, migrateToLatest, type Database } from '../services/database.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<Database>
  }
}

export default fp(async (fastify) => {
  const { config } = fastify
  const db = config.DATABASE_URL === undefined
    ? createDatabase({ path: config.DB_PATH })
    : createPostgresDatabase({
      url: config.DATABASE_URL,
      poolSize: config.DATABASE_POOL_SIZE,
      onIdleError: (err) => fastify.log.warn({ err }, 'a PostgreSQL connection failed while idle; the pool opens a new one')
    })
  try {
    // several nodes may start at once: Kysely's migrator takes a lock on PostgreSQL
    const applied = await migrateToLatest(db)
    if (applied.length > 0) fastify.log.info({ migrations: applied }, 'database migrated')
  } catch (err) {
    await db.destroy()
    throw err
  }
  fastify.log.info(config.DATABASE_URL === undefined ? `database: SQLite at ${config.DB_PATH}` : 'database: PostgreSQL')
  fastify.decorate('db', db)
  fastify.addHook('onClose', async () => {
    await db.destroy()
  })
}, { name: 'sealwire-db', dependencies: ['sealwire-config'] })
