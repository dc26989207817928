import { sql, type Kysely, type Transaction } from 'kysely'
import { isPostgres, type Database, type MessagesTable, type StoredMessage } from './database.js'

/** A message as the hub hands it over: every column but those the store fills in. */
export type MessageToStore = Omit<MessagesTable, 'seq' | 'delivered_at' | 'receipt_sent_at'>

/** `delivered`: the copy stored earlier has been acknowledged by its recipient already. */
export type StoreResult = { status: 'accepted', seq: number } | { status: 'duplicate', delivered: boolean }

export interface AckedMessage {
  from_user: string
  id: string
}

export interface DeliveredMessage extends AckedMessage {
  /** when the message was stored */
  created_at: string
}

interface Deferred<T> {
  resolve: (value: T) => void
  reject: (err: unknown) => void
}

interface Batch {
  inserts: Array<{ row: MessageToStore, done: Deferred<StoreResult> }>
  acks: Array<{ toUser: string, id: string, done: Deferred<DeliveredMessage[]> }>
  receiptsSent: Array<{ fromUser: string, id: string }>
}

const INSERT_CHUNK = 500
/** (a, b) IN ((?, ?), …): two parameters each, far below SQLite's limit */
const TUPLE_CHUNK = 1000

/** a batch that lost a deadlock is tried this many times in all */
const MAX_ATTEMPTS = 5
/** PostgreSQL's deadlock_detected and serialization_failure: the transaction rolled back and may be run again */
const TRANSIENT_CODES = new Set(['40P01', '40001'])

function isTransient (err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && TRANSIENT_CODES.has(String((err as { code: unknown }).code))
}

function emptyBatch (): Batch {
  return { inserts: [], acks: [], receiptsSent: [] }
}

const key = (a: string, b: string): string => `${a}\n${b}`

/**
 * The first of several copies of one message in a batch is stored; the others are duplicates like any later
 * resend. `firstIndex[i]` is row i's place among the unique rows, or -1 for a copy.
 */
function dedupe (rows: MessageToStore[]): { unique: MessageToStore[], firstIndex: number[] } {
  const seen = new Set<string>()
  const unique: MessageToStore[] = []
  const firstIndex: number[] = []
  for (const row of rows) {
    const k = key(row.from_user, row.id)
    if (seen.has(k)) {
      firstIndex.push(-1)
    } else {
      seen.add(k)
      firstIndex.push(unique.length)
      unique.push(row)
    }
  }
  return { unique, firstIndex }
}

/**
 * Each row's result from the keys that were inserted (with their seq) and the keys whose earlier copy is
 * delivered: a sender resends what it had no answer for, and is told again if that was delivered meanwhile.
 */
function storeResults (rows: MessageToStore[], firstIndex: number[], inserted: Map<string, number>, delivered: Set<string>): StoreResult[] {
  return rows.map((row, i) => {
    const k = key(row.from_user, row.id)
    const seq = firstIndex[i] === -1 ? undefined : inserted.get(k)
    return seq === undefined ? { status: 'duplicate', delivered: delivered.has(k) } : { status: 'accepted', seq }
  })
}

type DeliveredRow = DeliveredMessage & { to_user: string }

/** The first ack of a message in the batch gets the rows it changed; a second one finds it delivered already. */
function ackResults (acks: Batch['acks'], changed: DeliveredRow[]): DeliveredMessage[][] {
  const byKey = new Map<string, DeliveredMessage[]>()
  for (const row of changed) {
    const k = key(row.to_user, row.id)
    byKey.set(k, [...byKey.get(k) ?? [], { from_user: row.from_user, id: row.id, created_at: row.created_at }])
  }
  return acks.map((a) => {
    const k = key(a.toUser, a.id)
    const rows = byKey.get(k) ?? []
    byKey.delete(k)
    return rows
  })
}

/**
 * Durable message storage with group commit: every write asked for during one event-loop turn goes into
 * one transaction, so a commit's fsync is shared by all of them. A promise resolves only after its commit.
 */
export class MessageStore {
  readonly #db: Kysely<Database>
  #queued: Batch = emptyBatch()
  #scheduled = false
  #running: Promise<void> = Promise.resolve()
  #commits = 0
  readonly #postgres: boolean

  constructor (db: Kysely<Database>) {
    this.#db = db
    this.#postgres = isPostgres(db)
  }

  /** Stores a message; `duplicate` when (from_user, id) is already stored. */
  async store (row: MessageToStore): Promise<StoreResult> {
    return await new Promise<StoreResult>((resolve, reject) => {
      this.#queued.inserts.push({ row, done: { resolve, reject } })
      this.#schedule()
    })
  }

