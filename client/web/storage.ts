// What the page keeps in the browser: identities, peers (pinned keys, trust, key epochs), seen messages and the
// conversation list. IndexedDB when the browser allows it; otherwise memory for this tab only (the page says so).
import type { ClientStore, IdentityFile, PeerRecord, SeenRecord, SeenState } from '../index.js'

export interface SavedIdentity {
  user_id: string
  username: string
  file: IdentityFile
  created_at: string
  /** true once this device registered it or logged in with it; null when imported and not yet tried */
  registered: boolean | null
}

export interface ConversationRecord {
  peer: string
  last_at: number
}

/** `peers` holds `owner\npeer` → PeerValue; `seen` holds `owner\nfrom\nid` → { at: the message's signed time, ms };
 * `floors` holds `owner\nfrom` → { floor }: the newest time of a record evicted early. */
type StoreName = 'identities' | 'peers' | 'seen' | 'floors' | 'conversations' | 'settings'
const STORES: StoreName[] = ['identities', 'peers', 'seen', 'floors', 'conversations', 'settings']
/** what one local identity keeps: removing the identity removes these */
export const OWNED_STORES = ['peers', 'seen', 'floors', 'conversations'] as const
const DB_NAME = 'sealwire'
/** 1: pins and seen ids (a global FIFO); 2: peers with trust and key epochs, seen records by time, floors */
const DB_VERSION = 2
/** Per sender, the bound on seen records (as the SDK's stores); past it the oldest tenth goes and the floor rises. */
const MAX_SEEN_PER_SENDER = 100_000

interface PeerValue { public_key: string, trust: 'unverified' | 'verified', epoch: number, encryption_key: string | null }
interface SeenValue { at: number }
interface FloorValue { floor: number }

function done<T> (request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result)
    request.onerror = () => reject(request.error ?? new Error('IndexedDB request failed'))
  })
}

function committed (tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve()
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'))
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'))
  })
}

/** Keys are strings; `owner + "\n" + …` keeps each local identity's data apart. */
export class Storage {
  readonly persistent: boolean
  readonly #db: IDBDatabase | undefined
  readonly #memory = new Map<StoreName, Map<string, unknown>>(STORES.map((s) => [s, new Map()]))

  private constructor (db: IDBDatabase | undefined) {
    this.#db = db
    this.persistent = db !== undefined
  }

  static async open (): Promise<Storage> {
    try {
      if (typeof indexedDB === 'undefined') return new Storage(undefined)
      const request = indexedDB.open(DB_NAME, DB_VERSION)
      request.onupgradeneeded = () => { upgrade(request) }
      return new Storage(await done(request))
    } catch {
      return new Storage(undefined)
    }
  }

