import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { Agent, fetch as undiciFetch } from 'undici'
import WebSocket from 'ws'
import type { Fetch } from './api.js'
import { SealwireClient, type ClientOptions, type WebSocketLike } from './client.js'
import { SealwireError } from './errors.js'
import { exportIdentity, importIdentity, type Identity } from './identity.js'
import type { ClientStore } from './store.js'

export * from './index.js'

export interface NodeClientOptions extends Omit<ClientOptions, 'webSocket'> {
  /** accept any server certificate (a self-signed development one): the only way to do so; never in production */
  insecureTls?: boolean
}

/** A client that uses the `ws` package (Node 20 has no global WebSocket). */
export function createNodeClient ({ insecureTls = false, ...options }: NodeClientOptions): SealwireClient {
  let fetchImpl: Fetch | undefined = options.fetch
  if (insecureTls && fetchImpl === undefined) {
    const dispatcher = new Agent({ connect: { rejectUnauthorized: false } })
    fetchImpl = async (input, init) => await (undiciFetch(input, { ...init, dispatcher } as Parameters<typeof undiciFetch>[1]) as unknown as Promise<Response>)
  }
  return new SealwireClient({
    ...options,
    fetch: fetchImpl,
    webSocket: (url) => new WebSocket(url, { perMessageDeflate: false, rejectUnauthorized: !insecureTls }) as unknown as WebSocketLike
  })
}

/** Writes an identity to a file only its owner can read (mode 0600); refuses to overwrite unless asked. */
export function writeKeyFile (path: string, identity: Identity, { overwrite = false } = {}): void {
  if (!overwrite && existsSync(path)) throw new SealwireError('exists', `${path} exists; not overwriting a key file`)
  // a folder made for key files is private too; an existing one is left as it is
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  const text = `${JSON.stringify(exportIdentity(identity), null, 2)}\n`
  if (!overwrite) {
    writeFileSync(path, text, { mode: 0o600, flag: 'wx' })
    chmodSync(path, 0o600)
    return
  }
  // a crash halfway must not leave a broken identity: write beside it, then rename over it
  const temp = `${path}.${process.pid}.tmp`
  writeFileSync(temp, text, { mode: 0o600 })
  chmodSync(temp, 0o600)
  renameSync(temp, path)
}

/** Reads a key file; refuses one that others can read, as ssh does. */
export function readKeyFile (path: string): Identity {
  const mode = statSync(path).mode & 0o777
  if ((mode & 0o077) !== 0) throw new SealwireError('key_file_permissions', `${path} is readable by others (mode ${mode.toString(8)}): chmod 600 it`)
  let json: unknown
  try {
    json = JSON.parse(readFileSync(path, 'utf8'))
  } catch {
    throw new SealwireError('invalid_identity', `${path} is not JSON`)
  }
  return importIdentity(json)
}

interface StoreFile {
  pins: Record<string, string>
  seen: string[]
}

/** Pins and seen message ids in a JSON file (mode 0600), written atomically. */
export class FileStore implements ClientStore {
  readonly #path: string
  readonly #pins: Map<string, string>
  readonly #seen: Set<string>
  readonly #maxSeen: number
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor (path: string, maxSeen = 20_000) {
    this.#path = path
    this.#maxSeen = maxSeen
    const data: StoreFile = existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) as StoreFile : { pins: {}, seen: [] }
    this.#pins = new Map(Object.entries(data.pins ?? {}))
    this.#seen = new Set(data.seen ?? [])
  }

  async getPin (userId: string): Promise<string | undefined> {
    return this.#pins.get(userId)
  }

  async setPin (userId: string, publicKey: string): Promise<void> {
    this.#pins.set(userId, publicKey)
    this.flush()
  }

  async hasSeen (key: string): Promise<boolean> {
    return this.#seen.has(key)
  }

  async markSeen (key: string): Promise<void> {
    this.#seen.add(key)
    if (this.#seen.size > this.#maxSeen) this.#seen.delete(this.#seen.values().next().value as string)
    // seen ids are many and cheap to lose a few of: write them at most every 200 ms
    this.#timer ??= setTimeout(() => this.flush(), 200)
  }

  flush (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    mkdirSync(dirname(this.#path), { recursive: true, mode: 0o700 })
    const data: StoreFile = { pins: Object.fromEntries(this.#pins), seen: [...this.#seen] }
    const temp = `${this.#path}.tmp`
    writeFileSync(temp, JSON.stringify(data), { mode: 0o600 })
    renameSync(temp, this.#path)
  }
}
