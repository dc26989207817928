import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ErrorRef } from '../schemas/common.js'
import { InvalidTokenError } from '../services/errors.js'

const digest = (text: string): Buffer => createHash('sha256').update(text).digest()

const routes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { config, metrics } = fastify
  if (!config.METRICS_ENABLED) return
  // comparing digests keeps the lengths equal, so timingSafeEqual tells nothing about the token's length
  const expected = config.METRICS_TOKEN === undefined ? undefined : digest(config.METRICS_TOKEN)

  fastify.get('/metrics', {
    onRequest: async (request, reply) => {
      if (expected === undefined) return
      const header = request.headers.authorization
      const given = header?.startsWith('Bearer ') === true ? header.slice(7).trim() : ''
      if (!timingSafeEqual(digest(given), expected)) {
        void reply.header('www-authenticate', 'Bearer realm="metrics"')
        throw new InvalidTokenError()
      }
    },
    schema: {
      operationId: 'getMetrics',
      tags: ['metrics'],
      summary: 'Prometheus metrics (text format)',
      description: 'Connections, online users, messages by type and outcome, delivery latency, HTTP request durations, ' +
        'event-loop lag, database commits and the process. With `METRICS_TOKEN` set, send it as `Authorization: Bearer`.',
      // open when METRICS_TOKEN is unset
      security: expected === undefined ? [] : [{ metricsToken: [] }],
      response: {
        200: {
          description: 'Prometheus text exposition format 0.0.4',
          content: { 'text/plain; version=0.0.4': { schema: Type.String() } }
        },
        401: ErrorRef
      }
    }
  }, async (_request, reply) => {
    const body = await metrics.metrics()
    return await reply.header('cache-control', 'no-store').type(metrics.contentType).send(body)
  })
}

export default routes
