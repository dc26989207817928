import type { Kysely } from 'kysely'

// Analytics: what the sessions table lacked, per-day active users, and per-minute counters.
// Schema builder only, so that it serves SQLite and PostgreSQL alike. Timestamps are ISO 8601 text in UTC,
// as in the initial migration, so that they compare as strings.
export async function up (db: Kysely<unknown>): Promise<void> {
  // SQLite adds one column per ALTER TABLE
  await db.schema.alterTable('sessions').addColumn('duration_ms', 'bigint').execute()
  // the server process that held the session; a crashed process leaves its sessions open until one finds it stale
  await db.schema.alterTable('sessions').addColumn('instance_id', 'text').execute()
  // how the session ended: disconnect, shutdown or recovery (closed after a crash, at the last sign of life)
  await db.schema.alterTable('sessions').addColumn('closed_by', 'text').execute()
  await db.schema.createIndex('sessions_disconnected').on('sessions').column('disconnected_at').execute()
  await db.schema.createIndex('sessions_instance').on('sessions').columns(['instance_id', 'disconnected_at']).execute()

  await db.schema.createTable('analytics_instances')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('last_seen_at', 'text', (c) => c.notNull())
    .addColumn('stopped_at', 'text')
    .execute()

  // one row per user and UTC day with a session that day: DAU, WAU and MAU are counts over it
  await db.schema.createTable('analytics_user_days')
    .addColumn('day', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('analytics_user_days_pk', ['day', 'user_id'])
    .execute()

  // finished days' DAU, WAU and MAU, kept so that a 30-day chart does not count a month of rows each time
  await db.schema.createTable('analytics_daily_users')
    .addColumn('day', 'text', (c) => c.primaryKey())
    .addColumn('dau', 'integer', (c) => c.notNull())
    .addColumn('wau', 'integer', (c) => c.notNull())
    .addColumn('mau', 'integer', (c) => c.notNull())
    .addColumn('computed_at', 'text', (c) => c.notNull())
    .execute()

  // code is '' unless the outcome is refused (a primary key column cannot be null)
  await db.schema.createTable('analytics_message_counts')
    .addColumn('minute', 'text', (c) => c.notNull())
    .addColumn('message_type', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('code', 'text', (c) => c.notNull())
    .addColumn('count', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('analytics_message_counts_pk', ['minute', 'message_type', 'outcome', 'code'])
    .execute()

  // le_ms: the bucket's upper bound in milliseconds, -1 for the bucket above the largest bound
  await db.schema.createTable('analytics_delivery_latency')
    .addColumn('minute', 'text', (c) => c.notNull())
    .addColumn('le_ms', 'bigint', (c) => c.notNull())
    .addColumn('count', 'bigint', (c) => c.notNull())
    .addColumn('sum_ms', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('analytics_delivery_latency_pk', ['minute', 'le_ms'])
    .execute()

  // the most connections and online users each server process saw in each minute
  await db.schema.createTable('analytics_presence')
    .addColumn('minute', 'text', (c) => c.notNull())
    .addColumn('instance_id', 'text', (c) => c.notNull())
    .addColumn('connections', 'integer', (c) => c.notNull())
    .addColumn('online_users', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('analytics_presence_pk', ['minute', 'instance_id'])
    .execute()
}

export async function down (db: Kysely<unknown>): Promise<void> {
  for (const table of ['analytics_presence', 'analytics_delivery_latency', 'analytics_message_counts', 'analytics_daily_users', 'analytics_user_days', 'analytics_instances']) {
    await db.schema.dropTable(table).ifExists().execute()
  }
  await db.schema.dropIndex('sessions_instance').ifExists().execute()
  await db.schema.dropIndex('sessions_disconnected').ifExists().execute()
  for (const column of ['closed_by', 'instance_id', 'duration_ms']) {
    await db.schema.alterTable('sessions').dropColumn(column).execute()
  }
}
