import type { JsonValue } from '../schemas/common.js'
import type { DeliveredBroadcast, DeliveredDirect, ErrorFrame, PresenceFrame, ReceiptFrame, ServerResponseFrame } from '../schemas/frames.js'
import { fromBase64, utf8Encode } from '../services/protocol/base64.js'
import { openDirect, sealDirect } from '../services/protocol/direct.js'
import { verifyStrict } from '../services/protocol/signature.js'
import { messageSigningInput } from '../services/protocol/signing.js'
import { HttpApi, type PeerUser } from './api.js'
import { Emitter } from './emitter.js'
import { RejectedError, SealwireError } from './errors.js'
import { parseCommandResponse, parseServerFrame, type RejectedReceiptFrame } from './frames.js'
import { publicKeys, signEnvelope, signLogin, type Identity } from './identity.js'
import { PeerKeys, type Trust } from './keys.js'
import { ackFrame, checkEnvelope, checkRejection, rejectFrame } from './receive.js'
import { DEFAULT_RETENTION_MS, DEFAULT_ROTATION_MS, KeyRotation } from './rotation.js'
import { MemoryStore, type ClientStore } from './store.js'

import type { ClientEvents, ClientOptions, HistoryEntry, SentMessage, WebSocketFactory, WebSocketLike } from './types.js'

export type {
  BroadcastMessage, ClientEvents, ClientOptions, DirectMessage, HistoryEntry, RejectedMessage, RejectionReason, RejectReason,
  SentMessage, Trust, WebSocketFactory, WebSocketLike
} from './types.js'

interface Awaiting {
  text: string
  kind: 'receipt' | 'command'
  resolve: (value: JsonValue) => void
  reject: (err: SealwireError) => void
  timer: ReturnType<typeof setTimeout>
}

const OPEN = 1
const CLOCK_SKEW_MS = 300_000
const DEFAULT_REPLAY_WINDOW_MS = 30 * 86_400_000 + CLOCK_SKEW_MS

