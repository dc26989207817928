import type { PublicUser } from '../schemas/auth.js'
import type { JsonValue } from '../schemas/common.js'
import type { DeliveredBroadcast, DeliveredDirect, ErrorFrame, PresenceFrame, ReceiptFrame, ServerResponseFrame } from '../schemas/frames.js'
import { fromBase64, utf8Encode } from '../services/protocol/base64.js'
import { DecryptError, openDirect, sealDirect } from '../services/protocol/direct.js'
import { verifyStrict } from '../services/protocol/signature.js'
import { messageSigningInput, x25519KeySigningInput } from '../services/protocol/signing.js'
import { HttpApi, type Fetch } from './api.js'
import { Emitter } from './emitter.js'
import { KeyChangedError, SealwireError } from './errors.js'
import { parseCommandResponse, parseServerFrame } from './frames.js'
import { newEncryptionKey, publicKeys, signEnvelope, signLogin, type Identity } from './identity.js'
import { safetyNumber } from './safety.js'
import { MemoryStore, type ClientStore } from './store.js'

/** The part of the WebSocket API the client uses: the browser's WebSocket and the `ws` package both have it. */
export interface WebSocketLike {
  readonly readyState: number
  send: (data: string) => void
  close: (code?: number, reason?: string) => void
  addEventListener: ((type: 'open' | 'error', listener: () => void) => void) &
  ((type: 'message', listener: (event: { data: unknown }) => void) => void) &
  ((type: 'close', listener: (event: { code: number, reason: string }) => void) => void)
}
export type WebSocketFactory = (url: string) => WebSocketLike

export interface ClientOptions {
  /** http(s)://host:port of the server, with any prefix it is mounted under */
  serverUrl: string
  identity: Identity
  /** how to open a WebSocket; defaults to the global WebSocket (browsers, Node 22+) */
  webSocket?: WebSocketFactory
  fetch?: Fetch
  /** pinned keys and seen message ids; in memory by default */
  store?: ClientStore
  /** accepted distance between a message's timestamp and the server's receipt time (default 5 min) */
  clockSkewMs?: number
  /** reconnect after the connection drops (default true) */
  reconnect?: boolean
  /** first and largest reconnect delay; each delay is random up to the current bound (full jitter) */
  reconnectDelayMs?: { min: number, max: number }
  /** how long to wait for `accepted` or a command's answer (default 15 s) */
  requestTimeoutMs?: number
  /** replace the X25519 key this often (default 7 days; 0 never); listen to `identity-changed` to save it */
  encryptionKeyRotationMs?: number
  /** keep a replaced key at least this long, for senders that still have the old one (default 10 min) */
  retiredKeyGraceMs?: number
}

export interface DirectMessage {
  id: string
  from: string
  to: string
  text: string
  /** the sender's timestamp */
  timestamp: string
  /** when the server received it */
  receivedAt: string | undefined
}

export interface BroadcastMessage {
  id: string
  from: string
  text: string
  timestamp: string
  receivedAt: string | undefined
}

export type RejectionReason = 'bad_signature' | 'key_changed' | 'decrypt_failed' | 'clock_skew' | 'not_encrypted' | 'misrouted' | 'unknown_sender' | 'malformed'

/** A message that failed a check: it is never shown; this says why. */
export interface RejectedMessage {
  id: string | undefined
  from: string | undefined
  reason: RejectionReason
  message: string
}

export interface SentMessage {
  id: string
  /** resolves when the recipient has acknowledged the message (possibly in a later session) */
  delivered: Promise<void>
}

export interface HistoryEntry {
  id: string
  from: string
  to: string
  timestamp: string
  status: 'pending' | 'delivered'
  /** the decrypted text, or undefined when it could not be verified and decrypted */
  text: string | undefined
  error: string | undefined
}

export interface ClientEvents {
  connected: { reconnected: boolean }
  disconnected: { code: number, reason: string, willReconnect: boolean }
  message: DirectMessage
  broadcast: BroadcastMessage
  presence: { userId: string, status: 'online' | 'offline' }
  receipt: { id: string, status: 'accepted' | 'delivered' | 'duplicate' }
  rejected: RejectedMessage
  'key-changed': KeyChangedError
  /** the identity's keys changed (rotation, or retired keys erased): save it */
  'identity-changed': Identity
  error: SealwireError
}

interface Awaiting {
  text: string
  kind: 'receipt' | 'command'
  resolve: (value: JsonValue) => void
  reject: (err: SealwireError) => void
  timer: ReturnType<typeof setTimeout>
}

