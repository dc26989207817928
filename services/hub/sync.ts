import type { FastifyBaseLogger } from 'fastify'
import type { StoredMessage } from '../database.js'
import type { MessageStore } from '../message-store.js'
import { CLOSE, type Connection } from './connection.js'
import { receiptFrame, rejectedReceiptFrame, withMeta } from './server-frames.js'

const QUEUE_PAGE = 500
/** connections sending their queue again at once after a resync; the others wait their turn */
const RESYNC_CONCURRENCY = 8

export interface QueueSyncOptions {
  store: MessageStore
  log: FastifyBaseLogger
  sendBufferLimit: number
  /** sends a frame to the connection (or closes it when its buffer is full) */
  send: (conn: Connection, frame: string) => void
  /** closes a connection that cannot be served */
  kick: (conn: Connection, code: number, reason: string) => void
  /** resolves once deliveries to the user from other nodes reach this node, so that a queue read after it misses none */
  subscribed: (userId: string) => Promise<void> | undefined
  now: () => number
}

/**
 * Sends a connection what is stored for it: the direct messages not acknowledged yet, in order, then the
 * `delivered` and `rejected` receipts its user is owed. Live messages that arrive meanwhile wait in `conn.held` and follow.
 */
export class QueueSync {
  readonly #o: QueueSyncOptions
  readonly #waiting: Connection[] = []
  #running = 0

  constructor (options: QueueSyncOptions) {
    this.#o = options
  }

  /** The first sync of a new connection. */
  start (conn: Connection): void {
    void this.#run(conn)
  }

  /** Another pass for these connections, a few at a time: the relay may have lost deliveries to them. */
  again (connections: Iterable<Connection>): void {
    for (const conn of connections) {
      if (conn.closed) continue
      if (conn.syncRunning) {
        conn.resyncWanted = true
        continue
      }
      conn.syncRunning = true
      conn.syncing = true
      this.#waiting.push(conn)
    }
    this.#pump()
  }

  #pump (): void {
    while (this.#running < RESYNC_CONCURRENCY && this.#waiting.length > 0) {
      const conn = this.#waiting.shift() as Connection
      this.#running++
      void this.#run(conn).finally(() => {
        this.#running--
        this.#pump()
      })
    }
  }

  async #run (conn: Connection): Promise<void> {
    try {
      await this.#sync(conn)
    } catch (err) {
      conn.syncRunning = false
      this.#o.log.error({ err, user: conn.user.user_id }, 'sending the stored queue failed')
      this.#o.kick(conn, CLOSE.tryAgainLater, 'try again later')
    }
  }

  /**
   * Sends the stored queue in order, then what arrived meanwhile, then the receipts owed; once more for each
   * resync asked for meanwhile. Clears `syncRunning` in the same turn as its last look at `resyncWanted`, so
   * that a resync asked for after that look starts a pass of its own.
   */
  async #sync (conn: Connection): Promise<void> {
    const { store, send } = this.#o
    const userId = conn.user.user_id
    await this.#o.subscribed(userId)
    for (;;) {
      conn.resyncWanted = false
      // seq orders the queue, but with several nodes a smaller seq can commit after a larger one has been
      // read: what arrived live is held back only if this pass sent it from the database already
      const sent = new Set<number>()
      let after = 0
      for (;;) {
        const rows: StoredMessage[] = await store.pendingFor(userId, after, QUEUE_PAGE)
        if (conn.closed) return
        for (const row of rows) {
          send(conn, withMeta(row.envelope, row.created_at))
          after = Number(row.seq)
          sent.add(after)
        }
        if (rows.length < QUEUE_PAGE) break
        await this.#drained(conn)
      }
      const held = conn.held.sort((a, b) => a.seq - b.seq)
      conn.held = []
      conn.syncing = false
      for (const { seq, frame } of held) if (!sent.has(seq)) send(conn, frame)

      for (;;) {
        const owed = await store.receiptsOwed(userId, QUEUE_PAGE)
        if (conn.closed) return
        for (const { id, rejection } of owed) {
          send(conn, rejection === undefined ? receiptFrame(userId, id, 'delivered', this.#o.now()) : rejectedReceiptFrame(userId, id, rejection, this.#o.now()))
          store.receiptSent(userId, id)
        }
        if (owed.length < QUEUE_PAGE) break
        await store.flush()
      }
      if (!conn.resyncWanted || conn.closed) {
        conn.syncRunning = false
        return
      }
      conn.syncing = true
    }
  }

  /** Waits (bounded) until a connection's send buffer is half empty. */
  async #drained (conn: Connection): Promise<void> {
    for (let i = 0; i < 600 && !conn.closed && conn.socket.bufferedAmount > this.#o.sendBufferLimit / 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}
