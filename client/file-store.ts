import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { SealwireError } from './errors.js'
import { DEFAULT_MAX_SEEN_PER_SENDER, SeenLog, type ClientStore, type PeerRecord, type SeenRecord, type SeenState, type TrustState } from './store.js'

interface PeerJson { public_key: string, trust: TrustState, epoch: number, encryption_key: string | null }
interface StoreFileV2 {
  version: 2
  peers: Record<string, PeerJson>
  /** per sender: the floor (null when none) and [id, timestamp in ms] records */
  seen: Record<string, { floor: number | null, records: Array<[string, number]> }>
}
/** The shape written before key epochs and timestamps: pinned keys and a FIFO of `from + "\n" + id`. */
interface StoreFileV1 { pins?: Record<string, string>, seen?: string[] }

/** journal lines past which the next write folds them into the main file */
const COMPACT_AFTER = 1000

/**
 * Pins, key epochs and seen messages in a JSON file (mode 0600), durable before each promise resolves: peers
 * by an atomic rewrite, seen records by an appended and synced journal line (`<path>.journal`) that later
 * rewrites fold in. A file of the older shape (pins and a list of ids) is read and rewritten in this one.
 */
export class FileStore implements ClientStore {
  readonly #path: string
  readonly #journal: string
  readonly #peers = new Map<string, PeerRecord>()
  readonly #seen: SeenLog
  #journalLines = 0

  constructor (path: string, { maxSeenPerSender = DEFAULT_MAX_SEEN_PER_SENDER }: { maxSeenPerSender?: number } = {}) {
    this.#path = path
    this.#journal = `${path}.journal`
    this.#seen = new SeenLog(maxSeenPerSender)
    const migrated = this.#load()
    this.#replayJournal()
    if (migrated || this.#journalLines > 0) this.flush()
  }

  get path (): string {
    return this.#path
  }

  async getPeer (userId: string): Promise<PeerRecord | undefined> {
    const record = this.#peers.get(userId)
    return record === undefined ? undefined : { ...record }
  }

  async putPeer (userId: string, record: PeerRecord): Promise<void> {
    this.#peers.set(userId, { ...record })
    this.flush()
  }

  async checkSeen (from: string, id: string, timestamp: number): Promise<SeenState> {
    return this.#seen.check(from, id, timestamp)
  }

  async markSeen (record: SeenRecord): Promise<void> {
    this.#seen.add(record)
    this.#append(`${JSON.stringify({ from: record.from, id: record.id, ts: record.timestamp })}\n`)
    if (this.#journalLines >= COMPACT_AFTER) this.flush()
  }

  async pruneSeen (before: number): Promise<void> {
    this.#seen.prune(before)
    this.flush()
  }

  /** Writes everything to the main file (atomically) and empties the journal. */
  flush (): void {
    const seen: StoreFileV2['seen'] = {}
    for (const [from, s] of this.#seen.senders) seen[from] = { floor: Number.isFinite(s.floor) ? s.floor : null, records: [...s.records] }
    const peers: StoreFileV2['peers'] = {}
    for (const [id, p] of this.#peers) peers[id] = { public_key: p.publicKey, trust: p.trust, epoch: p.epoch, encryption_key: p.encryptionKey ?? null }
    const data: StoreFileV2 = { version: 2, peers, seen }
    mkdirSync(dirname(this.#path), { recursive: true, mode: 0o700 })
    const temp = `${this.#path}.tmp`
    writeFileSync(temp, JSON.stringify(data), { mode: 0o600 })
    chmodSync(temp, 0o600)
    renameSync(temp, this.#path)
    // a crash before this line replays the journal onto the new file: adding a record twice changes nothing
    writeFileSync(this.#journal, '', { mode: 0o600 })
    this.#journalLines = 0
  }

  #append (line: string): void {
    mkdirSync(dirname(this.#path), { recursive: true, mode: 0o700 })
    const fd = openSync(this.#journal, 'a', 0o600)
    try {
      writeSync(fd, line)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    this.#journalLines++
  }

  /** Reads the main file; true when it had the older shape (rewritten at once). */
  #load (): boolean {
    if (!existsSync(this.#path)) return false
    let data: unknown
    try {
      data = JSON.parse(readFileSync(this.#path, 'utf8'))
    } catch {
      throw new SealwireError('invalid_store', `${this.#path} is not a Sealwire store (not JSON)`)
    }
    if (typeof data !== 'object' || data === null) throw new SealwireError('invalid_store', `${this.#path} is not a Sealwire store`)
    if ((data as { version?: unknown }).version === 2) {
      const v2 = data as StoreFileV2
      for (const [id, p] of Object.entries(v2.peers ?? {})) {
        this.#peers.set(id, { publicKey: p.public_key, trust: p.trust === 'verified' ? 'verified' : 'unverified', epoch: p.epoch, encryptionKey: p.encryption_key ?? undefined })
      }
      for (const [from, s] of Object.entries(v2.seen ?? {})) {
        if (s.floor !== null) this.#seen.setFloor(from, s.floor)
        for (const [id, timestamp] of s.records) this.#seen.add({ from, id, timestamp })
      }
      return false
    }
    const v1 = data as StoreFileV1
    for (const [id, publicKey] of Object.entries(v1.pins ?? {})) this.#peers.set(id, { publicKey, trust: 'unverified', epoch: 0, encryptionKey: undefined })
    // the old ids have no timestamps: kept as seen now, so they last a whole replay window
    const now = Date.now()
    for (const key of v1.seen ?? []) {
      const cut = key.indexOf('\n')
      if (cut > 0) this.#seen.add({ from: key.slice(0, cut), id: key.slice(cut + 1), timestamp: now })
    }
    return true
  }

  #replayJournal (): void {
    if (!existsSync(this.#journal)) return
    for (const line of readFileSync(this.#journal, 'utf8').split('\n')) {
      if (line === '') continue
      try {
        const r = JSON.parse(line) as { from: string, id: string, ts: number }
        this.#seen.add({ from: r.from, id: r.id, timestamp: r.ts })
        this.#journalLines++
      } catch {
        // a line cut short by a crash: the message it recorded was never acknowledged, so it comes again
      }
    }
  }
}
