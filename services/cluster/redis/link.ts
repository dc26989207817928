import { createHmac, timingSafeEqual } from 'node:crypto'
import type { Redis } from 'ioredis'
import { Compile } from 'typebox/compile'
import { ClusterPacket, type ClusterMessage } from '../../../schemas/cluster.js'
import type { ServiceLog } from '../../log.js'

// A packet on a channel is `<HMAC-SHA256 of the JSON, base64url>.<JSON>`, keyed by a secret every node shares:
// whoever else can publish on that Redis cannot hand frames to users' sockets or close their connections.

const packetValidator = Compile(ClusterPacket)
/** base64url of an HMAC-SHA256, then the dot */
const MAC_LENGTH = 43
/** channels or set members per command */
export const CHUNK = 1000

export function chunks<T> (items: T[]): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK))
  return out
}

export async function within<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer from Redis within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export interface RedisLinkOptions {
  /** commands and PUBLISH; created with enableOfflineQueue: false so that nothing waits on a lost server */
  command: Redis
  /** SUBSCRIBE only */
  subscriber: Redis
  /** signs and checks every packet; the same on every node (derived from JWT_SECRET) */
  packetKey: Uint8Array
  prefix: string
  nodeId: string
  log: ServiceLog
}

/**
 * This node's two connections to Redis, the packets it signs and checks, and whether Redis is reachable. The
 * broker, presence and control parts share it; the cluster decides what to do when Redis comes and goes.
 */
export class RedisLink {
  readonly command: Redis
  readonly subscriber: Redis
  readonly prefix: string
  readonly nodeId: string
  readonly log: ServiceLog
  /** the channel every node listens to (presence, control, broadcasts) */
  readonly allChannel: string
  /** counts lost connections, so that a registration during which one dropped is not taken for done */
  generation = 0
  /** set while the cluster registers this node again; callers wait for it before they act */
  recovering: Promise<void> | undefined
  closed = false
  #healthy = false
  readonly #key: Uint8Array
  /** how this node's own packets' JSON begins (JSON.stringify keeps the key order of `packet`) */
  readonly #echo: string
  readonly #handlers = new Map<ClusterMessage['kind'], (message: ClusterMessage) => void>()

  constructor (o: RedisLinkOptions) {
    this.command = o.command
    this.subscriber = o.subscriber
    this.prefix = o.prefix
    this.nodeId = o.nodeId
    this.log = o.log
    this.allChannel = `${o.prefix}all`
    this.#key = o.packetKey
    this.#echo = `{"node":${JSON.stringify(o.nodeId)},`
    o.subscriber.on('message', (_channel: string, text: string) => this.#receive(text))
  }

  get healthy (): boolean {
    return this.#healthy
  }

  markHealthy (): void {
    this.#healthy = true
  }

  userChannel (userId: string): string {
    return `${this.prefix}user:${userId}`
  }

  /** Packets of these kinds from other nodes go to `handler`. */
  handle<K extends ClusterMessage['kind']> (kinds: K[], handler: (message: Extract<ClusterMessage, { kind: K }>) => void): void {
    for (const kind of kinds) this.#handlers.set(kind, handler as (message: ClusterMessage) => void)
  }

  /**
   * Publishes to the other nodes. `lost` runs when Redis does not take the packet: at once while Redis is out
   * of reach, so that what it records is there before any recovery reads it.
   */
  publish (channel: string, message: ClusterMessage, lost: () => void = () => {}): void {
    if (!this.#healthy) {
      lost()
      return
    }
    this.command.publish(channel, this.#packet(message)).then(() => {}, (err: unknown) => {
      lost()
      this.degrade(err)
    })
  }

  degrade (err: unknown): void {
    if (!this.#healthy || this.closed) return
    this.#healthy = false
    this.log.warn({ err }, 'Redis is out of reach: this node serves its own users alone until it is back')
  }

  /** Stops counting Redis as reachable, for good: the node is closing. True when it was reachable. */
  release (): boolean {
    const was = this.#healthy
    this.#healthy = false
    return was
  }

  #packet (message: ClusterMessage): string {
    const packet: ClusterPacket = { node: this.nodeId, delivery: message }
    const json = JSON.stringify(packet)
    return `${this.#mac(json)}.${json}`
  }

  #mac (json: string): string {
    return createHmac('sha256', this.#key).update(json).digest('base64url')
  }

  #receive (text: string): void {
    // this node's own packets come back on the channels it listens to; it acted on them already
    if (text.startsWith(this.#echo, MAC_LENGTH + 1)) return
    const json = text.slice(MAC_LENGTH + 1)
    const mac = Buffer.from(text.slice(0, MAC_LENGTH))
    const expected = Buffer.from(this.#mac(json))
    if (text[MAC_LENGTH] !== '.' || mac.length !== expected.length || !timingSafeEqual(mac, expected)) {
      this.log.warn({}, 'a cluster packet without a valid signature was ignored (another JWT_SECRET, or not from a node)')
      return
    }
    let packet: unknown
    try {
      packet = JSON.parse(json)
    } catch {
      this.log.warn({}, 'a cluster packet that is not JSON was ignored')
      return
    }
    if (!packetValidator.Check(packet)) {
      this.log.warn({}, 'a cluster packet of an unknown shape was ignored')
      return
    }
    if (packet.node === this.nodeId) return
    this.#handlers.get(packet.delivery.kind)?.(packet.delivery)
  }
}
