import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { Value } from 'typebox/value'
import { ConfigSchema, type Config, type ConfigInput, type ConfigKey } from '../schemas/config.js'

const KEYS = Object.keys(ConfigSchema.properties) as ConfigKey[]
// URLs may carry a password
const SECRET_KEYS: ReadonlySet<ConfigKey> = new Set(['JWT_SECRET', 'METRICS_TOKEN', 'DATABASE_URL', 'REDIS_URL'])

export class ConfigError extends Error {
  readonly variable: string
  constructor (variable: string, problem: string) {
    super(`Invalid configuration: ${variable} ${problem}`)
    this.name = 'ConfigError'
    this.variable = variable
  }
}

/** Whether this process is fastify-cli's (`fastify start`, or the child process its `--watch` forks). */
export function runByFastifyCli (): boolean {
  const main = createRequire(import.meta.url).main?.filename
  return main !== undefined && /[\\/]fastify-cli[\\/]/.test(main)
}

export type ConfigOverrides = { [K in ConfigKey]?: ConfigInput[K] | string }

/**
 * Reads the settings from `env` (only the names of ConfigSchema), applies `overrides` on top, converts
 * strings, fills defaults and validates. Throws ConfigError naming the first variable that is wrong.
 */
export function loadConfig (env: NodeJS.ProcessEnv = process.env, overrides: ConfigOverrides = {}, cwd = process.cwd()): Config {
  const raw: Record<string, unknown> = {}
  for (const key of KEYS) {
    const value = overrides[key] ?? env[key]
    // An empty variable counts as unset, as shells and compose files often produce them.
    if (value !== undefined && value !== '') raw[key] = value
  }
  const input = Value.Default(ConfigSchema, convert(raw))
  for (const error of Value.Errors(ConfigSchema, input)) {
    const key = error.instancePath.split('/')[1]
    if (key === undefined) continue
    const shown = SECRET_KEYS.has(key as ConfigKey) ? '' : ` (got ${JSON.stringify(raw[key])})`
    throw new ConfigError(key, `${describe(error)}${shown}`)
  }
  const config = input as ConfigInput

  const production = config.NODE_ENV === 'production'
  if (production && config.JWT_SECRET === undefined) {
    throw new ConfigError('JWT_SECRET', 'is required when NODE_ENV=production (at least 32 characters)')
  }
  if (config.REDIS_URL !== undefined && config.JWT_SECRET === undefined) {
    throw new ConfigError('JWT_SECRET', 'is required with REDIS_URL: every node must have the same one (at least 32 characters)')
  }
  const jwtSecretGenerated = config.JWT_SECRET === undefined
  const tls = tlsFiles(config, cwd)
  const redirect = config.HTTP_REDIRECT_ADDR ?? ':80'
  return {
    ...config,
    JWT_SECRET: config.JWT_SECRET ?? randomBytes(48).toString('base64'),
    jwtSecretGenerated,
    tls,
    httpRedirect: tls === null || redirect === 'off' ? null : parseAddress(redirect, 'HTTP_REDIRECT_ADDR'),
    listen: parseAddress(config.SERVER_ADDR ?? (tls === null ? ':3000' : ':443')),
    allowedOrigins: parseList(config.ALLOWED_ORIGINS, 'ALLOWED_ORIGINS', parseOrigin),
    adminUsers: parseList(config.ADMIN_USERS, 'ADMIN_USERS', (s) => s)
  }
}

/** TypeBox's message, but lengths said as the README says them (`at least 16 characters`). */
function describe (error: { keyword: string, message: string, params: unknown }): string {
  const { limit } = error.params as { limit?: unknown }
  return error.keyword === 'minLength' && typeof limit === 'number' ? `must be at least ${limit} characters` : error.message
}

const BOOLEANS: Record<string, boolean> = { true: true, false: false, 1: true, 0: false, yes: true, no: false }

/** Environment strings to the schema's types; anything that does not read cleanly is left for validation to refuse. */
function convert (raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(raw)) {
    const type = (ConfigSchema.properties[key as ConfigKey] as { type?: unknown }).type
    if (typeof value !== 'string') out[key] = value
    else if ((type === 'number' || type === 'integer') && /^\s*-?\d+(\.\d+)?(e[+-]?\d+)?\s*$/i.test(value)) out[key] = Number(value)
    else if (type === 'boolean' && value.trim().toLowerCase() in BOOLEANS) out[key] = BOOLEANS[value.trim().toLowerCase()]
    else out[key] = value
  }
  return out
}

/** TLS_CERT and TLS_KEY, or server.crt and server.key in the working folder when both exist; both or neither. */
function tlsFiles (config: ConfigInput, cwd: string): { cert: string, key: string } | null {
  if (config.TLS_CERT === undefined && config.TLS_KEY === undefined) {
    const cert = join(cwd, 'server.crt')
    const key = join(cwd, 'server.key')
    return existsSync(cert) && existsSync(key) ? { cert, key } : null
  }
  if (config.TLS_CERT === undefined) throw new ConfigError('TLS_CERT', 'is required with TLS_KEY')
  if (config.TLS_KEY === undefined) throw new ConfigError('TLS_KEY', 'is required with TLS_CERT')
  for (const [name, path] of [['TLS_CERT', config.TLS_CERT], ['TLS_KEY', config.TLS_KEY]] as const) {
    if (!existsSync(path)) throw new ConfigError(name, `names a file that does not exist (got ${JSON.stringify(path)})`)
  }
  return { cert: config.TLS_CERT, key: config.TLS_KEY }
}

export function parseAddress (addr: string, variable = 'SERVER_ADDR'): { host: string, port: number } {
  const at = addr.lastIndexOf(':')
  let host = addr.slice(0, at)
  const port = Number(addr.slice(at + 1))
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(variable, `has a port out of range (got ${JSON.stringify(addr)})`)
  }
  if (host.startsWith('[')) host = host.slice(1, -1)
  return { host: host === '' ? '0.0.0.0' : host, port }
}

function parseList (value: string, variable: string, parse: (item: string) => string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '').map((item) => {
    try {
      return parse(item)
    } catch {
      throw new ConfigError(variable, `has an invalid entry (got ${JSON.stringify(item)})`)
    }
  })
}

/** Normalises an origin as browsers send it: scheme://host[:port], no path, no trailing slash. */
function parseOrigin (item: string): string {
  if (item === '*') return item
  const url = new URL(item)
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') throw new Error('not an origin')
  return url.origin
}
