// Where the terminal client finds its identity: a key file in SEALWIRE_HOME (or given), or the environment.
import { chmodSync, mkdirSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { ed25519 } from '@noble/curves/ed25519.js'
import { fromBase64, toBase64 } from '../services/protocol/base64.js'
import { FileStore, generateIdentity, readKeyFile, SealwireError, type ClientStore, type Identity } from './node.js'

const warn = (line: string): void => { process.stderr.write(`${line}\n`) }

/** SEALWIRE_HOME holds private keys: created with mode 700, and tightened to 700 when it lets others in. */
export function privateHome (): string {
  const dir = process.env.SEALWIRE_HOME ?? join(homedir(), '.sealwire')
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const { mode, uid } = statSync(dir)
  if ((mode & 0o077) === 0) return dir
  const was = (mode & 0o7777).toString(8)
  // never a shared folder (sticky, as /tmp is) nor another user's
  if ((mode & 0o1000) === 0 && uid === process.getuid?.()) {
    chmodSync(dir, 0o700)
    warn(`sealwire: ${dir} was open to others (mode ${was}); it holds private keys, so it is now mode 700`)
  } else {
    warn(`warning: ${dir} is open to others (mode ${was}) and holds private keys: chmod 700 it`)
  }
  return dir
}

/** WS_PRIVATE_KEY: 64 bytes (Ed25519 seed ‖ X25519 secret), or 32 (the X25519 key is then derived). */
export function identityFromEnv (userId: string, username: string, privateKey: string): Identity {
  const bytes = fromBase64(privateKey.trim())
  if (bytes === undefined || (bytes.length !== 64 && bytes.length !== 32)) {
    throw new SealwireError('invalid_private_key', 'WS_PRIVATE_KEY must be base64 of 64 bytes (or of a 32-byte Ed25519 seed)')
  }
  const identitySecretKey = bytes.slice(0, 32)
  const encryptionSecretKey = bytes.length === 64 ? bytes.slice(32) : ed25519.utils.toMontgomerySecret(identitySecretKey)
  const probe = generateIdentity(userId, username)
  return { ...probe, identitySecretKey, encryptionSecretKey }
}

export function privateKeyForEnv (identity: Identity): string {
  return toBase64(new Uint8Array([...identity.identitySecretKey, ...identity.encryptionSecretKey]))
}

export interface IdentityOptions {
  key: string | undefined
  user: string | undefined
  name: string | undefined
}

/** The identity from WS_PRIVATE_KEY, else from --key or SEALWIRE_HOME/<user>.json, with the store beside it. */
export function loadIdentity (o: IdentityOptions): { identity: Identity, store: ClientStore, keyFile: string | undefined } {
  const envKey = process.env.WS_PRIVATE_KEY
  if (o.key === undefined && envKey !== undefined && envKey !== '') {
    const userId = o.user ?? process.env.WS_USER_ID
    if (userId === undefined) throw new SealwireError('usage', 'WS_PRIVATE_KEY needs WS_USER_ID (or --user)')
    const identity = identityFromEnv(userId, o.name ?? process.env.WS_USERNAME ?? userId, envKey)
    return { identity, store: new FileStore(join(privateHome(), `${userId}.store.json`)), keyFile: undefined }
  }
  const user = o.user ?? process.env.WS_USER_ID
  const path = o.key ?? (user === undefined ? undefined : join(privateHome(), `${user}.json`))
  if (path === undefined) throw new SealwireError('usage', 'which identity? give --key <file>, --user <id>, or WS_USER_ID and WS_PRIVATE_KEY')
  const identity = readKeyFile(path)
  return { identity, store: new FileStore(path.replace(/\.json$/, '') + '.store.json'), keyFile: path }
}