const OPEN = 1
const USER_CACHE_MS = 60_000

function str (value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

/**
 * A Sealwire user: registers, logs in, keeps a connection open, and sends and receives end-to-end encrypted
 * messages. Incoming messages are verified against the sender's pinned identity key, checked for time and
 * replay, decrypted, handed to the `message` listeners, and acknowledged only after every listener is done.
 */
export class SealwireClient extends Emitter<ClientEvents> {
  readonly identity: Identity
  readonly #api: HttpApi
  readonly #wsUrl: string
  readonly #webSocket: WebSocketFactory
  readonly #store: ClientStore
  readonly #skewMs: number
  readonly #reconnect: boolean
  readonly #delay: { min: number, max: number }
  readonly #timeoutMs: number
  #keys: ReturnType<typeof publicKeys>
  readonly #rotationMs: number
  readonly #graceMs: number
  #maintenance: ReturnType<typeof setInterval> | undefined
  readonly #users = new Map<string, { user: PublicUser, fetchedAt: number }>()
  readonly #awaiting = new Map<string, Awaiting>()
  readonly #delivered = new Map<string, () => void>()
  #token: string | undefined
  #tokenExpiresAt = 0
  #ws: WebSocketLike | undefined
  #closed = true
  #attempts = 0
  #everConnected = false
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined
  #incoming: Promise<void> = Promise.resolve()

  constructor (options: ClientOptions) {
    super()
    this.identity = options.identity
    const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis)
    this.#api = new HttpApi(options.serverUrl, fetchImpl)
    this.#wsUrl = `${options.serverUrl.replace(/\/+$/, '').replace(/^http/, 'ws')}/ws`
    const NativeWebSocket = (globalThis as { WebSocket?: new (url: string) => WebSocketLike }).WebSocket
    const factory = options.webSocket ?? (NativeWebSocket === undefined ? undefined : (url: string) => new NativeWebSocket(url))
    if (factory === undefined) throw new SealwireError('no_websocket', 'no WebSocket here: pass `webSocket`, or use createNodeClient from sealwire/client/node')
    this.#webSocket = factory
    this.#store = options.store ?? new MemoryStore()
    this.#skewMs = options.clockSkewMs ?? 300_000
    this.#reconnect = options.reconnect ?? true
    this.#delay = options.reconnectDelayMs ?? { min: 500, max: 30_000 }
    this.#timeoutMs = options.requestTimeoutMs ?? 15_000
    this.#keys = publicKeys(this.identity)
    // an identity from before rotation existed (or from an environment variable) counts from now
    this.identity.encryptionKeyCreatedAt ??= new Date().toISOString()
    this.#rotationMs = options.encryptionKeyRotationMs ?? 7 * 86_400_000
    this.#graceMs = options.retiredKeyGraceMs ?? 600_000
  }

  get userId (): string {
    return this.identity.userId
  }

  get connected (): boolean {
    return this.#ws?.readyState === OPEN
  }

  get token (): string | undefined {
    return this.#token
  }

  // ---- account -----------------------------------------------------------------------------------

  async register (): Promise<PublicUser> {
    const user = await this.#api.register({ user_id: this.identity.userId, username: this.identity.username, ...this.#keys })
    await this.#store.setPin(user.user_id, user.public_key)
    return user
  }

  /** Challenge login; the token is kept for the connection and HTTP calls. */
  async login (): Promise<{ token: string, expires_at: string }> {
    const { challenge } = await this.#api.challenge(this.identity.userId)
    const result = await this.#api.verify(this.identity.userId, challenge, signLogin(this.identity, challenge))
    this.#token = result.token
    this.#tokenExpiresAt = Date.parse(result.expires_at)
    return result
  }

  async #ensureToken (force = false): Promise<string> {
    if (force || this.#token === undefined || this.#tokenExpiresAt - Date.now() < 60_000) await this.login()
    return this.#token as string
  }

  // ---- connection --------------------------------------------------------------------------------

  /** Opens the connection (logging in first when needed). Later drops reconnect by themselves. */
  async connect (): Promise<void> {
    this.#closed = false
    await this.#open(false)
  }

  async #open (forceLogin: boolean): Promise<void> {
    const token = await this.#ensureToken(forceLogin)
    const ws = this.#webSocket(`${this.#wsUrl}?token=${encodeURIComponent(token)}`)
    await new Promise<void>((resolve, reject) => {
      let opened = false
      ws.addEventListener('open', () => {
        opened = true
        this.#ws = ws
        this.#attempts = 0
        const reconnected = this.#everConnected
        this.#everConnected = true
        // what was sent but not yet accepted goes again; the server answers `duplicate` for what it has
        for (const entry of this.#awaiting.values()) ws.send(entry.text)
        this.emit('connected', { reconnected })
        this.#startMaintenance()
        resolve()
      })
      ws.addEventListener('message', (event) => this.#onFrame(String(event.data)))
      ws.addEventListener('error', () => {})
      ws.addEventListener('close', ({ code, reason }) => {
        if (this.#ws === ws) this.#ws = undefined
        const willReconnect = this.#reconnect && !this.#closed
        if (!opened) {
          reject(new SealwireError('connect_failed', `the connection to ${this.#wsUrl} failed${code === 1006 ? '' : ` (${code} ${reason})`}`))
          if (this.#everConnected && willReconnect) this.#scheduleReconnect(true)
          return
        }
        this.emit('disconnected', { code, reason, willReconnect })
        if (willReconnect) this.#scheduleReconnect(false)
      })
    })
  }

  #scheduleReconnect (forceLogin: boolean): void {
    clearTimeout(this.#reconnectTimer)
    const bound = Math.min(this.#delay.max, this.#delay.min * 2 ** this.#attempts)
    this.#attempts++
    const delay = this.#delay.min / 2 + Math.random() * bound
    this.#reconnectTimer = setTimeout(() => {
      if (this.#closed) return
      // a refused upgrade may mean an expired or revoked token: log in again on the next try
      this.#open(forceLogin).catch(() => {
        if (!this.#closed && this.#ws === undefined) this.#scheduleReconnect(true)
      })
    }, delay)
  }

  /** Closes the connection for good; requests still waiting are refused with `closed`. */
  close (): void {
    this.#closed = true
    clearInterval(this.#maintenance)
    clearTimeout(this.#reconnectTimer)
    this.#ws?.close(1000, 'bye')
    this.#ws = undefined
    for (const [id, entry] of this.#awaiting) {
      clearTimeout(entry.timer)
      entry.reject(new SealwireError('closed', 'the client was closed'))
      this.#awaiting.delete(id)
    }
  }

  /** Revokes the session token on the server (its connections close) and closes this client. */
  async logout (): Promise<void> {
    if (this.#token !== undefined) await this.#api.logout(this.#token)
    this.#token = undefined
    this.close()
  }

  // ---- encryption key rotation ---------------------------------------------------------------------

  /**
   * Publishes a new X25519 key (signed by the identity key) and keeps the old secret key, retired, to open
   * messages already queued for it. Emits `identity-changed`.
   */
  async rotateEncryptionKey (): Promise<void> {
    const next = newEncryptionKey(this.identity)
    await this.#api.rotateKey(await this.#ensureToken(), { x25519_public_key: next.x25519_public_key, x25519_key_signature: next.x25519_key_signature })
    const now = new Date().toISOString()
    this.identity.retiredEncryptionKeys = [...this.identity.retiredEncryptionKeys ?? [], { secretKey: this.identity.encryptionSecretKey, retiredAt: now }]
    this.identity.encryptionSecretKey = next.secretKey
    this.identity.encryptionKeyCreatedAt = now
    this.#keys = publicKeys(this.identity)
    this.emit('identity-changed', this.identity)
  }

  /**
   * Erases retired keys once nothing is queued for this user and each has been retired longer than the
   * grace period (senders cache keys for a minute). Returns how many were erased.
   */
  async eraseRetiredKeys (): Promise<number> {
    const retired = this.identity.retiredEncryptionKeys ?? []
    if (retired.length === 0) return 0
    if (await this.#api.pending(await this.#ensureToken()) > 0) return 0
    const cutoff = Date.now() - this.#graceMs
    const keep = retired.filter((k) => Date.parse(k.retiredAt) > cutoff)
    const erased = retired.filter((k) => Date.parse(k.retiredAt) <= cutoff)
    if (erased.length === 0) return 0
    // overwrite what JavaScript lets us overwrite; the rest is up to the garbage collector
    for (const k of erased) k.secretKey.fill(0)
    this.identity.retiredEncryptionKeys = keep
    this.emit('identity-changed', this.identity)
    return erased.length
  }

  #startMaintenance (): void {
    const run = async (): Promise<void> => {
      const created = Date.parse(this.identity.encryptionKeyCreatedAt ?? '')
      if (this.#rotationMs > 0 && Date.now() - created >= this.#rotationMs) await this.rotateEncryptionKey()
      await this.eraseRetiredKeys()
    }
    const safely = (): void => {
      run().catch((err: unknown) => this.emit('error', err instanceof SealwireError ? err : new SealwireError('maintenance_failed', 'key rotation failed; it will be tried again', { cause: err })))
    }
    clearInterval(this.#maintenance)
    safely()
    this.#maintenance = setInterval(safely, Math.max(1000, Math.min(this.#graceMs, 600_000)))
    const timer = this.#maintenance as { unref?: () => void }
    timer.unref?.()
  }

  /** Opens a direct message with the current key, then with each retired one. */
  #decrypt (p: { from: string, to: string, id: string, content: string, encryption_nonce: string, encryptedKey: string }): string {
    const keys = [this.identity.encryptionSecretKey, ...(this.identity.retiredEncryptionKeys ?? []).map((k) => k.secretKey).reverse()]
    let last: unknown
    for (const secretKey of keys) {
      try {
        return openDirect({ ...p, secretKey })
      } catch (err) {
        last = err
      }
    }
    throw last
  }

  // ---- sending -----------------------------------------------------------------------------------

  /** Encrypts `text` to `to`, signs and sends it; resolves once the server has stored it. */
  async sendDirect (to: string, text: string): Promise<SentMessage> {
    const peer = await this.#encryptionKey(to)
    const id = crypto.randomUUID()
    const sealed = sealDirect({
      from: this.userId, to, id, plaintext: text, recipientKey: peer, senderKey: fromBase64(this.#keys.x25519_public_key, 32)
    })
    const { content, ...keys } = sealed
    const envelope = signEnvelope(this.identity, {
      id, from: this.userId, to, message_type: 'direct', timestamp: new Date().toISOString(), ...keys
    }, { content })
    const delivered = new Promise<void>((resolve) => this.#delivered.set(id, resolve))
    await this.#request(id, JSON.stringify(envelope), 'receipt')
    return { id, delivered }
  }

  /** Sends a signed broadcast (plain text, public by design) to everyone online. */
  async broadcast (text: string): Promise<{ id: string }> {
    const id = crypto.randomUUID()
    const envelope = signEnvelope(this.identity, { id, from: this.userId, to: '*', message_type: 'broadcast', timestamp: new Date().toISOString() }, { content: text })
    await this.#request(id, JSON.stringify(envelope), 'receipt')
    return { id }
  }

  /** Runs a server command and resolves to its result; a refusal or failure rejects with its code. */
  async command (name: string, params?: JsonValue): Promise<JsonValue> {
    const id = crypto.randomUUID()
    const content = JSON.stringify(params === undefined ? { command: name } : { command: name, params })
    const envelope = signEnvelope(this.identity, { id, from: this.userId, to: 'server', message_type: 'server', timestamp: new Date().toISOString() }, { content })
    return await this.#request(id, JSON.stringify(envelope), 'command')
  }

  async #request (id: string, text: string, kind: Awaiting['kind']): Promise<JsonValue> {
    // while reconnecting, requests wait and go out on the new connection; before connect() they cannot
    if (this.#closed || (!this.#everConnected && this.#ws === undefined)) {
      throw new SealwireError('not_connected', 'not connected: call connect() first')
    }
    return await new Promise<JsonValue>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#awaiting.delete(id)
        reject(new SealwireError('timeout', `no answer from the server within ${this.#timeoutMs} ms`))
      }, this.#timeoutMs)
      this.#awaiting.set(id, { text, kind, resolve, reject, timer })
      if (this.#ws?.readyState === OPEN) this.#ws.send(text)
    })
  }

  #settle (id: string, outcome: { value: JsonValue } | { error: SealwireError }): void {
    const entry = this.#awaiting.get(id)
    if (entry === undefined) return
    this.#awaiting.delete(id)
    clearTimeout(entry.timer)
    if ('error' in outcome) entry.reject(outcome.error)
    else entry.resolve(outcome.value)
  }

  // ---- HTTP helpers ------------------------------------------------------------------------------

  async activeUsers (): Promise<string[]> {
    return await this.#api.activeUsers(await this.#ensureToken())
  }

  /** The stored conversation with `peer`, newest first, verified and decrypted (your own messages too). */
  async history (peer: string, options: { limit?: number, before?: number } = {}): Promise<{ messages: HistoryEntry[], nextBefore: number | null }> {
    const page = await this.#api.history(await this.#ensureToken(), peer, options.limit ?? 50, options.before)
    const messages: HistoryEntry[] = []
    for (const m of page.messages) {
      const { header, body } = m
      const entry: HistoryEntry = {
        id: str(header.id) ?? '', from: str(header.from) ?? '', to: str(header.to) ?? '', timestamp: str(header.timestamp) ?? '',
        status: m.status, text: undefined, error: undefined
      }
      try {
        await this.#verify(header, body)
        const mine = entry.from === this.userId
        const sealedKey = str(mine ? header.sender_encrypted_key : header.encrypted_key)
        if (sealedKey === undefined) throw new SealwireError('decrypt_failed', mine ? 'sent without a copy for the sender' : 'not encrypted')
        entry.text = this.#decrypt({
          from: entry.from, to: entry.to, id: entry.id, content: str(body.content) ?? '', encryption_nonce: str(header.encryption_nonce) ?? '', encryptedKey: sealedKey
        })
      } catch (err) {
        entry.error = err instanceof Error ? err.message : 'cannot be read'
      }
      messages.push(entry)
    }
    return { messages, nextBefore: page.next_before }
  }

  /** 60 digits to compare with `peer` out of band: equal on both sides unless a key was swapped. */
  async safetyNumber (peer: string): Promise<string> {
    const user = await this.#user(peer)
    return safetyNumber({ userId: this.userId, publicKey: this.#keys.public_key }, { userId: peer, publicKey: user.public_key })
  }

  // ---- keys of others ----------------------------------------------------------------------------

  /** A user's record, its identity key checked against the pin (pinned on first use). */
  async #user (userId: string, fresh = false): Promise<PublicUser> {
    const cached = this.#users.get(userId)
    if (!fresh && cached !== undefined && Date.now() - cached.fetchedAt < USER_CACHE_MS) return cached.user
    const user = await this.#api.user(userId, await this.#ensureToken())
    const pinned = await this.#store.getPin(userId)
    if (pinned === undefined) {
      await this.#store.setPin(userId, user.public_key)
    } else if (pinned !== user.public_key) {
      const err = new KeyChangedError(userId, pinned, user.public_key)
      this.emit('key-changed', err)
      throw err
    }
    this.#users.set(userId, { user, fetchedAt: Date.now() })
    return user
  }

  /** The X25519 key to encrypt to, only when its binding signature verifies with the pinned identity key. */
  async #encryptionKey (userId: string): Promise<Uint8Array> {
    const user = await this.#user(userId)
    const identityKey = fromBase64(user.public_key, 32)
    const encryptionKey = fromBase64(user.x25519_public_key, 32)
    const binding = user.x25519_key_signature === null ? undefined : fromBase64(user.x25519_key_signature, 64)
    if (identityKey === undefined || encryptionKey === undefined || binding === undefined ||
      !verifyStrict(identityKey, utf8Encode(x25519KeySigningInput(userId, user.x25519_public_key)), binding)) {
      this.#users.delete(userId)
      throw new SealwireError('unverified_key', `the encryption key of ${userId} is not signed by its identity key: not encrypting to it`)
    }
    return encryptionKey
  }

  async #verify (header: Record<string, unknown>, body: Record<string, unknown>): Promise<void> {
    const from = str(header.from)
    const signature = str(header.signature)
    if (from === undefined || signature === undefined) throw new SealwireError('malformed', 'missing header.from or header.signature')
    const key = from === this.userId ? this.#keys.public_key : (await this.#user(from)).public_key
    const ok = verifyStrict(fromBase64(key, 32) ?? new Uint8Array(0), utf8Encode(messageSigningInput(header, body)), fromBase64(signature, 64) ?? new Uint8Array(0))
    if (!ok) {
      // the key may have been fetched before a legitimate change was pinned elsewhere: never retry with a new key
      throw new SealwireError('bad_signature', `the signature of ${from} does not verify`)
    }
  }

  // ---- incoming ----------------------------------------------------------------------------------

  #onFrame (text: string): void {
    const parsed = parseServerFrame(text)
    if (!parsed.ok) {
      this.emit('rejected', { id: parsed.id, from: undefined, reason: 'malformed', message: parsed.type === undefined ? 'a frame that is not a JSON envelope' : `a ${parsed.type} frame of the wrong shape` })
      // a message that fails its checks is dropped: acknowledging it keeps it from coming again
      if (parsed.type === 'direct' && parsed.id !== undefined) this.#ack(parsed.id)
      return
    }
    const frame = parsed.frame
    switch (frame.header.message_type) {
      case 'receipt': {
        const { header: { in_reply_to: id }, body: { status } } = frame as ReceiptFrame
        if (status === 'delivered') {
          this.#delivered.get(id)?.()
          this.#delivered.delete(id)
        } else {
          this.#settle(id, { value: status })
        }
        this.emit('receipt', { id, status })
        return
      }
      case 'error': {
        const { header: { in_reply_to: id }, body } = frame as ErrorFrame
        const error = new SealwireError(body.code, body.message, { retryAfterMs: body.retry_after_ms })
        if (id !== undefined && this.#awaiting.has(id)) this.#settle(id, { error })
        else this.emit('error', error)
        return
      }
      case 'server_response': {
        const { header: { in_reply_to: id }, body } = frame as ServerResponseFrame
        const answer = parseCommandResponse(body.content)
        this.#settle(id, answer === undefined
          ? { error: new SealwireError('malformed', 'the server answered with something that is not a command response') }
          : answer.ok
            ? { value: answer.result as JsonValue }
            : { error: new SealwireError(answer.error.code, answer.error.message) })
        return
      }
      case 'presence': {
        const { body } = frame as PresenceFrame
        this.emit('presence', { userId: body.user_id, status: body.status })
        return
      }
      case 'direct':
      case 'broadcast': {
        const envelope = frame as DeliveredDirect | DeliveredBroadcast
        // one at a time, so the application sees messages in the order the server sent them
        this.#incoming = this.#incoming.then(async () => { await this.#onEnvelope(envelope) })
      }
    }
  }

  async #onEnvelope ({ header, body, meta }: DeliveredDirect | DeliveredBroadcast): Promise<void> {
    const { id, from, timestamp } = header
    const direct = header.message_type === 'direct'
    const reject = (reason: RejectionReason, message: string): void => {
      this.emit('rejected', { id, from, reason, message })
      // a message that fails its checks is dropped: acknowledging it keeps it from coming again
      if (direct) this.#ack(id)
    }
    if (direct && header.to !== this.userId) return reject('misrouted', `a message for ${header.to} reached ${this.userId}`)
    try {
      await this.#verify(header, body)
    } catch (err) {
      if (err instanceof KeyChangedError) return reject('key_changed', err.message)
      if (err instanceof SealwireError && err.code === 'bad_signature') return reject('bad_signature', err.message)
      return reject('unknown_sender', err instanceof Error ? err.message : 'sender unknown')
    }
    // offline messages arrive late: the window is checked against the time the server received them
    const reference = Date.parse(meta.received_at)
    if (!(Math.abs(Date.parse(timestamp) - reference) <= this.#skewMs)) return reject('clock_skew', `timestamp ${timestamp} is outside the window`)
    const seenKey = `${from}\n${id}`
    if (await this.#store.hasSeen(seenKey)) {
      // handed over before; the server resends what it has no ack for
      if (direct) this.#ack(id)
      return
    }
    const receivedAt = meta.received_at
    if (header.message_type === 'broadcast') {
      await this.#store.markSeen(seenKey)
      this.emit('broadcast', { id, from, text: body.content, timestamp, receivedAt })
      return
    }
    const { encrypted_key: encryptedKey, encryption_nonce: nonce } = header
    if (encryptedKey === undefined || nonce === undefined) return reject('not_encrypted', 'a direct message without encryption')
    let text: string
    try {
      text = this.#decrypt({ from, to: this.userId, id, content: body.content, encryption_nonce: nonce, encryptedKey })
    } catch (err) {
      return reject('decrypt_failed', err instanceof DecryptError ? 'the message cannot be decrypted: it was altered or not meant for this key' : 'cannot decrypt')
    }
    try {
      await this.emitAsync('message', { id, from, to: this.userId, text, timestamp, receivedAt })
    } catch (err) {
      // not acknowledged: the server sends it again on the next connection
      this.emit('error', new SealwireError('handler_failed', 'a message listener failed; the message will come again', { cause: err }))
      return
    }
    await this.#store.markSeen(seenKey)
    this.#ack(id)
  }

  #ack (id: string): void {
    if (this.#ws?.readyState === OPEN) this.#ws.send(JSON.stringify({ header: { message_type: 'ack', in_reply_to: id } }))
  }
}
