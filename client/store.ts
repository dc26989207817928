/**
 * What a client remembers between sessions: the identity key pinned for each peer (trust on first use)
 * and the ids of messages already handed to the application (replay protection).
 */
export interface ClientStore {
  getPin: (userId: string) => Promise<string | undefined>
  setPin: (userId: string, publicKey: string) => Promise<void>
  /** whether a message (by `sender + "\n" + id`) was already handed to the application */
  hasSeen: (key: string) => Promise<boolean>
  markSeen: (key: string) => Promise<void>
}

/** Keeps everything in memory; `maxSeen` bounds the replay window. */
export class MemoryStore implements ClientStore {
  readonly pins = new Map<string, string>()
  readonly seen = new Set<string>()
  readonly #maxSeen: number

  constructor (maxSeen = 50_000) {
    this.#maxSeen = maxSeen
  }

  async getPin (userId: string): Promise<string | undefined> {
    return this.pins.get(userId)
  }

  async setPin (userId: string, publicKey: string): Promise<void> {
    this.pins.set(userId, publicKey)
  }

  async hasSeen (key: string): Promise<boolean> {
    return this.seen.has(key)
  }

  async markSeen (key: string): Promise<void> {
    this.seen.add(key)
    if (this.seen.size > this.#maxSeen) this.seen.delete(this.seen.values().next().value as string)
  }
}
