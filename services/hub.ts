import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { Compile } from 'typebox/compile'
import {
  AckFrame, BroadcastEnvelope, DirectEnvelope, ServerEnvelope,
  type Envelope, type FrameErrorCode, type ReceiptStatus, type ServerFrameHeader
} from '../schemas/frames.js'
import type { CommandRegistry } from './commands.js'
import type { StoredMessage } from './database.js'
import type { Ed25519Verifier } from './ed25519.js'
import type { MessageStore } from './message-store.js'
import type { Delivery, Relay } from './relay.js'
import { CanonicalJsonError } from './protocol/canonical-json.js'
import { messageSigningInput } from './protocol/signing.js'
import type { TokenBuckets } from './token-bucket.js'
import type { UserStore } from './users.js'

/** What the hub needs of a WebSocket. `send` sends a text frame. */
export interface HubSocket {
  send: (data: string | Buffer) => void
  close: (code: number, reason: string) => void
  terminate: () => void
  ping: () => void
  readonly bufferedAmount: number
}

export interface HubUser {
  user_id: string
  public_key: string
  /** the id of the token the connection was opened with, so that revoking it closes the connection */
  jti?: string
}

export interface Refusal {
  code: FrameErrorCode
  message: string
  retryAfterMs?: number
}

export type SubmitResult = { ok: true, status: ReceiptStatus } | { ok: false, refusal: Refusal }
/**
 * A result with the stored message's place in the order of arrival, when it was stored; for a duplicate,
 * whether the copy stored earlier was delivered already.
 */
type Routed = { ok: true, status: ReceiptStatus, seq?: number, delivered?: boolean } | { ok: false, refusal: Refusal }

/** What the hub tells listeners (analytics, metrics). Listeners run synchronously: keep them cheap. */
export type HubEvent =
  | { kind: 'session-open', connectionId: string, userId: string, remoteAddress: string | null, userAgent: string | null, at: number }
  | { kind: 'session-close', connectionId: string, userId: string, at: number }
  | { kind: 'message', messageType: 'direct' | 'broadcast' | 'server', userId: string, outcome: 'accepted' | 'duplicate' | 'refused', code?: FrameErrorCode, remoteAddress?: string | null, at: number }
  | { kind: 'delivered', userId: string, latencyMs: number, at: number }

export interface ConnectionInfo {
  remoteAddress?: string
  userAgent?: string
}

export interface HubOptions {
  store: MessageStore
  /** reaches users on every node; the hub hands it every delivery and takes every delivery for this node from it */
  relay: Relay
  users: UserStore
  verifier: Ed25519Verifier
  buckets: TokenBuckets
  ackBuckets: TokenBuckets
  commands: CommandRegistry
  log: FastifyBaseLogger
  clockSkewMs: number
  allowPlaintextDirect: boolean
  sendBufferLimit: number
  /** refused frames within STRIKE_WINDOW_MS before the connection is closed with 1008 */
  maxStrikes: number
  /** presence frames go to everyone only while at most this many users are online */
  presenceMaxUsers: number
  now?: () => number
}

export const CLOSE = {
  goingAway: 1001,
  unsupported: 1003,
  policy: 1008,
  tryAgainLater: 1013
} as const

const STRIKE_WINDOW_MS = 10_000
const QUEUE_PAGE = 500
/** connections sending their queue again at once after a resync; the others wait their turn */
const RESYNC_CONCURRENCY = 8
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$/
/** an AES-GCM tag alone is 16 bytes: 24 base64 characters */
const MIN_CIPHERTEXT_CHARS = 24

/** Canonical base64 (unused trailing bits zero) of at least a GCM tag; checked without decoding. */
function isCiphertext (content: string): boolean {
  return content.length >= MIN_CIPHERTEXT_CHARS && BASE64.test(content)
}
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

const validators = {
  direct: Compile(DirectEnvelope),
  broadcast: Compile(BroadcastEnvelope),
  server: Compile(ServerEnvelope)
}
const ackValidator = Compile(AckFrame)

export class Connection {
  readonly id = randomUUID()
  /** answered the last ping */
  alive = true
  /** sending the stored queue; live direct messages wait in `held` meanwhile */
  syncing = true
  held: Array<{ seq: number, frame: string }> = []
  /** a sync is running or waiting its turn */
  syncRunning = true
  /** another pass over the queue was asked for while one ran */
  resyncWanted = false
  /** frames are stored in the order they arrived: each waits for the one before it to be queued */
  tail: Promise<void> = Promise.resolve()
  closed = false
  #strikes: number[] = []

