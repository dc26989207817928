import type { Selectable, Transaction } from 'kysely'
import type { Database, SessionEnd, SessionsTable } from '../database.js'
import { insertUserDays } from './active-users.js'
import { chunks } from './rows.js'
import { iso } from './time.js'

// What gathers in memory between two writes, and how it is written in one transaction.

export type SessionRow = Selectable<SessionsTable>

export interface ClosedSession {
  id: string
  disconnected_at: string
  duration_ms: number
  closed_by: SessionEnd
}

/** The most connections and online users of a minute (epoch ms) */
export interface PresenceRow {
  minute: number
  connections: number
  online: number
}

export interface Batch {
  /** sessions not written yet (possibly ended already) */
  opened: Map<string, SessionRow>
  /** ends of sessions written before */
  closed: ClosedSession[]
  /** `${day}\n${user}` */
  userDays: Set<string>
  /** `${minute ms}\t${type}\t${outcome}\t${code}` → count */
  counts: Map<string, number>
  /** `${minute ms}\t${le}` → count and sum */
  latency: Map<string, { count: number, sum: number }>
}

export function emptyBatch (): Batch {
  return { opened: new Map(), closed: [], userDays: new Set(), counts: new Map(), latency: new Map() }
}

export function batchRows (b: Batch): number {
  return b.opened.size + b.closed.length + b.userDays.size + b.counts.size + b.latency.size
}

/** A failed batch and the one gathered since, as one: counters add up, later session rows win. */
export function mergeBatches (older: Batch, newer: Batch): Batch {
  const merged = emptyBatch()
  for (const [id, row] of older.opened) merged.opened.set(id, row)
  for (const [id, row] of newer.opened) merged.opened.set(id, row)
  merged.closed = [...older.closed, ...newer.closed]
  merged.userDays = new Set([...older.userDays, ...newer.userDays])
  for (const source of [older, newer]) {
    for (const [key, n] of source.counts) merged.counts.set(key, (merged.counts.get(key) ?? 0) + n)
    for (const [key, { count, sum }] of source.latency) {
      const cell = merged.latency.get(key)
      if (cell === undefined) merged.latency.set(key, { count, sum })
      else {
        cell.count += count
        cell.sum += sum
      }
    }
  }
  return merged
}

export function samePresence (a: PresenceRow, b: PresenceRow | undefined): boolean {
  return b !== undefined && a.minute === b.minute && a.connections === b.connections && a.online === b.online
}

/** Writes a batch and this process's presence rows; counters add to the rows of the same minute. */
export async function writeBatch (trx: Transaction<Database>, batch: Batch, presence: PresenceRow[], instanceId: string, today: string): Promise<void> {
  for (const chunk of chunks([...batch.opened.values()], 100)) {
    await trx.insertInto('sessions').values(chunk).execute()
  }
  for (const end of batch.closed) {
    await trx.updateTable('sessions')
      .set({ disconnected_at: end.disconnected_at, duration_ms: end.duration_ms, closed_by: end.closed_by })
      .where('id', '=', end.id).execute()
  }
  await insertUserDays(trx, [...batch.userDays].map((key) => {
    const at = key.indexOf('\n')
    return { day: key.slice(0, at), user_id: key.slice(at + 1) }
  }), today)

  const counts = [...batch.counts].map(([key, count]) => {
    const [minute, type, outcome, code] = key.split('\t') as [string, string, string, string]
    return { minute: iso(Number(minute)), message_type: type, outcome, code, count }
  })
  for (const chunk of chunks(counts)) {
    await trx.insertInto('analytics_message_counts').values(chunk)
      .onConflict((oc) => oc.columns(['minute', 'message_type', 'outcome', 'code'])
        .doUpdateSet((eb) => ({ count: eb('analytics_message_counts.count', '+', eb.ref('excluded.count')) })))
      .execute()
  }
  const latency = [...batch.latency].map(([key, { count, sum }]) => {
    const [minute, le] = key.split('\t') as [string, string]
    return { minute: iso(Number(minute)), le_ms: Number(le), count, sum_ms: Math.round(sum) }
  })
  for (const chunk of chunks(latency)) {
    await trx.insertInto('analytics_delivery_latency').values(chunk)
      .onConflict((oc) => oc.columns(['minute', 'le_ms']).doUpdateSet((eb) => ({
        count: eb('analytics_delivery_latency.count', '+', eb.ref('excluded.count')),
        sum_ms: eb('analytics_delivery_latency.sum_ms', '+', eb.ref('excluded.sum_ms'))
      })))
      .execute()
  }
  for (const row of presence) {
    // the row holds this process's maximum of the minute, so the newer value replaces the older one
    await trx.insertInto('analytics_presence')
      .values({ minute: iso(row.minute), instance_id: instanceId, connections: row.connections, online_users: row.online })
      .onConflict((oc) => oc.columns(['minute', 'instance_id']).doUpdateSet((eb) => ({
        connections: eb.ref('excluded.connections'),
        online_users: eb.ref('excluded.online_users')
      })))
      .execute()
  }
}