function str (value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

/**
 * A Sealwire user: registers, logs in, keeps a connection open, and sends and receives end-to-end encrypted
 * messages. Incoming messages are verified against the sender's pinned identity key, checked for time (by
 * their signed timestamp) and replay (by the store), decrypted, handed to the `message` listeners, and
 * acknowledged only after every listener is done; a message that fails a check is refused with a signed
 * `reject`, so its sender learns it was not delivered.
 */
export class SealwireClient extends Emitter<ClientEvents> {
  readonly identity: Identity
  readonly #api: HttpApi
  readonly #wsUrl: string
  readonly #webSocket: WebSocketFactory
  readonly #store: ClientStore
  readonly #skewMs: number
  readonly #windowMs: number
  readonly #reconnect: boolean
  readonly #delay: { min: number, max: number }
  readonly #timeoutMs: number
  readonly #retentionMs: number
  readonly #peers: PeerKeys
  readonly #rotation: KeyRotation
  #maintenance: ReturnType<typeof setInterval> | undefined
  readonly #awaiting = new Map<string, Awaiting>()
  readonly #delivered = new Map<string, { to: string, resolve: () => void, reject: (err: RejectedError) => void }>()
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
    this.#skewMs = options.clockSkewMs ?? CLOCK_SKEW_MS
    this.#windowMs = options.replayWindowMs ?? DEFAULT_REPLAY_WINDOW_MS
    this.#reconnect = options.reconnect ?? true
    this.#delay = options.reconnectDelayMs ?? { min: 500, max: 30_000 }
    this.#timeoutMs = options.requestTimeoutMs ?? 15_000
    // an identity from before rotation existed (or from an environment variable) counts from now
    this.identity.encryptionKeyCreatedAt ??= new Date().toISOString()
    this.#retentionMs = options.retiredKeyRetentionMs ?? DEFAULT_RETENTION_MS
    this.#peers = new PeerKeys({
      api: this.#api,
      store: this.#store,
      token: async () => await this.#ensureToken(),
      me: () => ({ userId: this.userId, publicKey: publicKeys(this.identity).public_key }),
      onKeyChanged: (err) => this.emit('key-changed', err)
    })
    this.#rotation = new KeyRotation({
      identity: this.identity,
      api: this.#api,
      token: async () => await this.#ensureToken(),
      rotationMs: options.encryptionKeyRotationMs ?? DEFAULT_ROTATION_MS,
      retentionMs: this.#retentionMs,
      save: async () => await this.emitAsync('identity-changed', this.identity),
      canSave: () => this.listenerCount('identity-changed') > 0
    })
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

  /**
   * Registers this identity: its X25519 key bound at its epoch (1 for a new identity) with an expiry two
   * rotation intervals away. Listen to `identity-changed` (and save) first: a client that cannot save its
   * identity, or never rotates, registers the v1 way (no epoch, no expiry).
   */
  async register (): Promise<PeerUser> {
    const { public_key: publicKey } = publicKeys(this.identity)
    const { fields, commit } = this.#rotation.registration()
    const user = await this.#api.register({ user_id: this.identity.userId, username: this.identity.username, public_key: publicKey, ...fields })
    await commit()
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

  // ---- own encryption keys ---------------------------------------------------------------------------

  /**
   * Publishes a new X25519 key at the next epoch. The new secret key is saved first (the `identity-changed`
   * listeners are awaited); when publishing fails it stays pending and the next call publishes that same key.
   * The old secret key is kept, retired, for messages sealed to it.
   */
  async rotateEncryptionKey (): Promise<void> {
    await this.#rotation.rotate()
  }

  /** Erases retired keys retired longer than `retiredKeyRetentionMs`. Returns how many were erased. */
  async eraseRetiredKeys (): Promise<number> {
    return await this.#rotation.eraseRetired()
  }

  #startMaintenance (): void {
    const run = async (): Promise<void> => {
      await this.#store.pruneSeen(Date.now() - this.#windowMs)
      if (this.#rotation.due()) await this.#rotation.rotate()
      await this.#rotation.eraseRetired()
    }
    const safely = (): void => {
      run().catch((err: unknown) => this.emit('error', err instanceof SealwireError ? err : new SealwireError('maintenance_failed', 'key maintenance failed; it will be tried again', { cause: err })))
    }
    clearInterval(this.#maintenance)
    safely()
    this.#maintenance = setInterval(safely, Math.max(1000, Math.min(this.#retentionMs, 600_000)))
    const timer = this.#maintenance as { unref?: () => void }
    timer.unref?.()
  }

  // ---- sending -----------------------------------------------------------------------------------

  /**
   * Encrypts `text` to `to`, signs and sends it; resolves once the server has stored it. A key of `to` that
   * fails the checks (changed identity key, rolled back or expired encryption key) is refused: nothing is sent.
   */
  async sendDirect (to: string, text: string): Promise<SentMessage> {
    let peer: Uint8Array
    try {
      peer = await this.#peers.encryptionKey(to)
    } catch (err) {
      if (err instanceof SealwireError && (err.code === 'key_rollback' || err.code === 'key_expired')) this.emit('error', err)
      throw err
    }
    const id = crypto.randomUUID()
    const sealed = sealDirect({
      from: this.userId, to, id, plaintext: text, recipientKey: peer, senderKey: fromBase64(publicKeys(this.identity).x25519_public_key, 32)
    })
    const { content, ...keys } = sealed
    const envelope = signEnvelope(this.identity, {
      id, from: this.userId, to, message_type: 'direct', timestamp: new Date().toISOString(), ...keys
    }, { content })
    const delivered = new Promise<void>((resolve, reject) => this.#delivered.set(id, { to, resolve, reject }))
    // a refusal nobody awaits must not end the process as an unhandled rejection
    delivered.catch(() => {})
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
        id: str(header.id) ?? '',
        from: str(header.from) ?? '',
        to: str(header.to) ?? '',
        timestamp: str(header.timestamp) ?? '',
        status: m.status,
        text: undefined,
        error: undefined
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

  async #verify (header: Record<string, unknown>, body: Record<string, unknown>): Promise<void> {
    const from = str(header.from)
    const signature = str(header.signature)
    if (from === undefined || signature === undefined) throw new SealwireError('malformed', 'missing header.from or header.signature')
    const key = from === this.userId ? publicKeys(this.identity).public_key : (await this.#peers.pinned(from)).record.publicKey
    if (!verifyStrict(fromBase64(key, 32) ?? new Uint8Array(0), utf8Encode(messageSigningInput(header, body)), fromBase64(signature, 64) ?? new Uint8Array(0))) {
      throw new SealwireError('bad_signature', `the signature of ${from} does not verify`)
    }
  }

  #decrypt (p: { from: string, to: string, id: string, content: string, encryption_nonce: string, encryptedKey: string }): string {
    let last: unknown
    for (const secretKey of this.#rotation.secretKeys()) {
      try {
        return openDirect({ ...p, secretKey })
      } catch (err) {
        last = err
      }
    }
    throw last
  }

  // ---- trust -------------------------------------------------------------------------------------

  /** 60 digits to compare with `peer` out of band, for the identity key the server serves now. Pins nothing. */
  async safetyNumber (peer: string): Promise<string> {
    return await this.#peers.safetyNumber(peer)
  }

  /** What this client holds for `peer`: the pinned identity key, its trust state and key epoch; undefined before first use. */
  async trust (peer: string): Promise<Trust | undefined> {
    return await this.#peers.trust(peer)
  }

  /**
   * The user compared safety numbers with `peer`: its key is marked `verified`. Pass the number that was shown,
   * so that a key swapped since is not marked (`safety_number_mismatch`); a changed key must be accepted first.
   */
  async markVerified (peer: string, shownSafetyNumber?: string): Promise<Trust> {
    return await this.#peers.markVerified(peer, shownSafetyNumber)
  }

  /**
   * The user accepts `peer`'s changed identity key (after a KeyChangedError): it is pinned as `unverified`, and
   * messages can go to `peer` again. Pass the key the error presented to accept only that one.
   */
  async acceptKeyChange (peer: string, presentedKey?: string): Promise<Trust> {
    return await this.#peers.acceptKeyChange(peer, presentedKey)
  }

  // ---- incoming ----------------------------------------------------------------------------------

  #onFrame (text: string): void {
    const parsed = parseServerFrame(text)
    if (!parsed.ok) {
      const message = parsed.type === undefined ? 'a frame that is not a JSON envelope' : `a ${parsed.type} frame of the wrong shape`
      this.emit('rejected', { id: parsed.id, from: parsed.from, reason: 'malformed', message })
      // a direct message whose sender and id can be read is refused to its sender; anything else cannot be answered
      if (parsed.type === 'direct' && parsed.id !== undefined && parsed.from !== undefined) this.#send(rejectFrame(this.identity, { id: parsed.id, from: parsed.from }, 'malformed'))
      return
    }
    const frame = parsed.frame
    switch (frame.header.message_type) {
      case 'receipt': {
        if ((frame as ReceiptFrame | RejectedReceiptFrame).body.status === 'rejected') {
          const receipt = frame as RejectedReceiptFrame
          this.#incoming = this.#incoming.then(async () => { await this.#onRejectedReceipt(receipt) })
          return
        }
        const { header: { in_reply_to: id }, body: { status } } = frame as ReceiptFrame
        if (status === 'delivered') {
          // after any rejected receipt before it: a message once refused is never delivered
          this.#incoming = this.#incoming.then(() => {
            const sent = this.#delivered.get(id)
            this.#delivered.delete(id)
            sent?.resolve()
            this.emit('receipt', { id, status })
          })
          return
        }
        this.#settle(id, { value: status })
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

  async #onEnvelope (envelope: DeliveredDirect | DeliveredBroadcast): Promise<void> {
    const { header, meta } = envelope
    const { id, from } = header
    const direct = header.message_type === 'direct'
    let outcome: Awaited<ReturnType<typeof checkEnvelope>>
    try {
      outcome = await checkEnvelope({
        me: this.userId,
        ownPublicKey: publicKeys(this.identity).public_key,
        keys: this.#peers,
        store: this.#store,
        secretKeys: this.#rotation.secretKeys(),
        skewMs: this.#skewMs,
        windowMs: this.#windowMs,
        now: Date.now()
      }, envelope)
    } catch (err) {
      outcome = { kind: 'later', error: err instanceof SealwireError ? err : new SealwireError('store_failed', 'the message could not be checked; it will come again', { cause: err }) }
    }
    switch (outcome.kind) {
      case 'later':
        // neither acknowledged nor refused: the server sends it again on the next connection
        this.emit('error', outcome.error)
        return
      case 'replay':
        // handed over before; the server resends what it has no ack for
        if (direct) this.#send(ackFrame({ id, from }))
        return
      case 'refuse':
        this.emit('rejected', { id, from, reason: outcome.reason, message: outcome.message })
        if (direct) this.#send(rejectFrame(this.identity, { id, from }, outcome.reason))
        return
    }
    const receivedAt = meta.received_at
    try {
      if (direct) await this.emitAsync('message', { id, from, to: this.userId, text: outcome.text, timestamp: header.timestamp, receivedAt })
      else this.emit('broadcast', { id, from, text: outcome.text, timestamp: header.timestamp, receivedAt })
    } catch (err) {
      // not acknowledged: the server sends it again on the next connection
      this.emit('error', new SealwireError('handler_failed', 'a message listener failed; the message will come again', { cause: err }))
      return
    }
    try {
      // recorded durably before the ack: once acknowledged, a replay must find it
      await this.#store.markSeen({ from, id, timestamp: outcome.timestamp })
    } catch (err) {
      this.emit('error', new SealwireError('store_failed', 'the message could not be recorded as seen; it is not acknowledged', { cause: err }))
      return
    }
    if (direct) this.#send(ackFrame({ id, from }))
  }

  async #onRejectedReceipt (receipt: RejectedReceiptFrame): Promise<void> {
    const id = receipt.header.in_reply_to
    const sent = this.#delivered.get(id)
    let check: Awaited<ReturnType<typeof checkRejection>>
    try {
      check = await checkRejection(receipt, this.userId, sent?.to, this.#store)
    } catch (err) {
      check = { ok: false, why: err instanceof Error ? err.message : 'the store failed' }
    }
    if (!check.ok) {
      // the server's word alone: the message stays pending
      this.emit('error', new SealwireError('invalid_rejection', `a rejected receipt for ${id} was ignored: ${check.why}`))
      return
    }
    const error = new RejectedError(id, check.recipient, check.reason)
    this.#delivered.delete(id)
    sent?.reject(error)
    this.emit('receipt', { id, status: 'rejected' })
    this.emit('rejected-receipt', error)
  }

  #send (text: string): void {
    if (this.#ws?.readyState === OPEN) this.#ws.send(text)
  }
}