  constructor (readonly user: HubUser, readonly socket: HubSocket, readonly remoteAddress: string | null) {}

  /** Counts a refused frame; true when there were too many lately. */
  strike (now: number, max: number): boolean {
    this.#strikes.push(now)
    while (this.#strikes.length > 0 && (this.#strikes[0] as number) < now - STRIKE_WINDOW_MS) this.#strikes.shift()
    return this.#strikes.length > max
  }
}

function headerOf (frame: unknown): Record<string, unknown> | undefined {
  if (typeof frame !== 'object' || frame === null) return undefined
  const header = (frame as { header?: unknown }).header
  return typeof header === 'object' && header !== null ? header as Record<string, unknown> : undefined
}

/** The envelope as it is stored and relayed: header and body only, meta dropped. */
function storedText (envelope: Envelope): string {
  return JSON.stringify({ header: envelope.header, body: envelope.body })
}

/** A stored envelope with the server's meta added, without parsing it again. */
function withMeta (stored: string, receivedAt: string): string {
  return `${stored.slice(0, -1)},"meta":{"received_at":"${receivedAt}"}}`
}

/**
 * The live connections, and the one straight path every message takes:
 * parse → validate → check sender → rate limit → verify → timestamp → store → deliver → receipt.
 */
export class Hub {
  readonly #o: HubOptions
  readonly #now: () => number
  readonly #connections = new Map<string, Set<Connection>>()
  /** per user with connections here: resolves once the relay brings that user's deliveries to this node */
  readonly #joins = new Map<string, Promise<void>>()
  readonly #listeners: Array<(event: HubEvent) => void> = []
  readonly #resyncQueue: Connection[] = []
  #resyncRunning = 0
  #closing = false
  #heartbeat: NodeJS.Timeout | undefined

