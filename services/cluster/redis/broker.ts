import type { BroadcastDelivery, Broker, Delivery, UserDelivery } from '../cluster.js'
import { Listeners } from '../listeners.js'
import { chunks, within, type RedisLink } from './link.js'

/** users whose deliveries were lost, remembered one by one up to this many; beyond it everyone resyncs */
const MAX_MISSED = 10_000

/**
 * Deliveries over Redis pub/sub: one channel per user (direct messages and receipts), and the channel every node
 * listens to (broadcasts). While Redis is out of reach the broker remembers whose deliveries it could not
 * publish, so that the other nodes resync those users once it is back.
 */
export class RedisBroker implements Broker {
  readonly #link: RedisLink
  readonly #listeners: Listeners<[Delivery]>
  readonly #joinTimeoutMs: number
  /** users with connections here */
  readonly #wanted = new Set<string>()
  /** users whose channel this node has subscribed to */
  #subscribed = new Set<string>()
  /** SUBSCRIBE commands not confirmed yet, by user */
  readonly #subscribing = new Map<string, Promise<void>>()
  readonly #missed = new Set<string>()
  #missedAll = false

  constructor (link: RedisLink, joinTimeoutMs: number) {
    this.#link = link
    this.#joinTimeoutMs = joinTimeoutMs
    this.#listeners = new Listeners((err) => link.log.error({ err }, 'a delivery listener failed'))
    link.handle(['direct', 'receipt', 'broadcast'], (delivery) => this.#listeners.emit(delivery))
  }

  async subscribe (userId: string): Promise<void> {
    this.#wanted.add(userId)
    await this.#link.recovering
    if (!this.#wanted.has(userId) || !this.#link.healthy) return
    if (!this.#subscribed.has(userId)) this.#subscribe(userId)
    const pending = this.#subscribing.get(userId)
    if (pending === undefined) return
    try {
      await within(pending, this.#joinTimeoutMs, 'SUBSCRIBE')
    } catch (err) {
      // the recovery subscribes again and resyncs this node's users, this one included
      this.#link.degrade(err)
    }
  }

  unsubscribe (userId: string): void {
    if (!this.#wanted.delete(userId) || !this.#link.healthy) return
    if (this.#subscribed.delete(userId)) this.#unsubscribe(userId)
  }

  toUser (delivery: UserDelivery): void {
    this.#link.publish(this.#link.userChannel(delivery.to), delivery, () => this.#miss(delivery.to))
  }

  toAll (delivery: BroadcastDelivery): void {
    // a broadcast that cannot be published is lost for the other nodes: broadcasts are not stored for replay
    this.#link.publish(this.#link.allChannel, delivery)
  }

  onDelivery (listener: (delivery: Delivery) => void): void {
    this.#listeners.add(listener)
  }

  // ---- for the cluster's recovery ------------------------------------------------------------------

  /** The channels to subscribe to again, and the users they are for. */
  channelsToRestore (): { users: string[], channels: string[] } {
    const users = [...this.#wanted]
    return { users, channels: users.map((u) => this.#link.userChannel(u)) }
  }

  restored (users: string[]): void {
    this.#subscribed = new Set(users)
  }

  /** Subscribes and unsubscribes for the users who came or went while the recovery ran. */
  reconcile (): void {
    for (const userId of this.#subscribed) {
      if (this.#wanted.has(userId)) continue
      this.#subscribed.delete(userId)
      this.#unsubscribe(userId)
    }
    for (const userId of this.#wanted) {
      if (!this.#subscribed.has(userId)) this.#subscribe(userId)
    }
  }

  /** Whose deliveries the other nodes missed, in lists for resync packets; forgotten once taken. */
  takeMissed (): Array<string[] | 'all'> {
    if (!this.#missedAll && this.#missed.size === 0) return []
    const lists: Array<string[] | 'all'> = this.#missedAll ? ['all'] : chunks([...this.#missed])
    this.#missed.clear()
    this.#missedAll = false
    return lists
  }

  /** A resync packet could not be published: its users are missed again. */
  missedAgain (users: string[] | 'all'): void {
    if (users === 'all') this.#missedAll = true
    else for (const userId of users) this.#miss(userId)
  }

  #miss (userId: string): void {
    if (this.#missedAll) return
    if (this.#missed.size >= MAX_MISSED) this.#missedAll = true
    else this.#missed.add(userId)
  }

  #subscribe (userId: string): void {
    this.#subscribed.add(userId)
    const subscribed = this.#link.subscriber.subscribe(this.#link.userChannel(userId)).then(() => {}, (err: unknown) => this.#link.degrade(err))
    this.#subscribing.set(userId, subscribed)
    void subscribed.finally(() => {
      if (this.#subscribing.get(userId) === subscribed) this.#subscribing.delete(userId)
    })
  }

  #unsubscribe (userId: string): void {
    this.#link.subscriber.unsubscribe(this.#link.userChannel(userId)).catch((err: unknown) => this.#link.degrade(err))
  }
}
