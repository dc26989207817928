import fp from 'fastify-plugin'
import type { Config } from '../schemas/config.js'
import { loadConfig, type ConfigOverrides } from '../services/config.js'

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

export default fp<ConfigPluginOptions>(async (fastify, opts) => {
  const config = loadConfig(opts.env ?? process.env, opts.config ?? {})
  if (config.jwtSecretGenerated) {
    fastify.log.warn('JWT_SECRET is not set: using a random secret for this run, so tokens end at restart. ' +
      'Set JWT_SECRET (32+ characters) for real use; it is required with NODE_ENV=production.')
  }
  fastify.decorate('config', config)
}, { name: 'sealwire-config', fastify: '5.x' })
