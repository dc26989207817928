import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { sql } from 'kysely'
import { Type } from 'typebox'
import { ErrorResponse } from '../schemas/common.js'
import { UnavailableError } from '../services/errors.js'

export const HealthResponse = Type.Object({
  status: Type.Literal('ok'),
  database: Type.Literal('ok'),
  uptime_s: Type.Number()
})

const routes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/health', {
    schema: {
      tags: ['health'],
      summary: 'Liveness and database check',
      response: { 200: HealthResponse, 503: ErrorResponse }
    }
  }, async () => {
    try {
      await sql`select 1`.execute(fastify.db)
    } catch (err) {
      fastify.log.error({ err }, 'health check: database unreachable')
      throw new UnavailableError('database unreachable')
    }
    return { status: 'ok' as const, database: 'ok' as const, uptime_s: Math.round(process.uptime()) }
  })
}

export default routes
