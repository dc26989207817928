import { Type, type Static } from 'typebox'

const ADDRESS = '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]*):[0-9]{1,5}$'

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
  SERVER_ADDR: Type.Optional(Type.String({
    pattern: ADDRESS,
    description: 'listen address as `host:port` or `:port` (all interfaces); default `:443` with TLS, `:3000` without'
  })),
  TLS_CERT: Type.Optional(Type.String({ minLength: 1, description: 'PEM certificate (chain) file; with TLS_KEY turns on HTTPS and WSS. Default server.crt when it and server.key exist' })),
  TLS_KEY: Type.Optional(Type.String({ minLength: 1, description: 'PEM private key file of TLS_CERT' })),
  HTTP_REDIRECT_ADDR: Type.Optional(Type.String({
    pattern: `${ADDRESS.slice(0, -1)}|^off$`,
    description: 'with TLS: plain-HTTP listener that redirects to HTTPS (default `:80`; `off` for none)'
  })),
  TRUST_PROXY: Bool('trust X-Forwarded-* headers (set behind a reverse proxy so per-IP limits see client IPs)'),
  JWT_SECRET: Type.Optional(Type.String({
    minLength: 32,
    description: 'HS256 secret for session tokens, at least 32 characters; a random one per run when unset outside production'
  })),
  JWT_TTL: Type.Integer({ minimum: 60, maximum: 30 * 86400, default: 86400, description: 'token lifetime in seconds' }),
  DB_PATH: Type.String({ minLength: 1, default: './data/sealwire.db', description: 'SQLite file (folder created), or `:memory:`' }),
  DATABASE_URL: Type.Optional(Type.String({
    pattern: '^postgres(ql)?://',
    description: 'PostgreSQL URL (`postgres://user:password@host:5432/db`); when set it is used instead of DB_PATH, and several nodes can share it'
  })),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 1000, default: 10, description: 'PostgreSQL connections per node' }),
  REDIS_URL: Type.Optional(Type.String({
    pattern: '^rediss?://',
    description: 'Redis URL (`redis://[:password@]host:6379[/db]`, `rediss://` for TLS); when set, nodes relay messages, presence and shared state through it'
  })),
  REDIS_KEY_PREFIX: Type.String({
    pattern: '^[A-Za-z0-9:_.{}-]{1,64}$',
    default: 'sealwire:',
    description: 'prefix of every Redis key and channel, so that several deployments can share one Redis'
  }),
  CLUSTER_NODE_TTL_MS: Type.Integer({
    minimum: 1000,
    maximum: 600000,
    default: 15000,
    description: 'with REDIS_URL: a node that has not renewed its entry for this long is taken for dead; its users go offline'
  }),
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
  ABUSE_MAX_FAILURES: Type.Integer({ minimum: 1, maximum: 1e6, default: 20, description: 'failed logins or refused tokens from one IP within ABUSE_WINDOW_MS before it is blocked' }),
  ABUSE_WINDOW_MS: Type.Integer({ minimum: 1000, maximum: 86400000, default: 300000, description: 'window in which failures are counted' }),
  ABUSE_BLOCK_MS: Type.Integer({ minimum: 1000, maximum: 604800000, default: 900000, description: 'how long a blocked IP stays blocked' }),
  ALLOWED_ORIGINS: Type.String({ default: '', description: 'comma-separated origins allowed for WebSocket upgrades and CORS; empty allows any' }),
  ADMIN_USERS: Type.String({ default: '', description: 'comma-separated user ids allowed on admin endpoints' }),
  AUTH_RATE_LIMIT_MAX: Type.Integer({ minimum: 1, maximum: 1e6, default: 30, description: 'requests per IP per window on /auth routes' }),
  AUTH_RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 1000, maximum: 86400000, default: 60000, description: 'window of the /auth limiter' }),
  SECURITY_LOG_FILE: Type.Optional(Type.String({ minLength: 1, description: 'JSON-lines security audit log' })),
  ANALYTICS_ENABLED: Type.Boolean({ default: true, description: 'record sessions, message counts and delivery latency for /analytics and the dashboard' }),
  ANALYTICS_FLUSH_MS: Type.Integer({ minimum: 50, maximum: 10000, default: 1000, description: 'how often buffered analytics are written to the database (each write also tells other processes this one is alive)' }),
  ANALYTICS_RETENTION_DAYS: Type.Integer({ minimum: 35, maximum: 36500, default: 400, description: 'analytics rows (sessions included) older than this many days are deleted' }),
  METRICS_ENABLED: Type.Boolean({ default: true, description: 'serve Prometheus metrics at /metrics' }),
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16, description: 'bearer token /metrics asks for (16+ characters); /metrics is open when unset' }))
})

export type ConfigInput = Static<typeof ConfigSchema>
export type ConfigKey = keyof ConfigInput

/** The validated settings plus the values derived from them once at start. */
export interface Config extends ConfigInput {
  JWT_SECRET: string
  /** certificate and key paths when TLS is on */
  tls: { cert: string, key: string } | null
  /** the redirecting HTTP listener, when TLS is on and it is not `off` */
  httpRedirect: { host: string, port: number } | null
  /** true when JWT_SECRET was generated for this run */
  jwtSecretGenerated: boolean
  listen: { host: string, port: number }
  allowedOrigins: string[]
  adminUsers: string[]
}
