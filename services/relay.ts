import type { ClusterDelivery, Delivery, UserDelivery } from '../schemas/relay.js'

export type { ClusterDelivery, Delivery, UserDelivery } from '../schemas/relay.js'

/** `local`: one node, nothing to reach. `ok` / `degraded`: several nodes, and whether the others are reachable. */
export type RelayState = 'local' | 'ok' | 'degraded'

/**
 * What the hub needs to reach users wherever they are connected: deliver to a user, deliver to everyone, and
 * who is online. One implementation serves a single process; the Redis one spans nodes. Both hand every
 * delivery to the listeners of the node it is for (the sending node included), synchronously for this node.
 */
export interface Relay {
  /** this process, fresh at each start */
  readonly nodeId: string
  readonly state: RelayState
  /**
   * A user's first connection on this node opened. Resolves once deliveries to that user published from now
   * on reach this node, so that reading the user's stored queue afterwards misses nothing. Announces the
   * user online when no other node has it.
   */
  join: (userId: string) => Promise<void>
  /** A user's last connection on this node closed; announced offline when no other node has it either. */
  leave: (userId: string) => void
  /** to every node where `delivery.to` is connected */
  toUser: (delivery: UserDelivery) => void
  /** to every node */
  toAll: (delivery: ClusterDelivery) => void
  /** users connected to any node, in no order */
  online: () => Promise<string[]>
  onDelivery: (listener: (delivery: Delivery) => void) => void
  close: () => Promise<void>
}

/** Calls every listener; one that throws is reported and does not keep the delivery from the others. */
export class Listeners {
  readonly #listeners: Array<(delivery: Delivery) => void> = []

  constructor (private readonly onError: (err: unknown, delivery: Delivery) => void) {}

  add (listener: (delivery: Delivery) => void): void {
    this.#listeners.push(listener)
  }

  emit (delivery: Delivery): void {
    for (const listener of this.#listeners) {
      try {
        listener(delivery)
      } catch (err) {
        this.onError(err, delivery)
      }
    }
  }
}

/** One process: every delivery is for this node, and who is online is who is connected here. */
export class LocalRelay implements Relay {
  readonly state = 'local'
  readonly #users = new Set<string>()
  readonly #listeners: Listeners

  constructor (readonly nodeId: string, onListenerError: (err: unknown, delivery: Delivery) => void) {
    this.#listeners = new Listeners(onListenerError)
  }

  async join (userId: string): Promise<void> {
    this.#users.add(userId)
    this.#listeners.emit({ kind: 'presence', users: [userId], status: 'online' })
  }

  leave (userId: string): void {
    if (this.#users.delete(userId)) this.#listeners.emit({ kind: 'presence', users: [userId], status: 'offline' })
  }

  toUser (delivery: UserDelivery): void {
    this.#listeners.emit(delivery)
  }

  toAll (delivery: ClusterDelivery): void {
    this.#listeners.emit(delivery)
  }

  async online (): Promise<string[]> {
    return [...this.#users]
  }

  onDelivery (listener: (delivery: Delivery) => void): void {
    this.#listeners.add(listener)
  }

  async close (): Promise<void> {}
}
