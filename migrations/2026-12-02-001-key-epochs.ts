import type { Kysely } from 'kysely'

// Ordered key bindings and refusals that reach the sender (issue 14). Schema builder only, so that it serves
// SQLite and PostgreSQL alike; SQLite adds one column per ALTER TABLE.
export async function up (db: Kysely<unknown>): Promise<void> {
  // bigint: an epoch may go up to 2^53 - 1, beyond PostgreSQL's integer; 0 for keys bound the v1 way
  await db.schema.alterTable('users').addColumn('x25519_key_epoch', 'bigint', (c) => c.notNull().defaultTo(0)).execute()
  await db.schema.alterTable('users').addColumn('x25519_key_expires_at', 'text').execute()
  // a message's status may now be 'rejected': the reason, and the reject frame as its recipient signed it
  // (the sender's receipt carries it, now or at its next connection)
  await db.schema.alterTable('messages').addColumn('rejected_reason', 'text').execute()
  await db.schema.alterTable('messages').addColumn('rejection', 'text').execute()
}

export async function down (db: Kysely<unknown>): Promise<void> {
  for (const column of ['rejection', 'rejected_reason']) await db.schema.alterTable('messages').dropColumn(column).execute()
  for (const column of ['x25519_key_expires_at', 'x25519_key_epoch']) await db.schema.alterTable('users').dropColumn(column).execute()
}
