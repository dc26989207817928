import type { Kysely, Transaction } from 'kysely'
import { isPostgres, type Database, type StoredMessage } from './database.js'
import {
  ackResult, dedupe, emptyBatch, key, matchChanged, storeResults, type AckedMessage, type AckResult, type Batch, type BatchOutcome,
  type ChangedRow, type DeliveredMessage, type MessageToStore, type RejectRequest, type StoreResult
} from './message-batch.js'
import { commitPostgres } from './message-store-postgres.js'

export type { AckedMessage, AckResult, DeliveredMessage, MessageToStore, StoreResult } from './message-batch.js'

/** A receipt the sender is owed: `delivered`, or `rejected` with the reject frame (JSON text) its recipient signed. */
export interface OwedReceipt extends AckedMessage {
  rejection?: string
}

const INSERT_CHUNK = 500
/** (a, b, c) IN ((?, ?, ?), …): three parameters each, far below SQLite's limit */
const TUPLE_CHUNK = 1000

/** a batch that lost a deadlock is tried this many times in all */
const MAX_ATTEMPTS = 5
/** PostgreSQL's deadlock_detected and serialization_failure: the transaction rolled back and may be run again */
const TRANSIENT_CODES = new Set(['40P01', '40001'])

function isTransient (err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && TRANSIENT_CODES.has(String((err as { code: unknown }).code))
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

  /**
   * Marks the pending message `(fromUser, id)` to `toUser` delivered; without `fromUser`, the one pending message
   * to `toUser` with that id, or nothing (`ambiguous`) when the id names pending messages of several senders.
   * Returns what changed (empty when nothing was pending).
   */
  async ack (toUser: string, id: string, fromUser?: string): Promise<AckResult> {
    return await new Promise<AckResult>((resolve, reject) => {
      this.#queued.acks.push({ toUser, id, fromUser, done: { resolve, reject } })
      this.#schedule()
    })
  }

  /** Marks the pending message `(fromUser, id)` to `toUser` rejected; undefined when no such message was pending. */
  async reject (request: RejectRequest): Promise<DeliveredMessage | undefined> {
    return await new Promise<DeliveredMessage | undefined>((resolve, reject) => {
      this.#queued.rejects.push({ ...request, done: { resolve, reject } })
      this.#schedule()
    })
  }

  /** Notes that the sender has been told `delivered` or `rejected` (written with the next commit). */
  receiptSent (fromUser: string, id: string): void {
    this.#queued.receiptsSent.push({ fromUser, id })
    this.#schedule()
  }

  /** Resolves when everything asked for so far is committed. */
  async flush (): Promise<void> {
    const waiting = (): number => this.#queued.inserts.length + this.#queued.acks.length + this.#queued.rejects.length + this.#queued.receiptsSent.length
    while (this.#scheduled || waiting() > 0) {
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
    let outcome: BatchOutcome
    for (let attempt = 1; ; attempt++) {
      try {
        outcome = await this.#transaction(batch)
        break
      } catch (err) {
        // nodes sharing PostgreSQL can deadlock on the same rows; the loser rolled back whole and may run again
        if (attempt < MAX_ATTEMPTS && isTransient(err)) continue
        for (const item of [...batch.inserts, ...batch.acks, ...batch.rejects]) item.done.reject(err)
        return
      }
    }
    this.#commits++
    batch.inserts.forEach((item, i) => item.done.resolve(outcome.results[i] as StoreResult))
    batch.acks.forEach((item, i) => item.done.resolve(outcome.acked[i] as AckResult))
    batch.rejects.forEach((item, i) => item.done.resolve(outcome.rejected[i]))
  }

  async #transaction (batch: Batch): Promise<BatchOutcome> {
    if (this.#postgres) return await commitPostgres(this.#db, batch)
    return await this.#db.transaction().execute(async (trx) => {
      const results = await this.#insert(trx, batch.inserts.map((i) => i.row))
      const now = new Date().toISOString()
      const acked = await this.#markDelivered(trx, batch.acks, now)
      const rejected = await this.#markRejected(trx, batch.rejects)
      for (let i = 0; i < batch.receiptsSent.length; i += TUPLE_CHUNK) {
        const chunk = batch.receiptsSent.slice(i, i + TUPLE_CHUNK)
        await trx.updateTable('messages').set({ receipt_sent_at: now })
          .where((eb) => eb(eb.refTuple('from_user', 'id'), 'in', chunk.map((r) => eb.tuple(r.fromUser, r.id))))
          .execute()
      }
      return { results, acked, rejected }
    })
  }

  /**
   * An ack by id alone is first resolved to the one sender with a pending message of that id to the acking
   * user; then one UPDATE per chunk marks the exact (recipient, sender, id) of every ack.
   */
  async #markDelivered (trx: Transaction<Database>, acks: Batch['acks'], now: string): Promise<AckResult[]> {
    const senders = new Map<string, Set<string>>()
    const idOnly = acks.filter((a) => a.fromUser === undefined)
    for (let i = 0; i < idOnly.length; i += TUPLE_CHUNK) {
      const chunk = idOnly.slice(i, i + TUPLE_CHUNK)
      const rows = await trx.selectFrom('messages').select(['to_user', 'from_user', 'id']).where('status', '=', 'pending')
        .where((eb) => eb(eb.refTuple('to_user', 'id'), 'in', chunk.map((a) => eb.tuple(a.toUser, a.id))))
        .execute()
      for (const r of rows) senders.set(key(r.to_user, r.id), (senders.get(key(r.to_user, r.id)) ?? new Set()).add(r.from_user))
    }
    const named = acks.map((a) => a.fromUser === undefined ? [...senders.get(key(a.toUser, a.id)) ?? []] : [a.fromUser])
    const senderOf = (i: number): string | undefined => named[i]?.length === 1 ? named[i][0] : undefined
    const targets = acks.flatMap((a, i) => {
      const from = senderOf(i)
      return from === undefined ? [] : [{ toUser: a.toUser, fromUser: from, id: a.id }]
    })
    const changed: ChangedRow[] = []
    for (let i = 0; i < targets.length; i += TUPLE_CHUNK) {
      const chunk = targets.slice(i, i + TUPLE_CHUNK)
      changed.push(...await trx.updateTable('messages').set({ status: 'delivered', delivered_at: now })
        .where('status', '=', 'pending')
        .where((eb) => eb(eb.refTuple('to_user', 'from_user', 'id'), 'in', chunk.map((a) => eb.tuple(a.toUser, a.fromUser, a.id))))
        .returning(['from_user', 'to_user', 'id', 'created_at']).execute())
    }
    const rows = matchChanged(acks, senderOf, changed)
    return acks.map((_, i) => ackResult(rows[i], (named[i]?.length ?? 0) > 1))
  }

  /** One UPDATE per reject: each carries its own reason and frame, and rejects are rare. */
  async #markRejected (trx: Transaction<Database>, rejects: Batch['rejects']): Promise<Array<DeliveredMessage | undefined>> {
    const out: Array<DeliveredMessage | undefined> = []
    for (const r of rejects) {
      out.push(await trx.updateTable('messages').set({ status: 'rejected', rejected_reason: r.reason, rejection: r.rejection })
        .where('to_user', '=', r.toUser).where('from_user', '=', r.fromUser).where('id', '=', r.id).where('status', '=', 'pending')
        .returning(['from_user', 'id', 'created_at']).executeTakeFirst())
    }
    return out
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

  /** Messages from a user that were delivered or rejected while it was away: their receipts are owed. */
  async receiptsOwed (userId: string, limit: number): Promise<OwedReceipt[]> {
    const rows = await this.#db.selectFrom('messages').select(['from_user', 'id', 'status', 'rejection'])
      .where('from_user', '=', userId).where('status', 'in', ['delivered', 'rejected']).where('receipt_sent_at', 'is', null)
      .orderBy('seq').limit(limit).execute()
    return rows.map(({ from_user: fromUser, id, status, rejection }) =>
      status === 'rejected' && rejection !== null ? { from_user: fromUser, id, rejection } : { from_user: fromUser, id })
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
