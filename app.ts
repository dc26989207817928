import { readFileSync } from 'node:fs'
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox'
import type { FastifyPluginAsync, FastifyServerOptions } from 'fastify'
import analyticsPlugin from './plugins/analytics.js'
import authPlugin from './plugins/auth.js'
import clusterPlugin from './plugins/cluster.js'
import configPlugin, { type ConfigPluginOptions } from './plugins/config.js'
import cryptoPlugin from './plugins/crypto.js'
import dbPlugin from './plugins/db.js'
import docsPlugin from './plugins/docs.js'
import errorHandlerPlugin from './plugins/error-handler.js'
import httpsRedirectPlugin from './plugins/https-redirect.js'
import hubPlugin from './plugins/hub.js'
import metricsPlugin from './plugins/metrics.js'
import rateLimitPlugin from './plugins/rate-limit.js'
import securityPlugin from './plugins/security.js'
import analyticsRoutes from './routes/analytics.js'
import authRoutes from './routes/auth/index.js'
import dashboardRoutes from './routes/dashboard.js'
import healthRoutes from './routes/health.js'
import messageRoutes from './routes/messages.js'
import metricsRoutes from './routes/metrics.js'
import wsRoutes from './routes/ws.js'
import type { Config } from './schemas/config.js'
import { logRedactPaths, logSerializers } from './services/redact.js'

export type SealwireOptions = ConfigPluginOptions

/**
 * The whole service as one plugin. Register it into any Fastify 5 app, with a prefix if you like:
 * `app.register(sealwire, { prefix: '/chat', config: { DB_PATH: './chat.db' } })`.
 */
const sealwire: FastifyPluginAsync<SealwireOptions> = async (fastify, opts) => {
  fastify.setValidatorCompiler(TypeBoxValidatorCompiler)

  await fastify.register(configPlugin, opts)
  await fastify.register(errorHandlerPlugin)
  await fastify.register(securityPlugin)
  await fastify.register(httpsRedirectPlugin)
  await fastify.register(dbPlugin)
  await fastify.register(clusterPlugin)
  await fastify.register(cryptoPlugin)
  await fastify.register(authPlugin)
  await fastify.register(rateLimitPlugin)
  await fastify.register(hubPlugin)
  await fastify.register(analyticsPlugin)
  await fastify.register(metricsPlugin)
  await fastify.register(docsPlugin)

  await fastify.register(healthRoutes)
  await fastify.register(authRoutes)
  await fastify.register(wsRoutes)
  await fastify.register(messageRoutes)
  await fastify.register(analyticsRoutes)
  await fastify.register(metricsRoutes)
  await fastify.register(dashboardRoutes)
  await fastify.register(import('./routes/web.js')) // the web client at / (hidden from the OpenAPI document)
}

export default sealwire

/** Fastify server options for running Sealwire as its own server (what `npm start` uses): HTTPS when TLS is on. */
export function serverOptions (config: Config): FastifyServerOptions & { https?: { cert: Buffer, key: Buffer } } {
  return {
    logger: { level: config.LOG_LEVEL, serializers: logSerializers, redact: logRedactPaths },
    trustProxy: config.TRUST_PROXY,
    // the largest frame plus room for the HTTP envelope around it
    bodyLimit: config.MAX_MESSAGE_BYTES + 16 * 1024,
    ...(config.tls === null ? {} : { https: { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) } })
  }
}

export { loadConfig, ConfigError } from './services/config.js'
export { logSerializers, redactUrl } from './services/redact.js'
export type { Config } from './schemas/config.js'