  /** Marks a pending message to `toUser` delivered; returns what changed (empty when nothing was pending). */
  async ack (toUser: string, id: string): Promise<DeliveredMessage[]> {
    return await new Promise<DeliveredMessage[]>((resolve, reject) => {
      this.#queued.acks.push({ toUser, id, done: { resolve, reject } })
      this.#schedule()
    })
  }

  /** Notes that the sender has been told `delivered` (written with the next commit). */
  receiptSent (fromUser: string, id: string): void {
    this.#queued.receiptsSent.push({ fromUser, id })
    this.#schedule()
  }

  /** Resolves when everything asked for so far is committed. */
  async flush (): Promise<void> {
    while (this.#scheduled || this.#queued.inserts.length + this.#queued.acks.length + this.#queued.receiptsSent.length > 0) {
      await this.#running
      await new Promise((resolve) => setImmediate(resolve))
    }
    await this.#running
  }

  get commits (): number {
    return this.#commits
  }

  #schedule (): void {
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(() => {
      this.#running = this.#running.then(async () => {
        this.#scheduled = false
        const batch = this.#queued
        this.#queued = emptyBatch()
        await this.#commit(batch)
      })
    })
  }

  async #commit (batch: Batch): Promise<void> {
    let outcome: { results: StoreResult[], acked: DeliveredMessage[][] }
    for (let attempt = 1; ; attempt++) {
      try {
        outcome = await this.#transaction(batch)
        break
      } catch (err) {
        // nodes sharing PostgreSQL can deadlock on the same rows; the loser rolled back whole and may run again
        if (attempt < MAX_ATTEMPTS && isTransient(err)) continue
        for (const item of [...batch.inserts, ...batch.acks]) item.done.reject(err)
        return
      }
    }
    this.#commits++
    batch.inserts.forEach((item, i) => item.done.resolve(outcome.results[i] as StoreResult))
    batch.acks.forEach((item, i) => item.done.resolve(outcome.acked[i] as DeliveredMessage[]))
  }

  async #transaction (batch: Batch): Promise<{ results: StoreResult[], acked: DeliveredMessage[][] }> {
    if (this.#postgres) return await this.#oneStatement(batch)
    return await this.#db.transaction().execute(async (trx) => {
      const results = await this.#insert(trx, batch.inserts.map((i) => i.row))
      const now = new Date().toISOString()
      const acked = await this.#markDelivered(trx, batch.acks, now)
      for (let i = 0; i < batch.receiptsSent.length; i += TUPLE_CHUNK) {
        const chunk = batch.receiptsSent.slice(i, i + TUPLE_CHUNK)
        await trx.updateTable('messages').set({ receipt_sent_at: now })
          .where((eb) => eb(eb.refTuple('from_user', 'id'), 'in', chunk.map((r) => eb.tuple(r.fromUser, r.id))))
          .execute()
      }
      return { results, acked }
    })
  }

  /**
   * PostgreSQL: the whole batch as one statement, its writes in data-modifying CTEs, atomic as every statement is:
   * one round trip instead of five (begin, insert, two updates, commit), each of which waits its turn on a
   * busy event loop. Rows travel as arrays (unnest), so the statement has the same few parameters and plans
   * the same way whatever the batch size. Every CTE sees the table as it was before the statement, which is
   * what each needs: the stored copies of resent messages, and the acks and receipts of earlier batches.
   */
  async #oneStatement (batch: Batch): Promise<{ results: StoreResult[], acked: DeliveredMessage[][] }> {
    const rows = batch.inserts.map((i) => i.row)
    const { unique, firstIndex } = dedupe(rows)
    const column = <K extends keyof MessageToStore>(name: K): Array<MessageToStore[K]> => unique.map((r) => r[name])
    const now = new Date().toISOString()
    const { rows: out } = await sql<{ kind: string, from_user: string, id: string, seq: number | null, to_user: string | null, created_at: string | null }>`
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
      ), acked AS (
        UPDATE messages m SET status = 'delivered', delivered_at = ${now}
        FROM unnest(${batch.acks.map((a) => a.toUser)}::text[], ${batch.acks.map((a) => a.id)}::text[]) AS a(to_user, id)
        WHERE m.to_user = a.to_user AND m.id = a.id AND m.status = 'pending'
        RETURNING m.from_user, m.to_user, m.id, m.created_at
      ), receipts AS (
        UPDATE messages m SET receipt_sent_at = ${now}
        FROM unnest(${batch.receiptsSent.map((r) => r.fromUser)}::text[], ${batch.receiptsSent.map((r) => r.id)}::text[]) AS r(from_user, id)
        WHERE m.from_user = r.from_user AND m.id = r.id
      )
      SELECT 'i' AS kind, from_user, id, seq, NULL::text AS to_user, NULL::text AS created_at FROM ins
      UNION ALL SELECT 'd' AS kind, from_user, id, NULL::bigint AS seq, NULL::text AS to_user, NULL::text AS created_at FROM dup
      UNION ALL SELECT 'a' AS kind, from_user, id, NULL::bigint AS seq, to_user, created_at FROM acked`.execute(this.#db)

    const inserted = new Map<string, number>()
    const delivered = new Set<string>()
    const changed: DeliveredRow[] = []
    for (const r of out) {
      if (r.kind === 'i') inserted.set(key(r.from_user, r.id), Number(r.seq))
      else if (r.kind === 'd') delivered.add(key(r.from_user, r.id))
      else changed.push({ from_user: r.from_user, to_user: r.to_user as string, id: r.id, created_at: r.created_at as string })
    }
    return { results: storeResults(rows, firstIndex, inserted, delivered), acked: ackResults(batch.acks, changed) }
  }

  /** One UPDATE per chunk of acks; each ack gets back the rows it changed. */
  async #markDelivered (trx: Transaction<Database>, acks: Batch['acks'], now: string): Promise<DeliveredMessage[][]> {
    const changed: DeliveredRow[] = []
    for (let i = 0; i < acks.length; i += TUPLE_CHUNK) {
      const chunk = acks.slice(i, i + TUPLE_CHUNK)
      changed.push(...await trx.updateTable('messages').set({ status: 'delivered', delivered_at: now })
        .where('status', '=', 'pending')
        .where((eb) => eb(eb.refTuple('to_user', 'id'), 'in', chunk.map((a) => eb.tuple(a.toUser, a.id))))
        .returning(['from_user', 'to_user', 'id', 'created_at']).execute())
    }
    return ackResults(acks, changed)
  }

  async #insert (trx: Transaction<Database>, rows: MessageToStore[]): Promise<StoreResult[]> {
    const { unique, firstIndex } = dedupe(rows)
    const inserted = new Map<string, number>()
    for (let i = 0; i < unique.length; i += INSERT_CHUNK) {
      const chunk = unique.slice(i, i + INSERT_CHUNK).map((r) => ({ ...r, delivered_at: null, receipt_sent_at: null }))
      const out = await trx.insertInto('messages').values(chunk)
        .onConflict((oc) => oc.columns(['from_user', 'id']).doNothing())
        .returning(['from_user', 'id', 'seq']).execute()
      for (const r of out) inserted.set(key(r.from_user, r.id), Number(r.seq))
    }
    const delivered = new Set<string>()
    const earlier = unique.filter((r) => !inserted.has(key(r.from_user, r.id)))
    for (let i = 0; i < earlier.length; i += TUPLE_CHUNK) {
      const chunk = earlier.slice(i, i + TUPLE_CHUNK)
      const found = await trx.selectFrom('messages').select(['from_user', 'id'])
        .where('status', '=', 'delivered')
        .where((eb) => eb(eb.refTuple('from_user', 'id'), 'in', chunk.map((r) => eb.tuple(r.from_user, r.id))))
        .execute()
      for (const r of found) delivered.add(key(r.from_user, r.id))
    }
    return storeResults(rows, firstIndex, inserted, delivered)
  }

  /** Pending direct messages to a user after `afterSeq`, oldest first. */
  async pendingFor (userId: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    return await this.#db.selectFrom('messages').selectAll()
      .where('to_user', '=', userId).where('status', '=', 'pending').where('seq', '>', afterSeq)
      .orderBy('seq').limit(limit).execute()
  }

  async pendingCount (userId: string): Promise<number> {
    const row = await this.#db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n'))
      .where('to_user', '=', userId).where('status', '=', 'pending').executeTakeFirstOrThrow()
    return Number(row.n)
  }

  /** Messages from a user that were delivered while it was away: their `delivered` receipts are owed. */
  async receiptsOwed (userId: string, limit: number): Promise<AckedMessage[]> {
    return await this.#db.selectFrom('messages').select(['from_user', 'id'])
      .where('from_user', '=', userId).where('status', '=', 'delivered').where('receipt_sent_at', 'is', null)
      .orderBy('seq').limit(limit).execute()
  }

  /** The messages between two users, newest first, before a `seq` cursor. */
  async history (userId: string, peer: string, before: number | undefined, limit: number): Promise<StoredMessage[]> {
    let query = this.#db.selectFrom('messages').selectAll()
      .where((eb) => eb.or([
        eb.and([eb('from_user', '=', userId), eb('to_user', '=', peer)]),
        eb.and([eb('from_user', '=', peer), eb('to_user', '=', userId)])
      ]))
    if (before !== undefined) query = query.where('seq', '<', before)
    return await query.orderBy('seq', 'desc').limit(limit).execute()
  }
}
