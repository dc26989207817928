import { Type, type Static } from 'typebox'
import { UserId } from './common.js'
import { MessageId, PresenceStatus } from './frames.js'

// What one node hands another through Redis. Frames travel as the exact text the recipient's socket gets.

/** a frame is at most MAX_MESSAGE_BYTES (16 MiB at the most) with the server's meta */
const Frame = Type.String({ maxLength: 17 * 1024 * 1024 })
/** presence and resync lists are sent in chunks of 1,000 */
const Users = Type.Array(UserId, { maxItems: 1000 })

export const DirectDelivery = Type.Object({
  kind: Type.Literal('direct'),
  to: UserId,
  /** the message's place in the order of arrival, so a connection still sending its queue can place it */
  seq: Type.Integer({ minimum: 1 }),
  frame: Frame
})

/**
 * The sender `to` is told that its message `id` was acknowledged by the recipient, or, with `rejection` (the
 * reject frame as the recipient signed it, as text), that the recipient refused it.
 */
export const ReceiptDelivery = Type.Object({
  kind: Type.Literal('receipt'),
  to: UserId,
  id: MessageId,
  rejection: Type.Optional(Frame)
})

export const BroadcastDelivery = Type.Object({
  kind: Type.Literal('broadcast'),
  frame: Frame
})

export const PresenceDelivery = Type.Object({
  kind: Type.Literal('presence'),
  users: Users,
  status: PresenceStatus
})

/** A token was revoked: connections opened with it close. */
export const RevokeDelivery = Type.Object({
  kind: Type.Literal('revoke'),
  jti: Type.String({ maxLength: 128 }),
  expires_at_ms: Type.Integer()
})

/**
 * Deliveries for these users (or everyone) may have been missed: their connections send the stored queue and
 * the receipts owed again. Clients drop the copies they already have by message id.
 */
export const ResyncDelivery = Type.Object({
  kind: Type.Literal('resync'),
  users: Type.Union([Users, Type.Literal('all')])
})

/** Deliveries to users' connections: the broker's traffic. */
export const UserDelivery = Type.Union([DirectDelivery, ReceiptDelivery])
export type UserDelivery = Static<typeof UserDelivery>
export type BroadcastDelivery = Static<typeof BroadcastDelivery>
export type Delivery = UserDelivery | BroadcastDelivery
export type PresenceDelivery = Static<typeof PresenceDelivery>
export type RevokeDelivery = Static<typeof RevokeDelivery>
export type ResyncDelivery = Static<typeof ResyncDelivery>

/** What crosses between nodes, with the node that sent it (the field keeps its name `delivery` on the wire). */
export const ClusterPacket = Type.Object({
  node: Type.String({ maxLength: 64 }),
  delivery: Type.Union([DirectDelivery, ReceiptDelivery, BroadcastDelivery, PresenceDelivery, RevokeDelivery, ResyncDelivery])
})
export type ClusterPacket = Static<typeof ClusterPacket>
export type ClusterMessage = ClusterPacket['delivery']
