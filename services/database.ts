import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import { Kysely, Migrator, PostgresAdapter, PostgresDialect, SqliteDialect, type Generated, type Selectable, type SqliteDatabase } from 'kysely'
import pg from 'pg'
import { migrations } from '../migrations/index.js'

export interface UsersTable {
  user_id: string
  username: string
  public_key: string
  x25519_public_key: string
  x25519_key_signature: string | null
  /** grows with each key bound under the epoch label; 0 for a key bound the v1 way */
  x25519_key_epoch: Generated<number>
  /** null for a key bound the v1 way */
  x25519_key_expires_at: string | null
  created_at: string
  updated_at: string
}

export type MessageStatus = 'pending' | 'delivered' | 'rejected' | 'sent'

export interface MessagesTable {
  /** server-side order of arrival; redelivery follows it */
  seq: Generated<number>
  /** the sender's message id; (from_user, id) is unique */
  id: string
  from_user: string
  to_user: string
  message_type: string
  /** the JSON text of {header, body} exactly as signed by the sender */
  envelope: string
  status: MessageStatus
  created_at: string
  delivered_at: string | null
  /** when the sender was told `delivered` or `rejected`; null while that receipt is owed */
  receipt_sent_at: string | null
  /** with status `rejected`: the reason the recipient gave */
  rejected_reason: string | null
  /** with status `rejected`: the JSON text of {header, body} of the reject frame as the recipient signed it */
  rejection: string | null
}

export interface ChallengesTable {
  challenge: string
  user_id: string
  expires_at: string
  created_at: string
}

/** How a session ended: the client left, the server shut down, or a later process closed it after a crash. */
export type SessionEnd = 'disconnect' | 'shutdown' | 'recovery'

export interface SessionsTable {
  id: string
  user_id: string
  connected_at: string
  disconnected_at: string | null
  remote_address: string | null
  user_agent: string | null
  duration_ms: number | null
  /** the server process that held the session */
  instance_id: string | null
  closed_by: SessionEnd | null
}

export interface RevokedTokensTable {
  jti: string
  user_id: string
  expires_at: string
  revoked_at: string
}

// ---- analytics (migration 2026-11-25-003-analytics) --------------------------------------------------

/** One row per server process: a process whose `last_seen_at` is old and `stopped_at` null died. */
export interface AnalyticsInstancesTable {
  id: string
  started_at: string
  last_seen_at: string
  stopped_at: string | null
}

/** A user with a session on a UTC day (`YYYY-MM-DD`). */
export interface AnalyticsUserDaysTable {
  day: string
  user_id: string
}

/** The DAU, WAU and MAU of a finished day, kept. */
export interface AnalyticsDailyUsersTable {
  day: string
  dau: number
  wau: number
  mau: number
  computed_at: string
}

/** Messages per minute, type, outcome and refusal code (`''` unless refused). */
export interface AnalyticsMessageCountsTable {
  minute: string
  message_type: string
  outcome: string
  code: string
  count: number
}

/** Delivery latency per minute and bucket (`le_ms`, -1 above the largest bound). */
export interface AnalyticsDeliveryLatencyTable {
  minute: string
  le_ms: number
  count: number
  sum_ms: number
}

/** The most connections and online users a process saw in a minute. */
export interface AnalyticsPresenceTable {
  minute: string
  instance_id: string
  connections: number
  online_users: number
}

export interface Database {
  revoked_tokens: RevokedTokensTable
  users: UsersTable
  messages: MessagesTable
  challenges: ChallengesTable
  sessions: SessionsTable
  analytics_instances: AnalyticsInstancesTable
  analytics_user_days: AnalyticsUserDaysTable
  analytics_daily_users: AnalyticsDailyUsersTable
  analytics_message_counts: AnalyticsMessageCountsTable
  analytics_delivery_latency: AnalyticsDeliveryLatencyTable
  analytics_presence: AnalyticsPresenceTable
}

export type User = Selectable<UsersTable>
export type StoredMessage = Selectable<MessagesTable>

export type Synchronous = 'FULL' | 'NORMAL'

export interface DatabaseOptions {
  path: string
  synchronous?: Synchronous
}

/** Opens (creating the folder when needed) the SQLite file in WAL mode. */
export function openSqlite ({ path, synchronous = 'FULL' }: DatabaseOptions): SQLite.Database {
  const memory = path === ':memory:' || path.startsWith('file::memory:')
  if (!memory) mkdirSync(dirname(path), { recursive: true })
  const sqlite = new SQLite(path)
  if (!memory) sqlite.pragma('journal_mode = WAL')
  sqlite.pragma(`synchronous = ${synchronous}`)
  sqlite.pragma('busy_timeout = 5000')
  sqlite.pragma('foreign_keys = ON')
  return sqlite
}

const STATEMENT_CACHE = 256

/**
 * Kysely prepares every query anew, which costs as much as running a small one. Statements are reusable in
 * better-sqlite3, and Kysely runs one query at a time on the connection, so a small cache is safe.
 */
function withStatementCache (sqlite: SQLite.Database): SqliteDatabase {
  const cache = new Map<string, SQLite.Statement>()
  return {
    close: () => sqlite.close(),
    prepare (sql: string) {
      let stmt = cache.get(sql)
      if (stmt !== undefined) {
        // refresh its place, so the cache keeps the statements in use
        cache.delete(sql)
      } else {
        stmt = sqlite.prepare(sql)
        if (cache.size >= STATEMENT_CACHE) cache.delete(cache.keys().next().value as string)
      }
      cache.set(sql, stmt)
      return stmt
    }
  }
}

export function createDatabase (options: DatabaseOptions): Kysely<Database> {
  const sqlite = openSqlite(options)
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) })
}

export interface PostgresOptions {
  /** postgres://user:password@host:port/database */
  url: string
  /** connections in the pool */
  poolSize?: number
  /** a statement running longer is cancelled, so that a stuck server cannot hold every write behind it */
  statementTimeoutMs?: number
  /** told about errors of connections (a restarted server, say), which would otherwise end the process */
  onError?: (err: Error) => void
}

const INT8_OID = 20
const NUMERIC_OID = 1700

/**
 * SQLite gives back integers as numbers; pg gives bigint (`seq`, counts) and numeric (sums) as strings.
 * Every such value here fits in a double, so both dialects hand the same types to the services.
 */
const pgTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => oid === INT8_OID || oid === NUMERIC_OID
    ? (value: string) => Number(value)
    : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser
}

/** Kysely over a pg connection pool, for several nodes sharing one database. */
export function createPostgresDatabase ({ url, poolSize = 10, statementTimeoutMs, onError }: PostgresOptions): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    types: pgTypes,
    // a server that does not answer fails the query in time, instead of holding every write behind it
    connectionTimeoutMillis: 5000,
    keepAlive: true,
    ...(statementTimeoutMs === undefined ? {} : { statement_timeout: statementTimeoutMs })
  })
  const report = (err: Error): void => onError?.(err)
  // idle connections report to the pool; a connection in use reports on itself, and must be listened to too
  pool.on('error', report)
  pool.on('connect', (client) => client.on('error', report))
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
}

export function isPostgres<T> (db: Kysely<T>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter
}

/** Brings the schema up to date; safe to run at every start. Throws on the first failed migration. */
export async function migrateToLatest (db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } })
  const { error, results = [] } = await migrator.migrateToLatest()
  if (error !== undefined) throw error instanceof Error ? error : new Error(String(error))
  return results.filter((r) => r.status === 'Success').map((r) => r.migrationName)
}
