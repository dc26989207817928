import { Type, type Static } from 'typebox'
import { Base64Bytes, Timestamp, UserId } from './common.js'

// Every frame of the WebSocket protocol, in both directions. The server validates what it receives with these,
// the client SDK validates what it receives with the same schemas, and the AsyncAPI document is made from them.

export const MessageId = Type.String({
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
  description: 'a lowercase UUID chosen by the sender'
})

export const FRAME_ERROR_CODES = [
  'invalid_json', 'invalid_frame', 'bad_signature', 'forbidden', 'unknown_recipient', 'clock_skew', 'rate_limited',
  'unknown_command', 'command_failed', 'internal', 'unknown_message', 'ambiguous_ack'
] as const

/** Why the server refused a frame: the `code` of an `error` frame (and, for the same refusals over HTTP, of the answer). */
export const FrameErrorCode = Type.Enum(FRAME_ERROR_CODES, { description: 'why a frame was refused' })
export type FrameErrorCode = Static<typeof FrameErrorCode>

/** A canonical base64 text of at least one AES-GCM tag (16 bytes): the content of an encrypted direct message. */
export const Ciphertext = Type.String({
  minLength: 24,
  pattern: '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$',
  description: 'canonical base64 of AES-256-GCM ciphertext followed by its 16-byte tag'
})

// ---- envelopes: what users send each other, signed by the sender ----------------------------------------------

const signed = {
  id: MessageId,
  from: UserId,
  timestamp: Timestamp,
  signature: Base64Bytes(64, 'Ed25519 over "sealwire/v1/message:" + JCS(envelope without header.signature and meta)')
}
/** Fields a client adds to a header or body are kept and signed along with the rest. */
const open = { additionalProperties: true }

/** What the server adds to a stored envelope when it sends it on. Never signed. */
export const DeliveryMeta = Type.Object({
  received_at: Timestamp
}, { ...open, description: 'added by the server, never signed: when it stored the message' })

/** On the way in, `meta` is ignored: the server sets its own. */
const InboundMeta = Type.Optional(Type.Object({}, { ...open, description: 'ignored by the server: never signed' }))

export const DirectHeader = Type.Object({
  ...signed,
  to: UserId,
  message_type: Type.Literal('direct'),
  encrypted_key: Type.Optional(Base64Bytes(80, 'HPKE enc ‖ the sealed content key')),
  encryption_nonce: Type.Optional(Base64Bytes(12, 'AES-256-GCM nonce')),
  sender_encrypted_key: Type.Optional(Base64Bytes(80, 'the content key sealed to the sender\'s own key'))
}, open)
export type DirectHeader = Static<typeof DirectHeader>

export const TextBody = Type.Object({ content: Type.String() }, open)

export const DirectEnvelope = Type.Object({
  header: DirectHeader,
  body: TextBody,
  meta: InboundMeta
}, { description: 'a signed direct message; content is base64 ciphertext' })
export type DirectEnvelope = Static<typeof DirectEnvelope>

export const BroadcastHeader = Type.Object({ ...signed, to: Type.Literal('*'), message_type: Type.Literal('broadcast') }, open)

export const BroadcastEnvelope = Type.Object({
  header: BroadcastHeader,
  body: TextBody,
  meta: InboundMeta
}, { description: 'a signed broadcast to everyone online; content is plain text, public by design' })
export type BroadcastEnvelope = Static<typeof BroadcastEnvelope>

export const ServerEnvelope = Type.Object({
  header: Type.Object({ ...signed, to: Type.Literal('server'), message_type: Type.Literal('server') }, open),
  body: Type.Object({ content: Type.String({ description: 'JSON text {"command": "...", "params": ...}' }) }, open),
  meta: InboundMeta
}, { description: 'a signed command for the server; answered by a server_response' })
export type ServerEnvelope = Static<typeof ServerEnvelope>

export type Envelope = DirectEnvelope | BroadcastEnvelope | ServerEnvelope

export const REJECT_REASONS = [
  'bad_signature', 'key_changed', 'key_rollback', 'key_expired', 'unknown_key', 'decrypt_failed', 'clock_skew', 'stale',
  'not_encrypted', 'misrouted', 'malformed'
] as const

/** Why a recipient refused a direct message. */
export const RejectReason = Type.Enum(REJECT_REASONS, { description: 'why the recipient refused the message' })
export type RejectReason = Static<typeof RejectReason>

/** `id` names the refused message, `from` is its recipient (the refusing user), `to` its sender. */
export const RejectHeader = Type.Object({ ...signed, to: UserId, message_type: Type.Literal('reject') }, open)

export const RejectBody = Type.Object({ reason: RejectReason }, open)

/** A reject as its recipient signed it, without meta: what the sender's `rejected` receipt carries. */
export const SignedReject = Type.Object({ header: RejectHeader, body: RejectBody })
export type SignedReject = Static<typeof SignedReject>

export const RejectFrame = Type.Object({
  header: RejectHeader,
  body: RejectBody,
  meta: InboundMeta
}, { description: 'sent instead of an ack for a direct message that fails a check: it is marked rejected and its sender told' })
export type RejectFrame = Static<typeof RejectFrame>

