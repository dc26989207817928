// The Sealwire client SDK for browsers and Node. Node-only helpers (the `ws` WebSocket, key files, a file
// store) are in `sealwire/client/node`.
export { SealwireClient } from './client.js'
export type {
  BroadcastMessage, ClientEvents, ClientOptions, DirectMessage, HistoryEntry, RejectedMessage, RejectionReason,
  RejectReason, SentMessage, Trust, WebSocketFactory, WebSocketLike
} from './client.js'
export { KeyChangedError, RejectedError, SealwireError } from './errors.js'
export { exportIdentity, generateIdentity, importIdentity, publicKeys } from './identity.js'
export type { Identity, IdentityFile, PendingKey, PublicKeys } from './identity.js'
export { REJECT_REASONS } from './frames.js'
export { safetyNumber } from './safety.js'
export { MemoryStore, SeenLog } from './store.js'
export type { ClientStore, PeerRecord, SeenRecord, SeenState, TrustState } from './store.js'
export type { JsonValue } from '../schemas/common.js'
