import { readFileSync } from 'node:fs'
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox'
import type { FastifyPluginAsync, FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
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
import webRoutes from './routes/web.js'
import wsRoutes from './routes/ws.js'
import type { Config } from './schemas/config.js'
import type { CommandDefinition } from './services/commands.js'
import { ConfigError, loadConfig, runByFastifyCli } from './services/config.js'
import { logRedactPaths, logSerializers, redactingChildLoggerFactory } from './services/redact.js'

export type SealwireOptions = ConfigPluginOptions

/** The largest request body: the largest frame plus room for the HTTP envelope around it. */
const bodyLimit = (config: Config): number => config.MAX_MESSAGE_BYTES + 16 * 1024

/**
 * The whole service as one plugin, encapsulated: what `fastify start dist/app.js` runs. Registered into another
 * app it keeps its decorators to itself; `embed` below also gives the host app `app.sealwire`.
 */
const sealwire: FastifyPluginAsync<SealwireOptions> = async (fastify, opts) => {
  fastify.setValidatorCompiler(TypeBoxValidatorCompiler)
  // first, so that every route and the not-found handler log through it
  fastify.setChildLoggerFactory(redactingChildLoggerFactory)

  await fastify.register(configPlugin, opts)
  const limit = bodyLimit(fastify.config)
  // whatever bodyLimit the server was made with
  fastify.addHook('onRoute', (route) => { route.bodyLimit ??= limit })

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
  await fastify.register(webRoutes) // the web client at / (hidden from the OpenAPI document)
}

export default sealwire

/** What `embed` gives the app that registers it. */
export interface SealwireHandle {
  /** the settings the service runs with */
  readonly config: Config
  /** adds a server command that signed `server` messages can run; at any time, before or after listen */
  registerCommand: (name: string, definition: CommandDefinition) => void
}

declare module 'fastify' {
  interface FastifyInstance {
    /** set by `embed` on the app that registers it */
    sealwire: SealwireHandle
  }
}

export interface EmbedOptions extends SealwireOptions {
  /** where the service's routes go (`/chat`); the root when unset */
  prefix?: string
}

/**
 * The service for embedding: registered as `sealwire` is, under `prefix`, and one decorator on the host app,
 * `app.sealwire`, with the resolved settings and `registerCommand`. Nothing else of the service leaks out.
 */
export const embed = fp<EmbedOptions>(async (host, opts) => {
  await host.register(async function sealwireService (service) {
    await sealwire(service, opts)
    host.decorate('sealwire', { config: service.config, registerCommand: service.registerCommand })
  }, { prefix: opts.prefix })
}, { name: 'sealwire', fastify: '5.x' })

export type ServerOptions = FastifyServerOptions & { https?: { cert: Buffer, key: Buffer } }

/** Fastify server options for Sealwire as a server of its own (what `npm start` makes): HTTPS when TLS is on. */
export function serverOptions (config: Config): ServerOptions {
  return {
    logger: { level: config.LOG_LEVEL, serializers: logSerializers, redact: logRedactPaths },
    trustProxy: config.TRUST_PROXY,
    bodyLimit: bodyLimit(config),
    ...(config.tls === null ? {} : { https: { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) } })
  }
}

/** serverOptions() of the environment's settings, the log level left to fastify-cli's `-l`. */
function fromEnvironment (): ServerOptions {
  try {
    return { ...serverOptions(loadConfig()), logger: { serializers: logSerializers, redact: logRedactPaths } }
  } catch (err) {
    // the config plugin says what is wrong, in one line, when it loads
    if (err instanceof ConfigError) return {}
    throw err
  }
}

/**
 * fastify-cli's server options, which `fastify start --options dist/app.js` (and so `npm start`) applies: HTTPS,
 * trustProxy, bodyLimit and the log serializers of the settings. Read from the environment only in a process that
 * fastify-cli runs; imported by anything else (a host app), this module reads nothing and `options` is empty.
 */
export const options: ServerOptions = runByFastifyCli() ? fromEnvironment() : {}

export { loadConfig, ConfigError } from './services/config.js'
export { logSerializers, redactUrl } from './services/redact.js'
export { CommandError, type CommandContext, type CommandDefinition } from './services/commands.js'
export type { JsonValue } from './schemas/common.js'
export type { Config } from './schemas/config.js'
