import { PostgresAdapter, sql, type Kysely } from 'kysely'

// Written with the schema builder only, so that it serves SQLite and PostgreSQL alike.
export async function up (db: Kysely<unknown>): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter

  await db.schema.createTable('users')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('username', 'text', (c) => c.notNull())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('x25519_public_key', 'text', (c) => c.notNull())
    .addColumn('x25519_key_signature', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute()
  // user ids differing only in case would let one user pass for another
  await db.schema.createIndex('users_user_id_nocase').on('users').unique().expression(sql`lower(user_id)`).execute()

  await db.schema.createTable('messages')
    .addColumn('seq', postgres ? 'bigint' : 'integer', (c) =>
      postgres ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey().autoIncrement())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('from_user', 'text', (c) => c.notNull())
    .addColumn('to_user', 'text', (c) => c.notNull())
    .addColumn('message_type', 'text', (c) => c.notNull())
    .addColumn('envelope', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('delivered_at', 'text')
    .addColumn('receipt_sent_at', 'text')
    .addUniqueConstraint('messages_from_id_unique', ['from_user', 'id'])
    .execute()
  await db.schema.createIndex('messages_queue').on('messages').columns(['to_user', 'status', 'seq']).execute()
  await db.schema.createIndex('messages_receipts').on('messages').columns(['from_user', 'status', 'receipt_sent_at']).execute()
  await db.schema.createIndex('messages_history').on('messages').columns(['from_user', 'to_user', 'seq']).execute()

  await db.schema.createTable('challenges')
    .addColumn('challenge', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('challenges_user').on('challenges').columns(['user_id', 'created_at']).execute()
  await db.schema.createIndex('challenges_expiry').on('challenges').column('expires_at').execute()

  await db.schema.createTable('sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('connected_at', 'text', (c) => c.notNull())
    .addColumn('disconnected_at', 'text')
    .addColumn('remote_address', 'text')
    .addColumn('user_agent', 'text')
    .execute()
  await db.schema.createIndex('sessions_user').on('sessions').columns(['user_id', 'connected_at']).execute()
  await db.schema.createIndex('sessions_connected').on('sessions').column('connected_at').execute()
}

export async function down (db: Kysely<unknown>): Promise<void> {
  for (const table of ['sessions', 'challenges', 'messages', 'users']) {
    await db.schema.dropTable(table).ifExists().execute()
  }
}
