import { ed25519 } from '@noble/curves/ed25519.js'
import type { TokenResponse } from '../schemas/auth.js'
import { api } from './api.js'

export interface SecretKey {
  /** the 32-byte Ed25519 seed */
  seed: Uint8Array
  /** the user id, when the key came with one (an identity file) */
  userId?: string
}

function fromBase64 (text: string): Uint8Array | undefined {
  const normal = text.replaceAll('-', '+').replaceAll('_', '/').replace(/\s+/g, '')
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(normal)) return undefined
  try {
    const raw = atob(normal.padEnd(Math.ceil(normal.length / 4) * 4, '='))
    return Uint8Array.from(raw, (c) => c.charCodeAt(0))
  } catch {
    return undefined
  }
}

function fromHex (text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16))
}

/**
 * Reads a secret key as people hold it: the base64 or hex of the 32-byte seed, the 64 bytes of
 * WS_PRIVATE_KEY (seed, then the X25519 key) or of seed + public key, or a Sealwire identity file (JSON).
 */
export function parseSecretKey (input: string): SecretKey {
  const text = input.trim()
  if (text.startsWith('{')) {
    let file: { user_id?: unknown, identity_secret_key?: unknown }
    try {
      file = JSON.parse(text) as typeof file
    } catch {
      throw new Error('the identity file is not valid JSON')
    }
    if (typeof file.identity_secret_key !== 'string') throw new Error('the identity file has no identity_secret_key')
    const { seed } = parseSecretKey(file.identity_secret_key)
    return typeof file.user_id === 'string' ? { seed, userId: file.user_id } : { seed }
  }
  const bytes = /^(?:[0-9a-fA-F]{64}|[0-9a-fA-F]{128})$/.test(text) ? fromHex(text) : fromBase64(text)
  if (bytes === undefined || (bytes.length !== 32 && bytes.length !== 64)) {
    throw new Error('the key must be the base64 or hex of a 32-byte Ed25519 seed (or of 64 bytes starting with it)')
  }
  const seed = bytes.slice(0, 32)
  bytes.fill(0)
  return { seed }
}

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)
const toBase64 = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes))

/** The challenge login of the API: ask for a challenge, sign it here, trade the signature for a token. */
export async function loginWithKey (userId: string, seed: Uint8Array): Promise<TokenResponse> {
  const { challenge } = await api<{ challenge: string }>('auth/login', { body: { user_id: userId } })
  const signature = toBase64(ed25519.sign(utf8(`sealwire/v1/login:${userId}:${challenge}`), seed))
  return await api<TokenResponse>('auth/login?verify=true', { body: { user_id: userId, challenge, signature } })
}

/** The user id inside a token, for display only (the server checks the token). */
export function tokenSubject (token: string): string | undefined {
  const payload = token.split('.')[1]
  const bytes = payload === undefined ? undefined : fromBase64(payload)
  if (bytes === undefined) return undefined
  try {
    const claims = JSON.parse(new TextDecoder().decode(bytes)) as { sub?: unknown }
    return typeof claims.sub === 'string' ? claims.sub : undefined
  } catch {
    return undefined
  }
}
