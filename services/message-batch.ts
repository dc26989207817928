import type { MessagesTable } from './database.js'

// What one commit of the message store carries, and how its results are handed back to each caller.

/** A message as the hub hands it over: every column but those the store fills in. */
export type MessageToStore = Omit<MessagesTable, 'seq' | 'delivered_at' | 'receipt_sent_at' | 'rejected_reason' | 'rejection'>

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

/** What an ack changed; `ambiguous` when its id alone names pending messages of several senders (nothing changed). */
export type AckResult = DeliveredMessage[] | 'ambiguous'

export interface RejectRequest {
  /** the refusing user: the message's recipient */
  toUser: string
  /** the message's sender */
  fromUser: string
  id: string
  reason: string
  /** the JSON text of the signed reject frame */
  rejection: string
}

export interface Deferred<T> {
  resolve: (value: T) => void
  reject: (err: unknown) => void
}

export interface Batch {
  inserts: Array<{ row: MessageToStore, done: Deferred<StoreResult> }>
  /** `fromUser` undefined: the old ack, by id alone */
  acks: Array<{ toUser: string, id: string, fromUser: string | undefined, done: Deferred<AckResult> }>
  rejects: Array<RejectRequest & { done: Deferred<DeliveredMessage | undefined> }>
  receiptsSent: Array<{ fromUser: string, id: string }>
}

export interface BatchOutcome {
  results: StoreResult[]
  acked: AckResult[]
  rejected: Array<DeliveredMessage | undefined>
}

export function emptyBatch (): Batch {
  return { inserts: [], acks: [], rejects: [], receiptsSent: [] }
}

export const key = (...parts: string[]): string => parts.join('\n')

/**
 * The first of several copies of one message in a batch is stored; the others are duplicates like any later
 * resend. `firstIndex[i]` is row i's place among the unique rows, or -1 for a copy.
 */
export function dedupe (rows: MessageToStore[]): { unique: MessageToStore[], firstIndex: number[] } {
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
export function storeResults (rows: MessageToStore[], firstIndex: number[], inserted: Map<string, number>, delivered: Set<string>): StoreResult[] {
  return rows.map((row, i) => {
    const k = key(row.from_user, row.id)
    const seq = firstIndex[i] === -1 ? undefined : inserted.get(k)
    return seq === undefined ? { status: 'duplicate', delivered: delivered.has(k) } : { status: 'accepted', seq }
  })
}

export type ChangedRow = DeliveredMessage & { to_user: string }

/**
 * Hands each request the row it changed, found by (recipient, sender, id): the first request of a message in
 * the batch gets it; a second one finds it changed already. `senderOf(i)` is the sender request i named or
 * was resolved to; undefined when it changes nothing (an ambiguous or unknown id).
 */
export function matchChanged (requests: Array<{ toUser: string, id: string }>, senderOf: (i: number) => string | undefined, changed: ChangedRow[]): Array<DeliveredMessage | undefined> {
  const byKey = new Map<string, DeliveredMessage>()
  for (const row of changed) byKey.set(key(row.to_user, row.from_user, row.id), { from_user: row.from_user, id: row.id, created_at: row.created_at })
  return requests.map((r, i) => {
    const from = senderOf(i)
    if (from === undefined) return undefined
    const k = key(r.toUser, from, r.id)
    const row = byKey.get(k)
    byKey.delete(k)
    return row
  })
}

/** An ack's result from the row it changed and whether its id alone named several senders. */
export function ackResult (row: DeliveredMessage | undefined, ambiguous: boolean): AckResult {
  if (ambiguous) return 'ambiguous'
  return row === undefined ? [] : [row]
}
