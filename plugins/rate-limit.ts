import fastifyRateLimit from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import { RateLimitedError } from '../services/errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** the per-IP limit of the /auth routes, for their `config.rateLimit` */
    authRateLimit: { max: number, timeWindow: number }
  }
}

export default fp(async (fastify) => {
  const { config } = fastify
  // Routes opt in with `config: { rateLimit }`; WebSocket messages have their own per-user bucket.
  const { rateLimitStore } = fastify.clusterStores
  await fastify.register(fastifyRateLimit, {
    global: false,
    // with several nodes the counters live in Redis: a client gets the limit once, not once per node
    ...(rateLimitStore === undefined ? {} : { store: rateLimitStore }),
    errorResponseBuilder: (_request, context) => new RateLimitedError(context.after),
    onExceeded: (request) => {
      const counts = fastify.ipGuard.rateLimited(request.ip)
      fastify.audit({ event: 'rate_limited', ip: request.ip, detail: { limiter: 'http', route: request.routeOptions.url ?? '', hits_from_ip: counts.ip } })
    }
  })
  fastify.decorate('authRateLimit', { max: config.AUTH_RATE_LIMIT_MAX, timeWindow: config.AUTH_RATE_LIMIT_WINDOW_MS })
}, { name: 'sealwire-rate-limit', dependencies: ['sealwire-config', 'sealwire-security', 'sealwire-cluster'] })
