import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { sql } from 'kysely'
import { Type } from 'typebox'
import { ErrorRef, withExamples } from '../schemas/common.js'
import { UnavailableError } from '../services/errors.js'

export const HealthResponse = withExamples(Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')], {
    description: '`degraded`: Redis is out of reach; this node serves its own users alone and catches up by itself when it is back'
  }),
  database: Type.Literal('ok'),
  redis: Type.Union([Type.Literal('ok'), Type.Literal('unreachable'), Type.Literal('off')], { description: '`off` without REDIS_URL' }),
  node: Type.String({ description: 'this server process, fresh at each start' }),
  uptime_s: Type.Number()
}), [{ status: 'ok', database: 'ok', redis: 'off', node: 'c2d9e6a1-7f3b-4e8a-9b5c-0d1e2f3a4b5c', uptime_s: 3600 }])

const routes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { cluster } = fastify

  fastify.get('/health', {
    schema: {
      operationId: 'getHealth',
      tags: ['health'],
      summary: 'Liveness, database and Redis check',
      description: '503 when the database is unreachable. A node that cannot reach Redis still answers 200, `degraded`: ' +
        'it keeps serving its own users, and taking it out of a load balancer because Redis is down would take every node out.',
      response: { 200: HealthResponse, 503: ErrorRef }
    }
  }, async () => {
    try {
      await sql`select 1`.execute(fastify.db)
    } catch (err) {
      fastify.log.error({ err }, 'health check: database unreachable')
      throw new UnavailableError('database unreachable')
    }
    const redis = cluster.state === 'local' ? 'off' as const : cluster.state === 'ok' ? 'ok' as const : 'unreachable' as const
    return {
      status: redis === 'unreachable' ? 'degraded' as const : 'ok' as const,
      database: 'ok' as const,
      redis,
      node: cluster.nodeId,
      uptime_s: Math.round(process.uptime())
    }
  })
}

export default routes
