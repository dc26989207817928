import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import { createDatabase, migrateToLatest, type Database } from '../services/database.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<Database>
  }
}

export default fp(async (fastify) => {
  const db = createDatabase({ path: fastify.config.DB_PATH })
  try {
    const applied = await migrateToLatest(db)
    if (applied.length > 0) fastify.log.info({ migrations: applied }, 'database migrated')
  } catch (err) {
    await db.destroy()
    throw err
  }
  fastify.decorate('db', db)
  fastify.addHook('onClose', async () => {
    await db.destroy()
  })
}, { name: 'sealwire-db', dependencies: ['sealwire-config'] })
