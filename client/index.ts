// The Sealwire client SDK for browsers and Node. Node-only helpers (the `ws` WebSocket, key files, a file
// store) are in `sealwire/client/node`.
export { SealwireClient } from './client.js'
export type {
  BroadcastMessage, ClientEvents, ClientOptions, DirectMessage, HistoryEntry, RejectedMessage, RejectionReason,
  SentMessage, WebSocketFactory, WebSocketLike
} from './client.js'
export { KeyChangedError, SealwireError } from './errors.js'
export { exportIdentity, generateIdentity, importIdentity, publicKeys } from './identity.js'
export type { Identity, IdentityFile, PublicKeys } from './identity.js'
export { safetyNumber } from './safety.js'
export { MemoryStore } from './store.js'
export type { ClientStore } from './store.js'
export type { JsonValue } from '../schemas/common.js'