  constructor (options: HubOptions) {
    this.#o = options
    this.#now = options.now ?? Date.now
    options.relay.onDelivery((delivery) => this.#onDelivery(delivery))
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
    this.#emit({ kind: 'session-open', connectionId: conn.id, userId: user.user_id, remoteAddress: info.remoteAddress ?? null, userAgent: info.userAgent ?? null, at: this.#now() })
    let set = this.#connections.get(user.user_id)
    const first = set === undefined
    if (set === undefined) {
      set = new Set()
      this.#connections.set(user.user_id, set)
    }
    set.add(conn)
    if (first) {
      this.#joins.set(user.user_id, this.#o.relay.join(user.user_id).catch((err: unknown) => {
        this.#o.log.warn({ err, user: user.user_id }, 'the relay did not take the user; its queue is sent from the database')
      }))
    }
    void this.#runSync(conn)
    return conn
  }

  close (conn: Connection): void {
    if (conn.closed) return
    conn.closed = true
    const set = this.#connections.get(conn.user.user_id)
    if (set === undefined || !set.delete(conn)) return
    this.#emit({ kind: 'session-close', connectionId: conn.id, userId: conn.user.user_id, at: this.#now() })
    if (set.size === 0) {
      this.#connections.delete(conn.user.user_id)
      this.#joins.delete(conn.user.user_id)
      this.#o.relay.leave(conn.user.user_id)
    }
  }

  /**
   * Sends the stored queue and the receipts owed again to the connections of these users (or all), when the
   * relay may have lost deliveries: Redis was out of reach, or a node died between storing and relaying.
   */
  resync (users: string[] | 'all'): void {
    const sets = users === 'all' ? [...this.#connections.values()] : users.flatMap((u) => this.#connections.get(u) ?? [])
    for (const set of sets) {
      for (const conn of set) {
        if (conn.closed) continue
        if (conn.syncRunning) {
          conn.resyncWanted = true
          continue
        }
        conn.syncRunning = true
        conn.syncing = true
        this.#resyncQueue.push(conn)
      }
    }
    this.#pumpResyncs()
  }

  #pumpResyncs (): void {
    while (this.#resyncRunning < RESYNC_CONCURRENCY && this.#resyncQueue.length > 0) {
      const conn = this.#resyncQueue.shift() as Connection
      this.#resyncRunning++
      void this.#runSync(conn).finally(() => {
        this.#resyncRunning--
        this.#pumpResyncs()
      })
    }
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

  // ---- frames from a socket ----------------------------------------------------------------------

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
    const inReplyTo = typeof header?.id === 'string' && UUID.test(header.id) ? header.id : undefined
    if (header?.message_type === 'ack') {
      this.#ack(conn, frame)
      return
    }
    const checked = this.check(conn.user, frame)
    if ('code' in checked) {
      this.#emitRefused(conn.user.user_id, frame, checked.code, conn.remoteAddress)
      this.#refuse(conn, inReplyTo, checked)
      return
    }
    const previous = conn.tail
    conn.tail = previous.then(async () => {
      const { committed } = await this.#route(conn.user, checked)
      void committed.then((result) => this.#answer(conn, checked, result), (err: unknown) => {
        this.#o.log.error({ err }, 'storing a message failed')
        this.#refuse(conn, checked.header.id, { code: 'internal', message: 'the message was not stored; send it again' })
      })
    }).catch((err: unknown) => {
      this.#o.log.error({ err }, 'routing a message failed')
      this.#refuse(conn, checked.header.id, { code: 'internal', message: 'the message was not stored; send it again' })
    })
  }

  /** The same path for a message that came over HTTP (POST /direct-message). */
  async submit (user: HubUser, frame: unknown, remoteAddress: string | null = null): Promise<SubmitResult> {
    if (this.#closing) return { ok: false, refusal: { code: 'internal', message: 'server shutting down' } }
    const checked = this.check(user, frame)
    if ('code' in checked) {
      this.#emitRefused(user.user_id, frame, checked.code, remoteAddress)
      return { ok: false, refusal: checked }
    }
    const result = await (await this.#route(user, checked)).committed
    this.#emitOutcome(user.user_id, checked, result, remoteAddress)
    if (result.ok && result.seq !== undefined) this.#afterStore(checked, result.seq)
    return result.ok ? { ok: true, status: result.status } : result
  }

  /** Every check that needs no I/O: shape, sender, rate, signature, clock. */
  check (user: HubUser, frame: unknown): Envelope | Refusal {
    const type = headerOf(frame)?.message_type
    if (type !== 'direct' && type !== 'broadcast' && type !== 'server') {
      return { code: 'invalid_frame', message: 'header.message_type must be direct, broadcast, server or ack' }
    }
    const validator = validators[type]
    if (!validator.Check(frame)) {
      const first = validator.Errors(frame)[0]
      const where = first?.instancePath === undefined || first.instancePath === '' ? 'frame' : first.instancePath.slice(1).replaceAll('/', '.')
      const problem = first?.keyword === 'pattern' ? 'has an invalid format' : first?.message ?? 'is invalid'
      return { code: 'invalid_frame', message: `${where} ${problem}` }
    }
    const envelope = frame as Envelope
    const { header, body } = envelope
    if (header.from !== user.user_id) return { code: 'forbidden', message: 'header.from is not the authenticated user' }
    if (header.message_type === 'direct') {
      const encrypted = header.encrypted_key !== undefined && header.encryption_nonce !== undefined
      if (!encrypted && !this.#o.allowPlaintextDirect) {
        return { code: 'invalid_frame', message: 'direct messages must be encrypted: header.encrypted_key and header.encryption_nonce are required' }
      }
      if (encrypted && !isCiphertext(body.content)) return { code: 'invalid_frame', message: 'body.content must be canonical base64 of at least 16 bytes (ciphertext and tag)' }
    }
    const wait = this.#o.buckets.take(user.user_id)
    if (wait > 0) return { code: 'rate_limited', message: 'message rate limit reached', retryAfterMs: wait }

    let input: string
    try {
      input = messageSigningInput(header, body)
    } catch (err) {
      if (err instanceof CanonicalJsonError) return { code: 'invalid_frame', message: `envelope cannot be canonicalised: ${err.message}` }
      throw err
    }
    if (!this.#o.verifier.verify(user.public_key, input, header.signature)) {
      return { code: 'bad_signature', message: 'signature does not verify' }
    }
    const time = Date.parse(header.timestamp)
    // the pattern admits 2026-13-45T99:99:99.999Z; only a time that prints back the same is a time
    if (Number.isNaN(time) || new Date(time).toISOString() !== header.timestamp) {
      return { code: 'invalid_frame', message: 'header.timestamp is not a valid time' }
    }
    if (Math.abs(this.#now() - time) > this.#o.clockSkewMs) {
      return { code: 'clock_skew', message: `header.timestamp is more than ${this.#o.clockSkewMs} ms from server time` }
    }
    return envelope
  }

  // ---- routing -----------------------------------------------------------------------------------

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

  #answer (conn: Connection, envelope: Envelope, result: Routed): void {
    this.#emitOutcome(conn.user.user_id, envelope, result, conn.remoteAddress)
    if (!result.ok) {
      this.#refuse(conn, envelope.header.id, result.refusal)
      return
    }
    if (envelope.header.message_type === 'server') {
      void this.#runCommand(conn, envelope)
      return
    }
    this.#send(conn, this.#receipt(conn.user.user_id, envelope.header.id, result.status))
    if (result.seq !== undefined) this.#afterStore(envelope, result.seq, conn)
    // the `delivered` receipt may have been lost with a connection (or a node) that went down
    if (result.delivered === true) {
      this.#send(conn, this.#receipt(conn.user.user_id, envelope.header.id, 'delivered'))
      this.#o.store.receiptSent(conn.user.user_id, envelope.header.id)
    }
  }

  /** Delivery once a message is committed. */
  #afterStore (envelope: Envelope, seq: number, origin?: Connection): void {
    const frame = withMeta(storedText(envelope), new Date(this.#now()).toISOString())
    if (envelope.header.message_type === 'direct') {
      this.#o.relay.toUser({ kind: 'direct', to: envelope.header.to, seq, frame })
    } else if (envelope.header.message_type === 'broadcast') {
      this.#o.relay.toAll(origin === undefined ? { kind: 'broadcast', frame } : { kind: 'broadcast', frame, origin: origin.id })
    }
  }

  /** What the relay brings for this node, from this node or another. */
  #onDelivery (delivery: Delivery): void {
    switch (delivery.kind) {
      case 'direct':
        this.#deliver(delivery.to, delivery.seq, delivery.frame)
        return
      case 'receipt':
        this.#receiptToSender(delivery.to, delivery.id)
        return
      case 'broadcast':
        this.#fanOut(Buffer.from(delivery.frame), delivery.origin)
        return
      case 'presence':
        for (const userId of delivery.users) this.#presence(userId, delivery.status)
        return
      case 'revoke':
        // the revocations close the token's connections, whoever tells them (plugins/hub.ts)
        return
      case 'resync':
        this.resync(delivery.users)
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

  async #runCommand (conn: Connection, envelope: Envelope): Promise<void> {
    const outcome = await this.#o.commands.run(conn.user.user_id, envelope.body.content)
    if (!outcome.ok && outcome.code !== 'command_failed') {
      this.#refuse(conn, envelope.header.id, { code: outcome.code, message: outcome.message })
      return
    }
    if (!outcome.ok && outcome.cause !== undefined) {
      this.#o.log.warn({ err: outcome.cause, command: outcome.command }, 'command failed')
    }
    const content = outcome.ok
      ? { command: outcome.command, ok: true, result: outcome.result }
      : { command: outcome.command, ok: false, error: { code: outcome.code, message: outcome.message } }
    this.#send(conn, this.#serverFrame(conn.user.user_id, 'server_response', { content: JSON.stringify(content) }, envelope.header.id))
  }

  #ack (conn: Connection, frame: unknown): void {
    if (!ackValidator.Check(frame)) {
      this.#refuse(conn, undefined, { code: 'invalid_frame', message: 'an ack is {"header": {"message_type": "ack", "in_reply_to": message id}}' })
      return
    }
    const id = frame.header.in_reply_to
    const wait = this.#o.ackBuckets.take(conn.user.user_id)
    if (wait > 0) {
      this.#refuse(conn, id, { code: 'rate_limited', message: 'ack rate limit reached', retryAfterMs: wait })
      return
    }
    this.#o.store.ack(conn.user.user_id, id).then((acked) => {
      const now = this.#now()
      for (const { from_user: from, id: messageId, created_at: createdAt } of acked) {
        this.#emit({ kind: 'delivered', userId: from, latencyMs: now - Date.parse(createdAt), at: now })
        this.#tellDelivered(from, messageId)
      }
    }, (err: unknown) => {
      this.#o.log.error({ err }, 'recording an ack failed')
    })
  }

  #tellDelivered (sender: string, id: string): void {
    this.#o.relay.toUser({ kind: 'receipt', to: sender, id })
  }

  /** The node that tells the sender is the one that notes the receipt as sent. */
  #receiptToSender (sender: string, id: string): void {
    const set = this.#connections.get(sender)
    if (set === undefined) return
    const frame = this.#receipt(sender, id, 'delivered')
    for (const conn of set) this.#send(conn, frame)
    this.#o.store.receiptSent(sender, id)
  }

  async #runSync (conn: Connection): Promise<void> {
    try {
      await this.#sync(conn)
    } catch (err) {
      conn.syncRunning = false
      this.#o.log.error({ err, user: conn.user.user_id }, 'sending the stored queue failed')
      this.#kick(conn, CLOSE.tryAgainLater, 'try again later')
    }
  }

  /**
   * Sends the stored queue in order, then what arrived meanwhile, then the receipts owed; once more for each
   * resync asked for meanwhile. Clears `syncRunning` in the same turn as its last look at `resyncWanted`, so
   * that a resync asked for after that look starts a pass of its own.
   */
  async #sync (conn: Connection): Promise<void> {
    const userId = conn.user.user_id
    // deliveries published after this point reach this node, so the queue read below misses none
    await this.#joins.get(userId)
    for (;;) {
      conn.resyncWanted = false
      // seq orders the queue, but with several nodes a smaller seq can commit after a larger one has been
      // read: what arrived live is held back only if this pass sent it from the database already
      const sent = new Set<number>()
      let after = 0
      for (;;) {
        const rows: StoredMessage[] = await this.#o.store.pendingFor(userId, after, QUEUE_PAGE)
        if (conn.closed) return
        for (const row of rows) {
          this.#send(conn, withMeta(row.envelope, row.created_at))
          after = Number(row.seq)
          sent.add(after)
        }
        if (rows.length < QUEUE_PAGE) break
        await this.#drained(conn)
      }
      const held = conn.held.sort((a, b) => a.seq - b.seq)
      conn.held = []
      conn.syncing = false
      for (const { seq, frame } of held) if (!sent.has(seq)) this.#send(conn, frame)

      for (;;) {
        const owed = await this.#o.store.receiptsOwed(userId, QUEUE_PAGE)
        if (conn.closed) return
        for (const { id } of owed) {
          this.#send(conn, this.#receipt(userId, id, 'delivered'))
          this.#o.store.receiptSent(userId, id)
        }
        if (owed.length < QUEUE_PAGE) break
        await this.#o.store.flush()
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
    const body: Record<string, unknown> = { code: refusal.code, message: refusal.message }
    if (refusal.retryAfterMs !== undefined) body.retry_after_ms = refusal.retryAfterMs
    this.#send(conn, this.#serverFrame(conn.user.user_id, 'error', body, inReplyTo))
    if (conn.strike(this.#now(), this.#o.maxStrikes)) this.#kick(conn, CLOSE.policy, 'too many refused frames')
  }

  #receipt (to: string, inReplyTo: string, status: ReceiptStatus): string {
    return this.#serverFrame(to, 'receipt', { status }, inReplyTo)
  }

  /**
   * Tells everyone else here that a user came or went. Above `presenceMaxUsers` users online here this is
   * skipped: N users joining would cost N² frames; clients then ask GET /active-users.
   */
  #presence (userId: string, status: 'online' | 'offline'): void {
    if (this.#connections.size > this.#o.presenceMaxUsers) return
    const frame = Buffer.from(this.#serverFrame('*', 'presence', { user_id: userId, status }))
    for (const [other, set] of this.#connections) {
      if (other === userId) continue
      for (const conn of set) this.#send(conn, frame)
    }
  }

  #serverFrame (to: string, type: ServerFrameHeader['message_type'], body: object, inReplyTo?: string): string {
    const header: ServerFrameHeader = { id: randomUUID(), from: 'server', to, message_type: type, timestamp: new Date(this.#now()).toISOString() }
    if (inReplyTo !== undefined) header.in_reply_to = inReplyTo
    return JSON.stringify({ header, body })
  }
}
