// What the page keeps in the browser: identities, pinned keys, seen message ids and the conversation list.
// IndexedDB when the browser allows it; otherwise memory for this tab only (the page says so).
import type { ClientStore, IdentityFile } from '../index.js'

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

type StoreName = 'identities' | 'pins' | 'seen' | 'conversations' | 'settings'
const STORES: StoreName[] = ['identities', 'pins', 'seen', 'conversations', 'settings']
const DB_NAME = 'sealwire'
const MAX_SEEN = 20_000

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
      const request = indexedDB.open(DB_NAME, 1)
      request.onupgradeneeded = () => {
        const db = request.result
        for (const name of STORES) {
          if (db.objectStoreNames.contains(name)) continue
          const store = db.createObjectStore(name)
          if (name === 'seen') store.createIndex('at', 'at')
        }
      }
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

  /** Keeps the newest `max` seen ids (of all identities): enough for replays, bounded in size. */
  async pruneSeen (max = MAX_SEEN): Promise<void> {
    if (this.#db === undefined) return
    const tx = this.#db.transaction('seen', 'readwrite')
    const store = tx.objectStore('seen')
    const excess = await done(store.count()) - max
    if (excess > 0) {
      let left = excess
      const cursor = store.index('at').openCursor()
      cursor.onsuccess = () => {
        const c = cursor.result
        if (c === null || left <= 0) return
        c.delete()
        left--
        c.continue()
      }
    }
    await committed(tx)
  }
}

/** The SDK's ClientStore on this storage, for one local identity: trust on first use survives reloads. */
export class BrowserClientStore implements ClientStore {
  readonly #storage: Storage
  readonly #owner: string

  constructor (storage: Storage, owner: string) {
    this.#storage = storage
    this.#owner = owner
  }

  async getPin (userId: string): Promise<string | undefined> {
    return (await this.#storage.get<{ public_key: string }>('pins', `${this.#owner}\n${userId}`))?.public_key
  }

  async setPin (userId: string, publicKey: string): Promise<void> {
    await this.#storage.put('pins', `${this.#owner}\n${userId}`, { public_key: publicKey, pinned_at: new Date().toISOString() })
  }

  async hasSeen (key: string): Promise<boolean> {
    return (await this.#storage.get('seen', `${this.#owner}\n${key}`)) !== undefined
  }

  async markSeen (key: string): Promise<void> {
    await this.#storage.put('seen', `${this.#owner}\n${key}`, { at: Date.now() })
  }
}
