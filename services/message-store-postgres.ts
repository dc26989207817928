import { sql, type Kysely } from 'kysely'
import type { Database } from './database.js'
import { ackResult, dedupe, key, matchChanged, storeResults, type Batch, type BatchOutcome, type ChangedRow } from './message-batch.js'

type OutRow = { kind: string, from_user: string | null, to_user: string | null, id: string | null, seq: number | null, created_at: string | null }

/**
 * PostgreSQL: the whole batch as one statement, its writes in data-modifying CTEs, atomic as every statement is:
 * one round trip instead of five (begin, insert, updates, commit), each of which waits its turn on a busy event
 * loop. Rows travel as arrays (unnest), so the statement has the same few parameters and plans the same way
 * whatever the batch size. Every CTE sees the table as it was before the statement, which is what each needs:
 * the stored copies of resent messages, and the acks, rejects and receipts of earlier batches. A reject of a
 * message acknowledged in the same batch finds it gone, as it would one batch later.
 */
export async function commitPostgres (db: Kysely<Database>, batch: Batch): Promise<BatchOutcome> {
  const rows = batch.inserts.map((i) => i.row)
  const { unique, firstIndex } = dedupe(rows)
  const column = <K extends keyof typeof rows[number]>(name: K): Array<typeof rows[number][K]> => unique.map((r) => r[name])
  const { acks, rejects } = batch
  const now = new Date().toISOString()
  const { rows: out } = await sql<OutRow>`
    WITH v AS (
      SELECT * FROM unnest(${column('id')}::text[], ${column('from_user')}::text[], ${column('to_user')}::text[],
        ${column('message_type')}::text[], ${column('envelope')}::text[], ${column('status')}::text[], ${column('created_at')}::text[])
        WITH ORDINALITY AS v(id, from_user, to_user, message_type, envelope, status, created_at, n)
    ), ins AS (
      INSERT INTO messages (id, from_user, to_user, message_type, envelope, status, created_at)
      SELECT id, from_user, to_user, message_type, envelope, status, created_at FROM v ORDER BY n
      ON CONFLICT (from_user, id) DO NOTHING RETURNING from_user, id, seq
    ), dup AS (
      SELECT m.from_user, m.id FROM v JOIN messages m ON m.from_user = v.from_user AND m.id = v.id WHERE m.status = 'delivered'
    ), a AS (
      SELECT * FROM unnest(${acks.map((x) => x.toUser)}::text[], ${acks.map((x) => x.fromUser ?? null)}::text[], ${acks.map((x) => x.id)}::text[])
        WITH ORDINALITY AS a(to_user, from_user, id, n)
    ), found AS (
      SELECT a.n, min(m.from_user) AS from_user, count(*) AS senders
      FROM a JOIN messages m ON m.to_user = a.to_user AND m.id = a.id AND m.status = 'pending'
        AND (a.from_user IS NULL OR m.from_user = a.from_user)
      GROUP BY a.n
    ), acked AS (
      UPDATE messages m SET status = 'delivered', delivered_at = ${now}
      FROM found f JOIN a ON a.n = f.n
      WHERE f.senders = 1 AND m.to_user = a.to_user AND m.from_user = f.from_user AND m.id = a.id AND m.status = 'pending'
      RETURNING m.from_user, m.to_user, m.id, m.created_at
    ), rejected AS (
      UPDATE messages m SET status = 'rejected', rejected_reason = r.reason, rejection = r.rejection
      FROM unnest(${rejects.map((r) => r.toUser)}::text[], ${rejects.map((r) => r.fromUser)}::text[], ${rejects.map((r) => r.id)}::text[],
        ${rejects.map((r) => r.reason)}::text[], ${rejects.map((r) => r.rejection)}::text[]) AS r(to_user, from_user, id, reason, rejection)
      WHERE m.to_user = r.to_user AND m.from_user = r.from_user AND m.id = r.id AND m.status = 'pending'
        AND NOT EXISTS (SELECT 1 FROM acked x WHERE x.from_user = m.from_user AND x.id = m.id)
      RETURNING m.from_user, m.to_user, m.id, m.created_at
    ), receipts AS (
      UPDATE messages m SET receipt_sent_at = ${now}
      FROM unnest(${batch.receiptsSent.map((r) => r.fromUser)}::text[], ${batch.receiptsSent.map((r) => r.id)}::text[]) AS r(from_user, id)
      WHERE m.from_user = r.from_user AND m.id = r.id
    )
    SELECT 'i' AS kind, from_user, NULL::text AS to_user, id, seq, NULL::text AS created_at FROM ins
    UNION ALL SELECT 'd', from_user, NULL, id, NULL, NULL FROM dup
    UNION ALL SELECT 'f', from_user, NULL, NULL, n, NULL FROM found WHERE senders = 1
    UNION ALL SELECT 'x', NULL, NULL, NULL, n, NULL FROM found WHERE senders > 1
    UNION ALL SELECT 'a', from_user, to_user, id, NULL, created_at FROM acked
    UNION ALL SELECT 'r', from_user, to_user, id, NULL, created_at FROM rejected`.execute(db)

  const inserted = new Map<string, number>()
  const delivered = new Set<string>()
  /** by the ack's place in the batch (from 1): the one sender its id names, or none when several */
  const sender = new Map<number, string | null>()
  const acked: ChangedRow[] = []
  const rejected: ChangedRow[] = []
  for (const r of out) {
    const changed = (): ChangedRow => ({ from_user: r.from_user as string, to_user: r.to_user as string, id: r.id as string, created_at: r.created_at as string })
    if (r.kind === 'i') inserted.set(key(r.from_user as string, r.id as string), Number(r.seq))
    else if (r.kind === 'd') delivered.add(key(r.from_user as string, r.id as string))
    else if (r.kind === 'f') sender.set(Number(r.seq), r.from_user)
    else if (r.kind === 'x') sender.set(Number(r.seq), null)
    else if (r.kind === 'a') acked.push(changed())
    else rejected.push(changed())
  }
  const ackRows = matchChanged(acks, (i) => sender.get(i + 1) ?? undefined, acked)
  return {
    results: storeResults(rows, firstIndex, inserted, delivered),
    acked: acks.map((_, i) => ackResult(ackRows[i], sender.get(i + 1) === null)),
    rejected: matchChanged(rejects, (i) => rejects[i]?.fromUser, rejected)
  }
}
