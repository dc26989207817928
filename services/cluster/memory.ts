import type { PresenceStatus } from '../../schemas/frames.js'
import type { BroadcastDelivery, Broker, Cluster, Control, Delivery, Presence, UserDelivery } from './cluster.js'
import { Listeners } from './listeners.js'

/**
 * Nodes in one process. A node made without a bus of its own is alone (the single server `npm start` runs);
 * nodes made on one shared bus reach each other as nodes on one Redis do, which lets the same tests run
 * against both implementations.
 */
export class MemoryBus {
  readonly nodes = new Map<string, MemoryCluster>()
  /** user → the nodes where the user has connections */
  readonly where = new Map<string, Set<string>>()

  others (nodeId: string): MemoryCluster[] {
    return [...this.nodes.values()].filter((node) => node.nodeId !== nodeId)
  }
}

class MemoryBroker implements Broker {
  readonly subscribed = new Set<string>()
  readonly listeners: Listeners<[Delivery]>

  constructor (private readonly node: MemoryCluster, onError: (err: unknown) => void) {
    this.listeners = new Listeners(onError)
  }

  async subscribe (userId: string): Promise<void> {
    this.subscribed.add(userId)
  }

  unsubscribe (userId: string): void {
    this.subscribed.delete(userId)
  }

  toUser (delivery: UserDelivery): void {
    for (const other of this.node.bus.others(this.node.nodeId)) {
      if (other.broker.subscribed.has(delivery.to)) other.broker.listeners.emit(delivery)
    }
  }

  toAll (delivery: BroadcastDelivery): void {
    for (const other of this.node.bus.others(this.node.nodeId)) other.broker.listeners.emit(delivery)
  }

  onDelivery (listener: (delivery: Delivery) => void): void {
    this.listeners.add(listener)
  }
}

class MemoryPresence implements Presence {
  readonly listeners: Listeners<[string[], PresenceStatus]>

  constructor (private readonly node: MemoryCluster, onError: (err: unknown) => void) {
    this.listeners = new Listeners(onError)
  }

  join (userId: string): void {
    const { where } = this.node.bus
    let nodes = where.get(userId)
    if (nodes === undefined) {
      nodes = new Set()
      where.set(userId, nodes)
    }
    const first = nodes.size === 0
    nodes.add(this.node.nodeId)
    if (first) this.#announce(userId, 'online')
  }

  leave (userId: string): void {
    const { where } = this.node.bus
    const nodes = where.get(userId)
    if (nodes === undefined || !nodes.delete(this.node.nodeId)) return
    if (nodes.size > 0) return
    where.delete(userId)
    this.#announce(userId, 'offline')
  }

  async online (): Promise<string[]> {
    return [...this.node.bus.where.keys()]
  }

  onChange (listener: (users: string[], status: PresenceStatus) => void): void {
    this.listeners.add(listener)
  }

  #announce (userId: string, status: PresenceStatus): void {
    for (const node of this.node.bus.nodes.values()) node.presence.listeners.emit([userId], status)
  }
}

class MemoryControl implements Control {
  readonly revokes: Listeners<[string, number]>
  readonly resyncs: Listeners<[string[] | 'all']>

  constructor (private readonly node: MemoryCluster, onError: (err: unknown) => void) {
    this.revokes = new Listeners(onError)
    this.resyncs = new Listeners(onError)
  }

  revoke (jti: string, expiresAtMs: number): void {
    for (const other of this.node.bus.others(this.node.nodeId)) other.control.revokes.emit(jti, expiresAtMs)
  }

  onRevoke (listener: (jti: string, expiresAtMs: number) => void): void {
    this.revokes.add(listener)
  }

  onResync (listener: (users: string[] | 'all') => void): void {
    this.resyncs.add(listener)
  }
}

/** A node whose cluster lives in this process: every call is answered at once, nothing is ever lost. */
export class MemoryCluster implements Cluster {
  readonly state = 'local'
  readonly broker: MemoryBroker
  readonly presence: MemoryPresence
  readonly control: MemoryControl

  constructor (readonly nodeId: string, readonly bus = new MemoryBus(), onListenerError: (err: unknown) => void = () => {}) {
    this.broker = new MemoryBroker(this, onListenerError)
    this.presence = new MemoryPresence(this, onListenerError)
    this.control = new MemoryControl(this, onListenerError)
    bus.nodes.set(nodeId, this)
  }

  async close (): Promise<void> {
    for (const [userId, nodes] of this.bus.where) {
      if (nodes.has(this.nodeId)) this.presence.leave(userId)
    }
    this.bus.nodes.delete(this.nodeId)
  }
}
