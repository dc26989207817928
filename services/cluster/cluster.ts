import type { PresenceStatus } from '../../schemas/frames.js'
import type { BroadcastDelivery, Delivery, UserDelivery } from '../../schemas/cluster.js'

export type { BroadcastDelivery, Delivery, UserDelivery } from '../../schemas/cluster.js'

/** `local`: nothing to reach beyond this process. `ok` / `degraded`: several nodes, and whether the others are reachable. */
export type ClusterState = 'local' | 'ok' | 'degraded'

/**
 * Deliveries to connections on other nodes. The hub serves this node's own connections itself and hands the
 * broker only what must cross to another node.
 */
export interface Broker {
  /**
   * A user's first connection on this node opened. Resolves once deliveries to that user published by other
   * nodes from now on reach this node, so that reading the user's stored queue afterwards misses nothing (or
   * once that cannot be had: the node then resyncs the user when the others are reachable again).
   */
  subscribe: (userId: string) => Promise<void>
  /** A user's last connection on this node closed. */
  unsubscribe: (userId: string) => void
  /** to every other node where `delivery.to` is connected */
  toUser: (delivery: UserDelivery) => void
  /** to every other node */
  toAll: (delivery: BroadcastDelivery) => void
  /** deliveries from other nodes for connections here */
  onDelivery: (listener: (delivery: Delivery) => void) => void
}

/** Who is online on any node. */
export interface Presence {
  /** A user's first connection on this node opened; announced online when no other node has the user. */
  join: (userId: string) => void
  /** A user's last connection on this node closed; announced offline when no other node has the user. */
  leave: (userId: string) => void
  /** users connected to any node, in no order */
  online: () => Promise<string[]>
  /** users came online or went offline, on any node (this one included) */
  onChange: (listener: (users: string[], status: PresenceStatus) => void) => void
}

/** What nodes tell each other besides deliveries. */
export interface Control {
  /** Tells the other nodes that a token was revoked, so that they close its connections. */
  revoke: (jti: string, expiresAtMs: number) => void
  /** a token was revoked on another node */
  onRevoke: (listener: (jti: string, expiresAtMs: number) => void) => void
  /**
   * Deliveries to these users (or to everyone) may have been missed on this node: a node died between storing
   * and publishing, or the nodes could not reach each other for a while. Their connections send the stored
   * queue and the receipts owed again.
   */
  onResync: (listener: (users: string[] | 'all') => void) => void
}

/** This node among the others: in-process alone, through Redis with REDIS_URL. */
export interface Cluster {
  /** this server process, fresh at each start */
  readonly nodeId: string
  readonly state: ClusterState
  readonly broker: Broker
  readonly presence: Presence
  readonly control: Control
  close: () => Promise<void>
}
