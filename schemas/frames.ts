import { Type, type Static } from 'typebox'
import { Base64Bytes, Timestamp, UserId } from './common.js'

export const MessageId = Type.String({
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
  description: 'a lowercase UUID chosen by the sender'
})

/** Error codes of PROTOCOL.md, used in `error` frames and (for HTTP) in `code`. */
export const FrameErrorCode = Type.Union([
  Type.Literal('invalid_json'), Type.Literal('invalid_frame'), Type.Literal('bad_signature'), Type.Literal('forbidden'),
  Type.Literal('unknown_recipient'), Type.Literal('clock_skew'), Type.Literal('rate_limited'),
  Type.Literal('unknown_command'), Type.Literal('command_failed'), Type.Literal('internal')
])
export type FrameErrorCode = Static<typeof FrameErrorCode>

const common = {
  id: MessageId,
  from: UserId,
  timestamp: Timestamp,
  signature: Base64Bytes(64, 'Ed25519 over "sealwire/v1/message:" + JCS(envelope without header.signature and meta)')
}
const envelopeOptions = { additionalProperties: true }
const Meta = Type.Optional(Type.Object({}, { additionalProperties: true, description: 'added by the server, never signed' }))

export const DirectHeader = Type.Object({
  ...common,
  to: UserId,
  message_type: Type.Literal('direct'),
  encrypted_key: Type.Optional(Base64Bytes(80, 'HPKE enc ‖ sealed content key')),
  encryption_nonce: Type.Optional(Base64Bytes(12, 'AES-256-GCM nonce')),
  sender_encrypted_key: Type.Optional(Base64Bytes(80, 'the content key sealed to the sender'))
}, envelopeOptions)

export const DirectEnvelope = Type.Object({
  header: DirectHeader,
  body: Type.Object({ content: Type.String() }, envelopeOptions),
  meta: Meta
}, { description: 'a signed direct message; content is base64 ciphertext' })
export type DirectEnvelope = Static<typeof DirectEnvelope>

export const BroadcastEnvelope = Type.Object({
  header: Type.Object({ ...common, to: Type.Literal('*'), message_type: Type.Literal('broadcast') }, envelopeOptions),
  body: Type.Object({ content: Type.String() }, envelopeOptions),
  meta: Meta
})
export type BroadcastEnvelope = Static<typeof BroadcastEnvelope>

export const ServerEnvelope = Type.Object({
  header: Type.Object({ ...common, to: Type.Literal('server'), message_type: Type.Literal('server') }, envelopeOptions),
  body: Type.Object({ content: Type.String({ description: 'JSON text {"command": "...", "params": ...}' }) }, envelopeOptions),
  meta: Meta
})
export type ServerEnvelope = Static<typeof ServerEnvelope>

export type Envelope = DirectEnvelope | BroadcastEnvelope | ServerEnvelope

export const AckFrame = Type.Object({
  header: Type.Object({ message_type: Type.Literal('ack'), in_reply_to: MessageId }, envelopeOptions)
}, envelopeOptions)
export type AckFrame = Static<typeof AckFrame>

/** The content of a `server` message once parsed. */
export const CommandRequest = Type.Object({
  command: Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }),
  params: Type.Optional(Type.Unknown())
})
export type CommandRequest = Static<typeof CommandRequest>

export const ReceiptStatus = Type.Union([Type.Literal('accepted'), Type.Literal('delivered'), Type.Literal('duplicate')])
export type ReceiptStatus = Static<typeof ReceiptStatus>

/** The header of every frame the server makes itself (they are not signed). */
export interface ServerFrameHeader {
  id: string
  from: 'server'
  to: string
  message_type: 'receipt' | 'error' | 'server_response' | 'presence'
  timestamp: string
  in_reply_to?: string
}
