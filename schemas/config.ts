import { Type, type Static } from 'typebox'

const Bool = (description: string) => Type.Boolean({ default: false, description })

/**
 * Every setting of the service, named as its environment variable. The same names are accepted as
 * programmatic options when Sealwire is registered into another Fastify app.
 */
export const ConfigSchema = Type.Object({
  NODE_ENV: Type.String({ default: 'development', description: '`production` makes JWT_SECRET mandatory' }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info', description: 'pino log level used by `npm start`' }
  ),
  SERVER_ADDR: Type.String({
    default: ':3000',
    pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]*):[0-9]{1,5}$',
    description: 'listen address as `host:port` or `:port` (all interfaces)'
  }),
  TRUST_PROXY: Bool('trust X-Forwarded-* headers (set behind a reverse proxy so per-IP limits see client IPs)'),
  JWT_SECRET: Type.Optional(Type.String({
    minLength: 32,
    description: 'HS256 secret for session tokens, at least 32 characters; a random one per run when unset outside production'
  })),
  JWT_TTL: Type.Integer({ minimum: 60, maximum: 30 * 86400, default: 86400, description: 'token lifetime in seconds' }),
  DB_PATH: Type.String({ minLength: 1, default: './data/sealwire.db', description: 'SQLite file (folder created), or `:memory:`' }),
  MESSAGE_RATE_LIMIT: Type.Number({ exclusiveMinimum: 0, maximum: 1e6, default: 5, description: 'WebSocket messages per second per user (token refill rate)' }),
  MESSAGE_BURST_LIMIT: Type.Integer({ minimum: 1, maximum: 1e6, default: 10, description: 'token bucket capacity per user' }),
  MAX_MESSAGE_BYTES: Type.Integer({ minimum: 1024, maximum: 16 * 1024 * 1024, default: 65536, description: 'largest WebSocket frame; larger closes with 1009' }),
  MAX_CONNECTIONS_PER_USER: Type.Integer({ minimum: 1, maximum: 1000, default: 8, description: 'simultaneous WebSocket connections per user' }),
  SEND_BUFFER_LIMIT_BYTES: Type.Integer({ minimum: 65536, maximum: 1 << 30, default: 4 * 1024 * 1024, description: 'a connection whose unsent data passes this is closed (1013); its messages stay queued' }),
  PRESENCE_MAX_USERS: Type.Integer({ minimum: 0, maximum: 1e6, default: 1000, description: 'presence frames are sent to everyone while at most this many users are online' }),
  HEARTBEAT_MS: Type.Integer({ minimum: 100, maximum: 600000, default: 30000, description: 'WebSocket ping interval; a peer that misses one is disconnected' }),
  CLOCK_SKEW_MS: Type.Integer({ minimum: 1000, maximum: 86400000, default: 300000, description: 'accepted distance between a message timestamp and server time' }),
  COMMAND_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 600000, default: 5000, description: 'time limit of one server command' }),
  ALLOW_PLAINTEXT_DIRECT: Bool('accept direct messages without encryption fields (testing only)'),
  ALLOWED_ORIGINS: Type.String({ default: '', description: 'comma-separated origins allowed for WebSocket upgrades and CORS; empty allows any' }),
  ADMIN_USERS: Type.String({ default: '', description: 'comma-separated user ids allowed on admin endpoints' }),
  AUTH_RATE_LIMIT_MAX: Type.Integer({ minimum: 1, maximum: 1e6, default: 30, description: 'requests per IP per window on /auth routes' }),
  AUTH_RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 1000, maximum: 86400000, default: 60000, description: 'window of the /auth limiter' }),
  SECURITY_LOG_FILE: Type.Optional(Type.String({ minLength: 1, description: 'JSON-lines security audit log' }))
})

export type ConfigInput = Static<typeof ConfigSchema>
export type ConfigKey = keyof ConfigInput

/** The validated settings plus the values derived from them once at start. */
export interface Config extends ConfigInput {
  JWT_SECRET: string
  /** true when JWT_SECRET was generated for this run */
  jwtSecretGenerated: boolean
  listen: { host: string, port: number }
  allowedOrigins: string[]
  adminUsers: string[]
}
