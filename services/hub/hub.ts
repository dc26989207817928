import type { FastifyBaseLogger } from 'fastify'
import type { Envelope, FrameErrorCode, PresenceStatus, ReceiptStatus, RejectReason } from '../../schemas/frames.js'
import type { Broker, Delivery, Presence } from '../cluster/cluster.js'
import type { CommandRegistry } from '../commands.js'
import type { MessageStore } from '../message-store.js'
import type { TokenBuckets } from '../token-bucket.js'
import type { UserStore } from '../users.js'
import { checkEnvelope, headerOf, idOf, type CheckOptions, type Refusal } from './checks.js'
import { CLOSE, Connection, type ConnectionInfo, type HubSocket, type HubUser } from './connection.js'
import { NOT_STORED, Receipts } from './receipts.js'
import { errorFrame, presenceFrame, receiptFrame, rejectedReceiptFrame, serverResponseFrame, storedText, withMeta } from './server-frames.js'
import { QueueSync } from './sync.js'

export type SubmitResult = { ok: true, status: ReceiptStatus } | { ok: false, refusal: Refusal }
/**
 * A result with the stored message's place in the order of arrival, when it was stored; for a duplicate,
 * whether the copy stored earlier was delivered already.
 */
type Routed = { ok: true, status: ReceiptStatus, seq?: number, delivered?: boolean } | { ok: false, refusal: Refusal }

/** What the hub tells listeners (analytics, metrics, the audit log). Listeners run synchronously: keep them cheap. */
export type HubEvent =
  | { kind: 'session-open', connectionId: string, userId: string, remoteAddress: string | null, userAgent: string | null, at: number }
  | { kind: 'session-close', connectionId: string, userId: string, at: number }
  | { kind: 'message', messageType: 'direct' | 'broadcast' | 'server', userId: string, outcome: 'accepted' | 'duplicate' | 'refused', code?: FrameErrorCode, remoteAddress?: string | null, at: number }
  | { kind: 'delivered', userId: string, latencyMs: number, at: number }
  /** a direct message of `userId` was refused by its recipient */
  | { kind: 'rejected', userId: string, reason: RejectReason, at: number }

export interface HubOptions extends Omit<CheckOptions, 'now'> {
  store: MessageStore
  /** deliveries to connections on other nodes, and from them */
  broker: Broker
  /** who is online on any node */
  presence: Presence
  users: UserStore
  ackBuckets: TokenBuckets
  commands: CommandRegistry
  log: FastifyBaseLogger
  sendBufferLimit: number
  /** refused frames within ten seconds before the connection is closed with 1008 */
  maxStrikes: number
  /** presence frames go to everyone only while at most this many users are online */
  presenceMaxUsers: number
  now?: () => number
}

/** Where a message came from: a connection (answered with frames), or HTTP (answered by the route). */
interface Origin {
  conn?: Connection
  remoteAddress: string | null
}

/**
 * The live connections of this node, and the one straight path every message takes:
 * parse → validate → check sender → rate limit → verify → timestamp → store → receipt → deliver.
 * Connections here are served directly; the broker carries only what must reach another node.
 */
export class Hub {
  readonly #o: HubOptions
  readonly #checks: CheckOptions
  readonly #now: () => number
  readonly #connections = new Map<string, Set<Connection>>()
  /** per user with connections here: resolves once deliveries from other nodes to that user reach this node */
  readonly #subscribed = new Map<string, Promise<void>>()
  readonly #listeners: Array<(event: HubEvent) => void> = []
  readonly #sync: QueueSync
  readonly #receipts: Receipts
  #closing = false
  #heartbeat: NodeJS.Timeout | undefined

