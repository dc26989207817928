import type { Control } from '../cluster.js'
import { Listeners } from '../listeners.js'
import type { RedisLink } from './link.js'

/** revocations remembered while Redis is out of reach; beyond this the table still has them (nodes read it on a resync) */
const MAX_MISSED_REVOKES = 10_000

/** Revocations and resyncs between nodes, on the channel every node listens to. */
export class RedisControl implements Control {
  readonly #link: RedisLink
  readonly #revokes: Listeners<[string, number]>
  readonly #resyncs: Listeners<[string[] | 'all']>
  /** revocations this node could not publish: the other nodes must still close those tokens' connections */
  #missedRevokes: Array<{ jti: string, expiresAtMs: number }> = []

  constructor (link: RedisLink) {
    this.#link = link
    const onError = (err: unknown): void => link.log.error({ err }, 'a control listener failed')
    this.#revokes = new Listeners(onError)
    this.#resyncs = new Listeners(onError)
    link.handle(['revoke'], ({ jti, expires_at_ms: expiresAtMs }) => this.#revokes.emit(jti, expiresAtMs))
    link.handle(['resync'], ({ users }) => this.#resyncs.emit(users))
  }

  revoke (jti: string, expiresAtMs: number): void {
    this.#link.publish(this.#link.allChannel, { kind: 'revoke', jti, expires_at_ms: expiresAtMs }, () => {
      if (this.#missedRevokes.length < MAX_MISSED_REVOKES) this.#missedRevokes.push({ jti, expiresAtMs })
    })
  }

  onRevoke (listener: (jti: string, expiresAtMs: number) => void): void {
    this.#revokes.add(listener)
  }

  onResync (listener: (users: string[] | 'all') => void): void {
    this.#resyncs.add(listener)
  }

  // ---- for the cluster -----------------------------------------------------------------------------

  /** Asks the other nodes to resync these users; `lost` runs when the request cannot be published. */
  askResync (users: string[] | 'all', lost?: () => void): void {
    this.#link.publish(this.#link.allChannel, { kind: 'resync', users }, lost)
  }

  /** This node may have missed deliveries: its own connections resync. */
  resyncHere (users: string[] | 'all'): void {
    this.#resyncs.emit(users)
  }

  /** Publishes the revocations made while Redis was out of reach. */
  flushRevokes (): void {
    const revokes = this.#missedRevokes
    this.#missedRevokes = []
    for (const { jti, expiresAtMs } of revokes) this.revoke(jti, expiresAtMs)
  }
}
