import { Type, type Static } from 'typebox'
import { UserId } from './common.js'
import { MessageId } from './frames.js'

// What one node hands another through the relay. Frames travel as the exact text the recipient's socket gets.

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

/** The sender `to` is told that its message `id` was acknowledged by the recipient. */
export const ReceiptDelivery = Type.Object({
  kind: Type.Literal('receipt'),
  to: UserId,
  id: MessageId
})

export const BroadcastDelivery = Type.Object({
  kind: Type.Literal('broadcast'),
  frame: Frame,
  /** the connection it came from, which does not get it back */
  origin: Type.Optional(Type.String({ maxLength: 64 }))
})

export const PresenceDelivery = Type.Object({
  kind: Type.Literal('presence'),
  users: Users,
  status: Type.Union([Type.Literal('online'), Type.Literal('offline')])
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

export const UserDelivery = Type.Union([DirectDelivery, ReceiptDelivery])
export type UserDelivery = Static<typeof UserDelivery>
export const ClusterDelivery = Type.Union([BroadcastDelivery, PresenceDelivery, RevokeDelivery, ResyncDelivery])
export type ClusterDelivery = Static<typeof ClusterDelivery>
export type Delivery = UserDelivery | ClusterDelivery

/** A delivery on the wire between nodes, with the node that sent it. */
export const RelayPacket = Type.Object({
  node: Type.String({ maxLength: 64 }),
  delivery: Type.Union([DirectDelivery, ReceiptDelivery, BroadcastDelivery, PresenceDelivery, RevokeDelivery, ResyncDelivery])
})
export type RelayPacket = Static<typeof RelayPacket>
