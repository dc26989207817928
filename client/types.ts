// The shapes of the SDK's public API: options, messages and events.
import type { RejectReason } from './frames.js'
import type { Identity } from './identity.js'
import type { Trust } from './keys.js'
import type { KeyChangedError, RejectedError, SealwireError } from './errors.js'
import type { Fetch } from './api.js'
import type { ClientStore } from './store.js'

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
  /**
   * pinned keys, key epochs and seen messages. It must be durable for pins, epochs and replay protection to
   * hold after a restart: `createNodeClient` gives a FileStore by default; MemoryStore is for tests.
   */
  store?: ClientStore
  /** how far in the future a message's signed timestamp may be (default 5 min) */
  clockSkewMs?: number
  /** how old a message's signed timestamp may be: longer than a message may wait queued (default 30 days + 5 min) */
  replayWindowMs?: number
  /** reconnect after the connection drops (default true) */
  reconnect?: boolean
  /** first and largest reconnect delay; each delay is random up to the current bound (full jitter) */
  reconnectDelayMs?: { min: number, max: number }
  /** how long to wait for `accepted` or a command's answer (default 15 s) */
  requestTimeoutMs?: number
  /**
   * replace the X25519 key this often (default 7 days; 0 never). Rotation needs an `identity-changed`
   * listener that saves the identity: it is awaited before a new key is published.
   */
  encryptionKeyRotationMs?: number
  /** erase a replaced key's secret after this long (default 30 days: the longest a queued message may wait) */
  retiredKeyRetentionMs?: number
}

export interface DirectMessage {
  id: string
  from: string
  to: string
  text: string
  /** the sender's timestamp */
  timestamp: string
  /** when the server says it received it (not signed: for display only, never for a decision) */
  receivedAt: string | undefined
}

export interface BroadcastMessage {
  id: string
  from: string
  text: string
  timestamp: string
  receivedAt: string | undefined
}

export type RejectionReason = RejectReason
export type { RejectReason }

/** A message that failed a check: it is never shown; this says why (and the sender was sent a signed refusal). */
export interface RejectedMessage {
  id: string | undefined
  from: string | undefined
  reason: RejectionReason
  message: string
}

export interface SentMessage {
  id: string
  /**
   * resolves when the recipient has acknowledged the message (possibly in a later session); rejects with a
   * RejectedError when the recipient refused it with a signed reject
   */
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
  receipt: { id: string, status: 'accepted' | 'delivered' | 'duplicate' | 'rejected' }
  /** an incoming message failed a check */
  rejected: RejectedMessage
  /** a message this user sent was refused by its recipient (the refusal's signature verified) */
  'rejected-receipt': RejectedError
  'key-changed': KeyChangedError
  /** the identity's keys changed (rotation, or retired keys erased): save it; the client awaits the listeners */
  'identity-changed': Identity
  error: SealwireError
}

export type { Trust }
