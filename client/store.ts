/** `unverified`: pinned on first use; `verified`: the user compared safety numbers and said so. */
export type TrustState = 'unverified' | 'verified'

/** What a client keeps per peer: the pinned identity key, how far it is trusted, and its key-epoch record. */
export interface PeerRecord {
  /** the peer's Ed25519 identity key (base64) */
  publicKey: string
  trust: TrustState
  /** the highest X25519 key epoch seen for this peer with a binding that verified (0 for keys bound the v1 way) */
  epoch: number
  /** the X25519 key seen at `epoch`; undefined until a key of this peer was first used */
  encryptionKey: string | undefined
}

/** A message handed to the application: `timestamp` is its signed header.timestamp, in ms. */
export interface SeenRecord {
  from: string
  id: string
  timestamp: number
}

/** `seen`: handed over before; `stale`: at or below the sender's floor, so it can no longer be told apart from a replay. */
export type SeenState = 'new' | 'seen' | 'stale'

/**
 * What a client remembers between sessions. It must be durable for the guarantees to hold after a restart
 * (FileStore in Node, IndexedDB in browsers); every write has landed when its promise resolves.
 */
export interface ClientStore {
  getPeer: (userId: string) => Promise<PeerRecord | undefined>
  putPeer: (userId: string, record: PeerRecord) => Promise<void>
  /** whether a message was handed over before, or is at or below its sender's floor */
  checkSeen: (from: string, id: string, timestamp: number) => Promise<SeenState>
  /** records a message; a sender past its bound on records has its oldest evicted and its floor raised to them */
  markSeen: (record: SeenRecord) => Promise<void>
  /** forgets records older than `before` (ms): the client refuses such messages by their timestamp anyway */
  pruneSeen: (before: number) => Promise<void>
}

/** Per sender, the bound on seen records; past it the oldest tenth is evicted and the floor raised. */
export const DEFAULT_MAX_SEEN_PER_SENDER = 100_000

/** Seen records kept per sender with the sender's floor: the logic both built-in stores share. */
export class SeenLog {
  readonly senders = new Map<string, { floor: number, records: Map<string, number> }>()
  readonly #maxPerSender: number

  constructor (maxPerSender = DEFAULT_MAX_SEEN_PER_SENDER) {
    this.#maxPerSender = Math.max(1, maxPerSender)
  }

  check (from: string, id: string, timestamp: number): SeenState {
    const sender = this.senders.get(from)
    if (sender === undefined) return 'new'
    if (sender.records.has(id)) return 'seen'
    return timestamp <= sender.floor ? 'stale' : 'new'
  }

  /** Adds a record; returns the floor when it was raised. */
  add ({ from, id, timestamp }: SeenRecord): number | undefined {
    let sender = this.senders.get(from)
    if (sender === undefined) {
      sender = { floor: -Infinity, records: new Map() }
      this.senders.set(from, sender)
    }
    sender.records.set(id, timestamp)
    if (sender.records.size <= this.#maxPerSender) return undefined
    // evict a tenth at once, so a sender at its bound does not cost a sort per message
    const sorted = [...sender.records].sort((a, b) => a[1] - b[1])
    const evicted = sorted.slice(0, Math.max(1, Math.floor(this.#maxPerSender / 10)))
    for (const [evictedId, ts] of evicted) {
      sender.records.delete(evictedId)
      sender.floor = Math.max(sender.floor, ts)
    }
    return sender.floor
  }

  /** Records pruned by age leave no floor: their timestamps are outside the window already. */
  prune (before: number): void {
    for (const [from, sender] of this.senders) {
      for (const [id, ts] of sender.records) if (ts < before) sender.records.delete(id)
      if (sender.records.size === 0 && sender.floor < before) this.senders.delete(from)
    }
  }

  setFloor (from: string, floor: number): void {
    const sender = this.senders.get(from)
    if (sender === undefined) this.senders.set(from, { floor, records: new Map() })
    else sender.floor = Math.max(sender.floor, floor)
  }
}

/**
 * Keeps everything in memory: for tests and short-lived scripts only. It forgets pins, key epochs and seen
 * messages when the process ends, so a server can replay old messages to a new process and roll keys back.
 */
export class MemoryStore implements ClientStore {
  readonly peers = new Map<string, PeerRecord>()
  readonly seen: SeenLog

  constructor (maxSeenPerSender = DEFAULT_MAX_SEEN_PER_SENDER) {
    this.seen = new SeenLog(maxSeenPerSender)
  }

  async getPeer (userId: string): Promise<PeerRecord | undefined> {
    const record = this.peers.get(userId)
    return record === undefined ? undefined : { ...record }
  }

  async putPeer (userId: string, record: PeerRecord): Promise<void> {
    this.peers.set(userId, { ...record })
  }

  async checkSeen (from: string, id: string, timestamp: number): Promise<SeenState> {
    return this.seen.check(from, id, timestamp)
  }

  async markSeen (record: SeenRecord): Promise<void> {
    this.seen.add(record)
  }

  async pruneSeen (before: number): Promise<void> {
    this.seen.prune(before)
  }
}
