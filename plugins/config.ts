import { isIP, type AddressInfo } from 'node:net'
import { Server as TlsServer } from 'node:tls'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../schemas/config.js'
import { ConfigError, loadConfig, runByFastifyCli, type ConfigOverrides } from '../services/config.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

export interface ConfigPluginOptions {
  /** where settings are read from; process.env by default */
  env?: NodeJS.ProcessEnv
  /** programmatic settings, by the same names as the environment variables; they win over `env` */
  config?: ConfigOverrides
}

const SERVER_OPTIONS_HINT = '`npm start` and `fastify start --options dist/app.js` create the server with them'

/**
 * Some settings act on the server itself, which was made before this plugin runs (by `npm start`, by `fastify
 * start` with or without `--options`, or by a host app). What the server does not do is said once and taken out of
 * the settings, so that nothing relies on it: no HTTPS redirect listener in front of a plain-HTTP server.
 */
function asServed (config: Config, fastify: FastifyInstance): Config {
  if (config.TRUST_PROXY) {
    // Fastify tells whether it trusts proxies only through its requests: `request.ips` exists when it does
    let checked = false
    fastify.addHook('onRequest', async (request) => {
      if (checked) return
      checked = true
      if (request.ips === undefined) {
        fastify.log.warn(`TRUST_PROXY=true, but this server was made without trustProxy: client addresses are the proxy's (${SERVER_OPTIONS_HINT})`)
      }
    })
  }
  if (config.tls === null || fastify.server instanceof TlsServer) return config
  fastify.log.warn(`TLS_CERT and TLS_KEY (or server.crt and server.key in the working folder) are set, but this server was made without HTTPS: it serves plain HTTP and opens no redirect listener (${SERVER_OPTIONS_HINT})`)
  return { ...config, tls: null, httpRedirect: null }
}

/** Whether one of the addresses the server listens on is SERVER_ADDR's. */
function listensOn (addresses: AddressInfo[], listen: Config['listen']): boolean {
  const anyHost = listen.host === '0.0.0.0' || listen.host === '::'
  return addresses.some(({ address, port }) => port === listen.port &&
    (anyHost ? address === '0.0.0.0' || address === '::' : isIP(listen.host) === 0 || address === listen.host))
}

function load (opts: ConfigPluginOptions): Config {
  try {
    return loadConfig(opts.env ?? process.env, opts.config ?? {})
  } catch (err) {
    // fastify-cli lets a plugin's failure end the process as an unhandled rejection, stack and all: one line instead
    if (!(err instanceof ConfigError) || !runByFastifyCli()) throw err
    process.stderr.write(`${err.message}\n`)
    process.exit(1)
  }
}

export default fp<ConfigPluginOptions>(async (fastify, opts) => {
  const config = asServed(load(opts), fastify)
  if (config.jwtSecretGenerated) {
    fastify.log.warn('JWT_SECRET is not set: using a random secret for this run, so tokens end at restart. ' +
      'Set JWT_SECRET (32+ characters) for real use; it is required with NODE_ENV=production.')
  }
  fastify.decorate('config', config)

  // `npm start` listens on SERVER_ADDR; `fastify start` where its own -a and -p (FASTIFY_ADDRESS, FASTIFY_PORT, PORT) say
  fastify.addHook('onListen', async () => {
    if (config.SERVER_ADDR === undefined) return
    const addresses = fastify.addresses().filter((a) => typeof a !== 'string')
    if (listensOn(addresses, config.listen)) return
    const where = addresses.map((a) => a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`).join(', ')
    fastify.log.warn(`SERVER_ADDR=${config.SERVER_ADDR} is not where this server listens (${where}): fastify start listens where its -a and -p options (FASTIFY_ADDRESS, FASTIFY_PORT or PORT) say; npm start passes SERVER_ADDR to them`)
  })
}, { name: 'sealwire-config', fastify: '5.x' })
