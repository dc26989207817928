import type { Kysely, Transaction } from 'kysely'
import type { Database, MessagesTable, StoredMessage } from './database.js'

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

  constructor (db: Kysely<Database>) {
    this.#db = db
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

  /** One UPDATE per chunk of acks; each ack gets back the rows it changed. */
  async #markDelivered (trx: Transaction<Database>, acks: Batch['acks'], now: string): Promise<DeliveredMessage[][]> {
    const changed = new Map<string, DeliveredMessage[]>()
    for (let i = 0; i < acks.length; i += TUPLE_CHUNK) {
      const chunk = acks.slice(i, i + TUPLE_CHUNK)
      const rows = await trx.updateTable('messages').set({ status: 'delivered', delivered_at: now })
        .where('status', '=', 'pending')
        .where((eb) => eb(eb.refTuple('to_user', 'id'), 'in', chunk.map((a) => eb.tuple(a.toUser, a.id))))
        .returning(['from_user', 'to_user', 'id', 'created_at']).execute()
      for (const row of rows) {
        const key = `${row.to_user}\n${row.id}`
        changed.set(key, [...changed.get(key) ?? [], { from_user: row.from_user, id: row.id, created_at: row.created_at }])
      }
    }
    // the first ack of a message in the batch gets what changed; a second one finds it delivered already
    return acks.map((a) => {
      const key = `${a.toUser}\n${a.id}`
      const rows = changed.get(key) ?? []
      changed.delete(key)
      return rows
    })
  }

  async #insert (trx: Transaction<Database>, rows: MessageToStore[]): Promise<StoreResult[]> {
    // The first of several copies in one batch is stored; the others are duplicates like any later resend.
    const seen = new Map<string, number>()
    const unique: MessageToStore[] = []
    const firstIndex: number[] = []
    for (const row of rows) {
      const key = `${row.from_user}\n${row.id}`
      const index = seen.get(key)
      if (index === undefined) {
        seen.set(key, unique.length)
        firstIndex.push(unique.length)
        unique.push(row)
      } else {
        firstIndex.push(-1)
      }
    }
    const inserted = new Map<string, number>()
    for (let i = 0; i < unique.length; i += INSERT_CHUNK) {
      const chunk = unique.slice(i, i + INSERT_CHUNK).map((r) => ({ ...r, delivered_at: null, receipt_sent_at: null }))
      const out = await trx.insertInto('messages').values(chunk)
        .onConflict((oc) => oc.columns(['from_user', 'id']).doNothing())
        .returning(['from_user', 'id', 'seq']).execute()
      for (const r of out) inserted.set(`${r.from_user}\n${r.id}`, Number(r.seq))
    }
    // a sender resends what it had no answer for; if that was delivered meanwhile, it is told so again
    const delivered = new Set<string>()
    const earlier = unique.filter((r) => !inserted.has(`${r.from_user}\n${r.id}`))
    for (let i = 0; i < earlier.length; i += TUPLE_CHUNK) {
      const chunk = earlier.slice(i, i + TUPLE_CHUNK)
      const found = await trx.selectFrom('messages').select(['from_user', 'id'])
        .where('status', '=', 'delivered')
        .where((eb) => eb(eb.refTuple('from_user', 'id'), 'in', chunk.map((r) => eb.tuple(r.from_user, r.id))))
        .execute()
      for (const r of found) delivered.add(`${r.from_user}\n${r.id}`)
    }
    return rows.map((row, i) => {
      const key = `${row.from_user}\n${row.id}`
      const seq = firstIndex[i] === -1 ? undefined : inserted.get(key)
      return seq === undefined ? { status: 'duplicate', delivered: delivered.has(key) } : { status: 'accepted', seq }
    })
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