  constructor (options: HubOptions) {
    this.#o = options
    this.#now = options.now ?? Date.now
    this.#checks = { ...options, now: this.#now }
    this.#sync = new QueueSync({
      store: options.store,
      log: options.log,
      sendBufferLimit: options.sendBufferLimit,
      send: (conn, frame) => this.#send(conn, frame),
      kick: (conn, code, reason) => this.#kick(conn, code, reason),
      subscribed: (userId) => this.#subscribed.get(userId),
      now: this.#now
    })
    this.#receipts = new Receipts({
      store: options.store,
      broker: options.broker,
      ackBuckets: options.ackBuckets,
      checks: this.#checks,
      log: options.log,
      now: this.#now,
      refuse: (conn, inReplyTo, refusal) => this.#refuse(conn, inReplyTo, refusal),
      toSender: (sender, id, rejection) => this.#receiptToSender(sender, id, rejection),
      delivered: (userId, latencyMs) => this.#emit({ kind: 'delivered', userId, latencyMs, at: this.#now() }),
      rejected: (userId, reason) => this.#emit({ kind: 'rejected', userId, reason, at: this.#now() })
    })
    options.broker.onDelivery((delivery) => this.#fromOtherNode(delivery))
    options.presence.onChange((users, status) => { for (const userId of users) this.#presence(userId, status) })
  }

  /** Adds a listener for hub events; a listener that throws is logged and does not disturb delivery. */
  onEvent (listener: (event: HubEvent) => void): void {
    this.#listeners.push(listener)
  }

  #emit (event: HubEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event)
      } catch (err) {
        this.#o.log.error({ err, event: event.kind }, 'a hub event listener failed')
      }
    }
  }

  // ---- connections -------------------------------------------------------------------------------

  connectionCount (userId?: string): number {
    if (userId !== undefined) return this.#connections.get(userId)?.size ?? 0
    let n = 0
    for (const set of this.#connections.values()) n += set.size
    return n
  }

  onlineUsers (): string[] {
    return [...this.#connections.keys()]
  }

  isOnline (userId: string): boolean {
    return this.#connections.has(userId)
  }

  get closing (): boolean {
    return this.#closing
  }

  open (user: HubUser, socket: HubSocket, info: ConnectionInfo = {}): Connection {
    const conn = new Connection(user, socket, info.remoteAddress ?? null)
    const userId = user.user_id
    this.#emit({ kind: 'session-open', connectionId: conn.id, userId, remoteAddress: info.remoteAddress ?? null, userAgent: info.userAgent ?? null, at: this.#now() })
    let set = this.#connections.get(userId)
    const first = set === undefined
    if (set === undefined) {
      set = new Set()
      this.#connections.set(userId, set)
    }
    set.add(conn)
    if (first) {
      this.#subscribed.set(userId, this.#o.broker.subscribe(userId).catch((err: unknown) => {
        this.#o.log.warn({ err, user: userId }, 'deliveries from other nodes may miss this user; its queue is sent from the database')
      }))
      this.#o.presence.join(userId)
    }
    this.#sync.start(conn)
    return conn
  }

  close (conn: Connection): void {
    if (conn.closed) return
    conn.closed = true
    const userId = conn.user.user_id
    const set = this.#connections.get(userId)
    if (set === undefined || !set.delete(conn)) return
    this.#emit({ kind: 'session-close', connectionId: conn.id, userId, at: this.#now() })
    if (set.size === 0) {
      this.#connections.delete(userId)
      this.#subscribed.delete(userId)
      this.#o.broker.unsubscribe(userId)
      this.#o.presence.leave(userId)
    }
  }

  /** Sends the stored queue and the receipts owed again to the connections of these users (or all). */
  resync (users: string[] | 'all'): void {
    const sets = users === 'all' ? [...this.#connections.values()] : users.flatMap((u) => this.#connections.get(u) ?? [])
    this.#sync.again(sets.flatMap((set) => [...set]))
  }

  /** Closes every connection opened with a token that has just been revoked. */
  closeToken (jti: string): void {
    for (const set of this.#connections.values()) {
      for (const conn of [...set]) if (conn.user.jti === jti) this.#kick(conn, CLOSE.policy, 'token revoked')
    }
  }

  /** Pings every connection each interval and ends those that did not answer the previous ping. */
  startHeartbeat (intervalMs: number): void {
    this.#heartbeat = setInterval(() => {
      for (const set of this.#connections.values()) {
        for (const conn of set) {
          if (!conn.alive) {
            conn.socket.terminate()
            this.close(conn)
            continue
          }
          conn.alive = false
          conn.socket.ping()
        }
      }
      this.#o.buckets.prune()
      this.#o.ackBuckets.prune()
    }, intervalMs)
    this.#heartbeat.unref()
  }

  /** Stops taking frames, waits for every accepted frame to be committed and answered, then closes with 1001. */
  async shutdown (): Promise<void> {
    this.#closing = true
    clearInterval(this.#heartbeat)
    this.#o.commands.abortAll()
    const all = [...this.#connections.values()].flatMap((set) => [...set])
    await Promise.allSettled(all.map(async (c) => { await c.tail }))
    await this.#o.store.flush()
    // let the receipts of the last commit go out before the sockets close
    await new Promise((resolve) => setImmediate(resolve))
    for (const conn of all) {
      conn.socket.close(CLOSE.goingAway, 'server shutting down')
      this.close(conn)
    }
  }

  // ---- the accept path ---------------------------------------------------------------------------

  /** One text frame from a connection. Never throws: every refusal becomes an error frame. */
  handleText (conn: Connection, text: string): void {
    if (this.#closing || conn.closed) return
    let frame: unknown
    try {
      frame = JSON.parse(text)
    } catch {
      this.#refuse(conn, undefined, { code: 'invalid_json', message: 'frame is not valid JSON' })
      return
    }
    const header = headerOf(frame)
    if (header?.message_type === 'ack') {
      this.#receipts.ack(conn, frame)
      return
    }
    if (header?.message_type === 'reject') {
      this.#receipts.reject(conn, frame)
      return
    }
    const inReplyTo = idOf(header)
    this.#accept(conn.user, frame, { conn, remoteAddress: conn.remoteAddress }, (result, envelope) => {
      if (result.ok && envelope !== undefined) this.#answer(conn, envelope, result)
      else if (!result.ok) this.#refuse(conn, envelope?.header.id ?? inReplyTo, result.refusal)
    })
  }

  /** A message that came over HTTP (POST /direct-message): the same path, answered once it is durable. */
  async submit (user: HubUser, frame: unknown, remoteAddress: string | null = null): Promise<SubmitResult> {
    if (this.#closing) return { ok: false, refusal: { code: 'internal', message: 'server shutting down' } }
    return await new Promise((resolve) => {
      this.#accept(user, frame, { remoteAddress }, (result) => resolve(result.ok ? { ok: true, status: result.status } : result))
    })
  }

  /**
   * Checks a message, stores it in its connection's order of arrival, answers, then delivers it. `answer` gets
   * the checked envelope with every result but a refusal by the checks.
   */
  #accept (user: HubUser, frame: unknown, origin: Origin, answer: (result: Routed, envelope?: Envelope) => void): void {
    const result = checkEnvelope(user, frame, this.#checks)
    if ('code' in result) {
      this.#emitRefused(user.user_id, frame, result.code, origin.remoteAddress)
      answer({ ok: false, refusal: result })
      return
    }
    if (result.header.message_type === 'reject') {
      // a reject sent where a message is expected (over HTTP): the route's schema refuses it first
      answer({ ok: false, refusal: { code: 'invalid_frame', message: 'a reject is sent over the WebSocket' } })
      return
    }
    const checked = result as Envelope
    const { conn } = origin
    // a frame is queued for storage only once the one before it on its connection is: they commit in order
    const queued = (conn?.tail ?? Promise.resolve()).then(async () => await this.#route(user, checked))
    if (conn !== undefined) conn.tail = queued.then(() => {}, () => {})
    queued.then(async ({ committed }) => await committed).then((result) => {
      this.#emitOutcome(user.user_id, checked, result, origin.remoteAddress)
      answer(result, checked)
      if (result.ok && result.seq !== undefined) this.#deliverStored(checked, result.seq, conn)
    }, (err: unknown) => {
      this.#o.log.error({ err }, 'storing a message failed')
      answer({ ok: false, refusal: NOT_STORED }, checked)
    })
  }

  /**
   * Checks the recipient and queues the store. The promise resolves once the message is queued (so the
   * next frame of the connection may follow); `committed` when it is durable.
   */
  async #route (user: HubUser, envelope: Envelope): Promise<{ committed: Promise<Routed> }> {
    const { header } = envelope
    if (header.message_type === 'server') {
      return { committed: Promise.resolve({ ok: true, status: 'accepted' }) }
    }
    if (header.message_type === 'direct' && !await this.#o.users.exists(header.to)) {
      return { committed: Promise.resolve({ ok: false, refusal: { code: 'unknown_recipient', message: `no user ${header.to}` } }) }
    }
    const stored = this.#o.store.store({
      id: header.id,
      from_user: user.user_id,
      to_user: header.to,
      message_type: header.message_type,
      envelope: storedText(envelope),
      status: header.message_type === 'direct' ? 'pending' : 'sent',
      created_at: new Date(this.#now()).toISOString()
    })
    return {
      committed: stored.then((result): Routed => result.status === 'duplicate'
        ? { ok: true, status: 'duplicate', delivered: result.delivered }
        : { ok: true, status: 'accepted', seq: result.seq })
    }
  }

  #emitOutcome (userId: string, envelope: Envelope, result: Routed, remoteAddress: string | null): void {
    this.#emit(result.ok
      ? { kind: 'message', messageType: envelope.header.message_type, userId, outcome: result.status === 'duplicate' ? 'duplicate' : 'accepted', remoteAddress, at: this.#now() }
      : { kind: 'message', messageType: envelope.header.message_type, userId, outcome: 'refused', code: result.refusal.code, remoteAddress, at: this.#now() })
  }

  #emitRefused (userId: string, frame: unknown, code: FrameErrorCode, remoteAddress: string | null): void {
    const type = headerOf(frame)?.message_type
    const messageType = type === 'broadcast' || type === 'server' ? type : 'direct'
    this.#emit({ kind: 'message', messageType, userId, outcome: 'refused', code, remoteAddress, at: this.#now() })
  }

  /** Tells the connection a message it sent was taken (and, for a duplicate delivered before, that too). */
  #answer (conn: Connection, envelope: Envelope, result: Routed & { ok: true }): void {
    const userId = conn.user.user_id
    if (envelope.header.message_type === 'server') {
      void this.#runCommand(conn, envelope)
      return
    }
    this.#send(conn, receiptFrame(userId, envelope.header.id, result.status, this.#now()))
    // the `delivered` receipt may have been lost with a connection (or a node) that went down
    if (result.delivered === true) {
      this.#send(conn, receiptFrame(userId, envelope.header.id, 'delivered', this.#now()))
      this.#o.store.receiptSent(userId, envelope.header.id)
    }
  }

  async #runCommand (conn: Connection, envelope: Envelope): Promise<void> {
    const outcome = await this.#o.commands.run(conn.user.user_id, envelope.body.content)
    if (!outcome.ok && outcome.code !== 'command_failed') {
      this.#refuse(conn, envelope.header.id, { code: outcome.code, message: outcome.message })
      return
    }
    if (!outcome.ok && outcome.cause !== undefined) {
      this.#o.log.warn({ err: outcome.cause, command: outcome.command }, 'command failed')
    }
    const response = outcome.ok
      ? { command: outcome.command, ok: true as const, result: outcome.result }
      : { command: outcome.command, ok: false as const, error: { code: outcome.code, message: outcome.message } }
    this.#send(conn, serverResponseFrame(conn.user.user_id, envelope.header.id, response, this.#now()))
  }

  // ---- delivery ----------------------------------------------------------------------------------

  /** A committed message to its recipients: those connected here at once, the others through the broker. */
  #deliverStored (envelope: Envelope, seq: number, origin?: Connection): void {
    const frame = withMeta(storedText(envelope), new Date(this.#now()).toISOString())
    if (envelope.header.message_type === 'direct') {
      this.#deliver(envelope.header.to, seq, frame)
      this.#o.broker.toUser({ kind: 'direct', to: envelope.header.to, seq, frame })
    } else if (envelope.header.message_type === 'broadcast') {
      this.#fanOut(Buffer.from(frame), origin?.id)
      this.#o.broker.toAll({ kind: 'broadcast', frame })
    }
  }

  #fromOtherNode (delivery: Delivery): void {
    switch (delivery.kind) {
      case 'direct':
        this.#deliver(delivery.to, delivery.seq, delivery.frame)
        return
      case 'receipt':
        this.#receiptToSender(delivery.to, delivery.id, delivery.rejection)
        return
      case 'broadcast':
        this.#fanOut(Buffer.from(delivery.frame))
    }
  }

  #deliver (userId: string, seq: number, frame: string): void {
    const set = this.#connections.get(userId)
    if (set === undefined) return
    for (const conn of set) {
      if (conn.syncing) conn.held.push({ seq, frame })
      else this.#send(conn, frame)
    }
  }

  /** Sends one encoded frame to every connection but the one it came from. */
  #fanOut (frame: Buffer, exceptId?: string): void {
    for (const set of this.#connections.values()) {
      for (const conn of set) {
        if (conn.id !== exceptId) this.#send(conn, frame)
      }
    }
  }

  /**
   * `delivered`, or `rejected` with the stored text of the reject. The node that tells the sender is the one
   * that notes the receipt as sent.
   */
  #receiptToSender (sender: string, id: string, rejection?: string): void {
    const set = this.#connections.get(sender)
    if (set === undefined) return
    const frame = rejection === undefined ? receiptFrame(sender, id, 'delivered', this.#now()) : rejectedReceiptFrame(sender, id, rejection, this.#now())
    for (const conn of set) this.#send(conn, frame)
    this.#o.store.receiptSent(sender, id)
  }

  /**
   * Tells everyone else here that a user came or went. Above `presenceMaxUsers` users online here this is
   * skipped: N users joining would cost N² frames; clients then ask GET /active-users.
   */
  #presence (userId: string, status: PresenceStatus): void {
    if (this.#connections.size > this.#o.presenceMaxUsers) return
    const frame = Buffer.from(presenceFrame(userId, status, this.#now()))
    for (const [other, set] of this.#connections) {
      if (other === userId) continue
      for (const conn of set) this.#send(conn, frame)
    }
  }

  // ---- frames to a socket ------------------------------------------------------------------------

  #send (conn: Connection, frame: string | Buffer): void {
    if (conn.closed) return
    if (conn.socket.bufferedAmount > this.#o.sendBufferLimit) {
      // a reader this slow would hold memory without end; what it misses stays pending in the database
      this.#kick(conn, CLOSE.tryAgainLater, 'send buffer full')
      return
    }
    conn.socket.send(frame)
  }

  #kick (conn: Connection, code: number, reason: string): void {
    conn.socket.close(code, reason)
    this.close(conn)
    const socket = conn.socket
    setTimeout(() => socket.terminate(), 5000).unref()
  }

  #refuse (conn: Connection, inReplyTo: string | undefined, refusal: Refusal): void {
    this.#send(conn, errorFrame(conn.user.user_id, inReplyTo, refusal, this.#now()))
    if (conn.strike(this.#now(), this.#o.maxStrikes)) this.#kick(conn, CLOSE.policy, 'too many refused frames')
  }
}