export const AckFrame = Type.Object({
  header: Type.Object({ message_type: Type.Literal('ack'), in_reply_to: MessageId }, open),
  body: Type.Optional(Type.Object({
    // the message's sender; without it, the id must name the pending message of one sender only
    from: Type.Optional(UserId)
  }, open))
}, { ...open, description: 'the recipient has a direct message: it is marked delivered and not sent again' })
export type AckFrame = Static<typeof AckFrame>

/** The content of a `server` message once parsed. */
export const CommandRequest = Type.Object({
  command: Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }),
  params: Type.Optional(Type.Unknown())
})
export type CommandRequest = Static<typeof CommandRequest>

// ---- frames the server sends --------------------------------------------------------------------------------

/** A direct message as its recipient gets it: the envelope as signed, plus the server's meta. */
export const DeliveredDirect = Type.Object({ header: DirectHeader, body: TextBody, meta: DeliveryMeta })
export type DeliveredDirect = Static<typeof DeliveredDirect>

export const DeliveredBroadcast = Type.Object({ header: BroadcastHeader, body: TextBody, meta: DeliveryMeta })
export type DeliveredBroadcast = Static<typeof DeliveredBroadcast>

export const ReceiptStatus = Type.Union([Type.Literal('accepted'), Type.Literal('delivered'), Type.Literal('duplicate'), Type.Literal('rejected')], {
  description: 'accepted: stored durably; delivered: acknowledged by the recipient; duplicate: this id was stored before; ' +
    'rejected: refused by the recipient (body.rejection says why, signed by it)'
})
export type ReceiptStatus = Static<typeof ReceiptStatus>

export const SERVER_FRAME_TYPES = ['receipt', 'error', 'server_response', 'presence'] as const
export type ServerFrameType = typeof SERVER_FRAME_TYPES[number]

/** The fields of every frame the server makes itself. Not signed: the connection (TLS) vouches for them. */
const made = {
  id: MessageId,
  from: Type.Literal('server'),
  timestamp: Timestamp
}

export const ReceiptFrame = Type.Object({
  header: Type.Object({ ...made, to: UserId, message_type: Type.Literal('receipt'), in_reply_to: MessageId }),
  body: Type.Object({
    status: ReceiptStatus,
    reason: Type.Optional(RejectReason),
    rejection: Type.Optional(SignedReject)
  })
}, { description: 'what became of a message the connection\'s user sent (`in_reply_to` names it); with `rejected`, the reason and the recipient\'s signed reject' })
export type ReceiptFrame = Static<typeof ReceiptFrame>

export const ErrorBody = Type.Object({
  code: FrameErrorCode,
  message: Type.String({ description: 'short, for people; never internals' }),
  retry_after_ms: Type.Optional(Type.Integer({ minimum: 0, description: 'with rate_limited: when a retry can succeed' }))
})
export type ErrorBody = Static<typeof ErrorBody>

export const ErrorFrame = Type.Object({
  header: Type.Object({ ...made, to: UserId, message_type: Type.Literal('error'), in_reply_to: Type.Optional(MessageId) }),
  body: ErrorBody
}, { description: 'a refused frame; `in_reply_to` names it when it had a valid id' })
export type ErrorFrame = Static<typeof ErrorFrame>

export const CommandResponse = Type.Union([
  Type.Object({ command: Type.String(), ok: Type.Literal(true), result: Type.Unknown({ description: 'any JSON value' }) }),
  Type.Object({
    command: Type.String(),
    ok: Type.Literal(false),
    error: Type.Object({ code: Type.String({ description: 'command_failed, or a code the command chose' }), message: Type.String() })
  })
], { description: 'the JSON text of a server_response\'s content' })
export type CommandResponse = Static<typeof CommandResponse>

export const ServerResponseFrame = Type.Object({
  header: Type.Object({ ...made, to: UserId, message_type: Type.Literal('server_response'), in_reply_to: MessageId }),
  body: Type.Object({ content: Type.String({ description: 'JSON text of a CommandResponse' }) })
}, { description: 'the answer to a `server` message' })
export type ServerResponseFrame = Static<typeof ServerResponseFrame>

export const PresenceStatus = Type.Union([Type.Literal('online'), Type.Literal('offline')])
export type PresenceStatus = Static<typeof PresenceStatus>

export const PresenceFrame = Type.Object({
  header: Type.Object({ ...made, to: Type.Literal('*'), message_type: Type.Literal('presence') }),
  body: Type.Object({ user_id: UserId, status: PresenceStatus })
}, { description: 'a user\'s first connection opened (online) or last one closed (offline), on any node' })
export type PresenceFrame = Static<typeof PresenceFrame>

export type ServerMadeFrame = ReceiptFrame | ErrorFrame | ServerResponseFrame | PresenceFrame
export type ServerFrame = DeliveredDirect | DeliveredBroadcast | ServerMadeFrame

/** Every frame a client may send, and every frame the server sends, by `header.message_type`. */
export const CLIENT_FRAMES = { direct: DirectEnvelope, broadcast: BroadcastEnvelope, server: ServerEnvelope, ack: AckFrame, reject: RejectFrame } as const
export const SERVER_FRAMES = {
  direct: DeliveredDirect,
  broadcast: DeliveredBroadcast,
  receipt: ReceiptFrame,
  error: ErrorFrame,
  server_response: ServerResponseFrame,
  presence: PresenceFrame
} as const
