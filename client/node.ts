import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { Agent, fetch as undiciFetch } from 'undici'
import WebSocket from 'ws'
import type { Fetch } from './api.js'
import { SealwireClient, type ClientOptions, type WebSocketLike } from './client.js'
import { SealwireError } from './errors.js'
import { exportIdentity, importIdentity, type Identity } from './identity.js'
import { FileStore } from './file-store.js'

export * from './index.js'
export { FileStore } from './file-store.js'

export interface NodeClientOptions extends Omit<ClientOptions, 'webSocket'> {
  /** accept any server certificate (a self-signed development one): the only way to do so; never in production */
  insecureTls?: boolean
  /** where the default store lives (default SEALWIRE_HOME, else ~/.sealwire); unused when `store` is given */
  home?: string
}

/**
 * The default store of a Node client: a FileStore in `home`, one file per user and server (pins belong to a
 * server's users: `bob` on one server is not `bob` on another).
 */
export function defaultStorePath (home: string, userId: string, serverUrl: string): string {
  const server = serverUrl.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '').replace(/[^A-Za-z0-9.-]+/g, '_')
  return join(home, 'stores', `${userId}@${server}.json`)
}

/** A client that uses the `ws` package (Node 20 has no global WebSocket), with a durable store by default. */
export function createNodeClient ({ insecureTls = false, home, ...options }: NodeClientOptions): SealwireClient {
  const store = options.store ?? new FileStore(defaultStorePath(home ?? process.env.SEALWIRE_HOME ?? join(homedir(), '.sealwire'), options.identity.userId, options.serverUrl))
  let fetchImpl: Fetch | undefined = options.fetch
  if (insecureTls && fetchImpl === undefined) {
    const dispatcher = new Agent({ connect: { rejectUnauthorized: false } })
    fetchImpl = async (input, init) => await (undiciFetch(input, { ...init, dispatcher } as Parameters<typeof undiciFetch>[1]) as unknown as Promise<Response>)
  }
  return new SealwireClient({
    ...options,
    store,
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
