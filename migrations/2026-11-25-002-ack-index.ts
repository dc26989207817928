import type { Kysely } from 'kysely'

// Acks name a message by (recipient, id); without this index each one scans the recipient's queue.
export async function up (db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('messages_ack').on('messages').columns(['to_user', 'id']).execute()
}

export async function down (db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('messages_ack').ifExists().execute()
}