  async get<T> (store: StoreName, key: string): Promise<T | undefined> {
    if (this.#db === undefined) return this.#memory.get(store)?.get(key) as T | undefined
    return await done(this.#db.transaction(store).objectStore(store).get(key)) as T | undefined
  }

  async put (store: StoreName, key: string, value: unknown): Promise<void> {
    if (this.#db === undefined) {
      this.#memory.get(store)?.set(key, value)
      return
    }
    const tx = this.#db.transaction(store, 'readwrite')
    tx.objectStore(store).put(value, key)
    await committed(tx)
  }

  async delete (store: StoreName, key: string): Promise<void> {
    if (this.#db === undefined) {
      this.#memory.get(store)?.delete(key)
      return
    }
    const tx = this.#db.transaction(store, 'readwrite')
    tx.objectStore(store).delete(key)
    await committed(tx)
  }

  /** Every value whose key starts with `prefix` (all of them for ''). */
  async list<T> (store: StoreName, prefix = ''): Promise<T[]> {
    if (this.#db === undefined) {
      return [...(this.#memory.get(store) ?? new Map<string, unknown>())].filter(([k]) => k.startsWith(prefix)).map(([, v]) => v as T)
    }
    const range = prefix === '' ? undefined : IDBKeyRange.bound(prefix, `${prefix}\uffff`)
    return await done(this.#db.transaction(store).objectStore(store).getAll(range)) as T[]
  }

  /** Drops every value whose key starts with `prefix`. */
  async deletePrefix (store: StoreName, prefix: string): Promise<void> {
    if (this.#db === undefined) {
      const map = this.#memory.get(store)
      for (const key of [...(map?.keys() ?? [])]) if (key.startsWith(prefix)) map?.delete(key)
      return
    }
    const tx = this.#db.transaction(store, 'readwrite')
    tx.objectStore(store).delete(IDBKeyRange.bound(prefix, `${prefix}\uffff`))
    await committed(tx)
  }

  /** How many keys start with `prefix`. */
  async count (store: StoreName, prefix: string): Promise<number> {
    if (this.#db === undefined) return [...(this.#memory.get(store)?.keys() ?? [])].filter((k) => k.startsWith(prefix)).length
    return await done(this.#db.transaction(store).objectStore(store).count(IDBKeyRange.bound(prefix, `${prefix}\uffff`)))
  }

  /** Every key and value whose key starts with `prefix`. */
  async entries<T> (store: StoreName, prefix: string): Promise<Array<[string, T]>> {
    if (this.#db === undefined) {
      return [...(this.#memory.get(store) ?? new Map<string, unknown>())].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k, v as T])
    }
    const range = IDBKeyRange.bound(prefix, `${prefix}\uffff`)
    const os = this.#db.transaction(store).objectStore(store)
    const [keys, values] = await Promise.all([done(os.getAllKeys(range)), done(os.getAll(range))])
    return keys.map((k, i) => [String(k), values[i] as T])
  }

  /** Drops these keys in one transaction. */
  async deleteKeys (store: StoreName, keys: readonly string[]): Promise<void> {
    if (this.#db === undefined) {
      for (const key of keys) this.#memory.get(store)?.delete(key)
      return
    }
    const tx = this.#db.transaction(store, 'readwrite')
    for (const key of keys) tx.objectStore(store).delete(key)
    await committed(tx)
  }

  /** Drops the values under `prefix` whose `field` (a number; `seen` has it indexed as `at`) is below `before`. */
  async deleteOlder (store: 'seen' | 'floors', prefix: string, field: 'at' | 'floor', before: number): Promise<void> {
    if (this.#db === undefined) {
      const map = this.#memory.get(store)
      for (const [key, value] of [...(map ?? [])]) if (key.startsWith(prefix) && ((value as Partial<Record<string, number>>)[field] ?? Infinity) < before) map?.delete(key)
      return
    }
    const tx = this.#db.transaction(store, 'readwrite')
    const os = tx.objectStore(store)
    const cursor = store === 'seen' ? os.index('at').openCursor(IDBKeyRange.upperBound(before, true)) : os.openCursor(IDBKeyRange.bound(prefix, `${prefix}\uffff`))
    cursor.onsuccess = () => {
      const c = cursor.result
      if (c === null) return
      if (String(c.primaryKey).startsWith(prefix) && ((c.value as Partial<Record<string, number>>)[field] ?? Infinity) < before) c.delete()
      c.continue()
    }
    await committed(tx)
  }
}

/**
 * Creates what is missing; from version 1, each pinned key becomes an `unverified` peer at epoch 0 and each seen
 * id keeps the time it was seen as its time (it lasts a whole replay window from then).
 */
function upgrade (request: IDBOpenDBRequest): void {
  const db = request.result
  const tx = request.transaction
  for (const name of STORES) {
    if (db.objectStoreNames.contains(name)) continue
    const store = db.createObjectStore(name)
    if (name === 'seen') store.createIndex('at', 'at')
  }
  if (tx === null || !db.objectStoreNames.contains('pins')) return
  const peers = tx.objectStore('peers')
  const cursor = tx.objectStore('pins').openCursor()
  cursor.onsuccess = () => {
    const c = cursor.result
    if (c === null) {
      db.deleteObjectStore('pins')
      return
    }
    const pin = c.value as { public_key: string }
    const peer: PeerValue = { public_key: pin.public_key, trust: 'unverified', epoch: 0, encryption_key: null }
    peers.put(peer, c.primaryKey)
    c.continue()
  }
}

/**
 * The SDK's ClientStore on this storage, for one local identity: pins, trust states, key epochs and seen messages
 * survive reloads. Seen records go by age (`pruneSeen`), never by a global bound; a sender past its bound on
 * records has its oldest tenth evicted and its floor raised to them, as the SDK's FileStore does.
 */
export class BrowserClientStore implements ClientStore {
  readonly #storage: Storage
  readonly #owner: string
  readonly #maxPerSender: number

  constructor (storage: Storage, owner: string, { maxSeenPerSender = MAX_SEEN_PER_SENDER }: { maxSeenPerSender?: number } = {}) {
    this.#storage = storage
    this.#owner = owner
    this.#maxPerSender = Math.max(1, maxSeenPerSender)
  }

  async getPeer (userId: string): Promise<PeerRecord | undefined> {
    const p = await this.#storage.get<PeerValue>('peers', `${this.#owner}\n${userId}`)
    if (p === undefined) return undefined
    return { publicKey: p.public_key, trust: p.trust === 'verified' ? 'verified' : 'unverified', epoch: p.epoch, encryptionKey: p.encryption_key ?? undefined }
  }

  async putPeer (userId: string, record: PeerRecord): Promise<void> {
    const value: PeerValue = { public_key: record.publicKey, trust: record.trust, epoch: record.epoch, encryption_key: record.encryptionKey ?? null }
    await this.#storage.put('peers', `${this.#owner}\n${userId}`, value)
  }

  async checkSeen (from: string, id: string, timestamp: number): Promise<SeenState> {
    if (await this.#storage.get<SeenValue>('seen', `${this.#owner}\n${from}\n${id}`) !== undefined) return 'seen'
    const floor = await this.#storage.get<FloorValue>('floors', `${this.#owner}\n${from}`)
    return floor !== undefined && timestamp <= floor.floor ? 'stale' : 'new'
  }

  async markSeen ({ from, id, timestamp }: SeenRecord): Promise<void> {
    const prefix = `${this.#owner}\n${from}\n`
    await this.#storage.put('seen', `${prefix}${id}`, { at: timestamp } satisfies SeenValue)
    if (await this.#storage.count('seen', prefix) <= this.#maxPerSender) return
    // evict a tenth at once, so a sender at its bound does not cost a sort per message
    const sorted = (await this.#storage.entries<SeenValue>('seen', prefix)).sort((a, b) => a[1].at - b[1].at)
    const evicted = sorted.slice(0, Math.max(1, Math.floor(this.#maxPerSender / 10)))
    const floorKey = `${this.#owner}\n${from}`
    const before = (await this.#storage.get<FloorValue>('floors', floorKey))?.floor ?? -Infinity
    const floor = Math.max(before, ...evicted.map(([, v]) => v.at))
    // the floor lands before the records go: a crash in between leaves extra records, never a hole
    await this.#storage.put('floors', floorKey, { floor } satisfies FloorValue)
    await this.#storage.deleteKeys('seen', evicted.map(([k]) => k))
  }

  /** Records and floors older than `before` go: the client refuses such messages by their time stamp anyway. */
  async pruneSeen (before: number): Promise<void> {
    await this.#storage.deleteOlder('seen', `${this.#owner}\n`, 'at', before)
    await this.#storage.deleteOlder('floors', `${this.#owner}\n`, 'floor', before)
  }
}
