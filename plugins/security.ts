import fastifyCors from '@fastify/cors'
import fastifyHelmet from '@fastify/helmet'
import fp from 'fastify-plugin'
import { AuditLog, type AuditEvent } from '../services/audit-log.js'
import { IpBlockedError } from '../services/errors.js'
import { IpGuard } from '../services/ip-guard.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** writes one line to SECURITY_LOG_FILE (nothing when it is not set) */
    audit: (event: AuditEvent) => void
    ipGuard: IpGuard
    /** reopens the audit log file (SIGHUP does this), for log rotation */
    reopenAuditLog: () => void
  }
}

export default fp(async (fastify) => {
  const { config } = fastify
  const log = config.SECURITY_LOG_FILE === undefined
    ? null
    : new AuditLog(config.SECURITY_LOG_FILE, (err) => fastify.log.error({ err }, 'the security audit log cannot be written'))
  fastify.decorate('audit', (event: AuditEvent) => log?.write(event))
  fastify.decorate('reopenAuditLog', () => log?.reopen())

  const guard = new IpGuard({
    maxFailures: config.ABUSE_MAX_FAILURES,
    windowMs: config.ABUSE_WINDOW_MS,
    blockMs: config.ABUSE_BLOCK_MS,
    onBlock: (ip, failures) => {
      fastify.log.warn({ ip, failures }, 'address blocked after repeated authentication failures')
      log?.write({ event: 'ip_blocked', ip, detail: { failures, block_ms: config.ABUSE_BLOCK_MS } })
    },
    onUnblock: (ip) => log?.write({ event: 'ip_unblocked', ip })
  })
  fastify.decorate('ipGuard', guard)
  const sweep = setInterval(() => guard.sweep(), 60_000)
  sweep.unref()

  // first thing on every request, the WebSocket upgrade included
  fastify.addHook('onRequest', async (request, reply) => {
    const left = guard.blockedFor(request.ip)
    if (left > 0) {
      void reply.header('retry-after', Math.ceil(left / 1000))
      throw new IpBlockedError()
    }
  })

  await fastify.register(fastifyHelmet, {
    // the API serves JSON; pages (docs, dashboard, web client) load only their own files
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        frameAncestors: ["'none'"],
        upgradeInsecureRequests: config.tls === null ? null : []
      }
    },
    hsts: config.tls === null ? false : { maxAge: 31_536_000, includeSubDomains: true },
    crossOriginResourcePolicy: { policy: 'same-origin' }
  })

  // CORS only for the origins named; none named means no cross-origin reads at all
  const origins = config.allowedOrigins
  if (origins.length > 0) {
    await fastify.register(fastifyCors, {
      origin: origins.includes('*') ? true : origins,
      methods: ['GET', 'POST', 'PUT', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type'],
      maxAge: 600
    })
  }

  if (log !== null) {
    const onHangUp = (): void => log.reopen()
    process.on('SIGHUP', onHangUp)
    fastify.addHook('onClose', async () => {
      process.off('SIGHUP', onHangUp)
      clearInterval(sweep)
      await log.close()
    })
  } else {
    fastify.addHook('onClose', async () => clearInterval(sweep))
  }
}, { name: 'sealwire-security', dependencies: ['sealwire-config'] })
