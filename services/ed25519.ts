import { createPublicKey, verify as opensslVerify, type KeyObject } from 'node:crypto'
import { fromBase64 as decodeBase64 } from './protocol/base64.js'
import { isValidIdentityKey } from './protocol/signature.js'

export { isValidIdentityKey }

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
// The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian.
const ORDER_LE = Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex')

/** S (the second half of a signature, little-endian) is canonical when S < L. */
export function isCanonicalScalar (signature: Uint8Array): boolean {
  for (let i = 63; i >= 32; i--) {
    const s = signature[i] as number
    const l = ORDER_LE[i - 32] as number
    if (s !== l) return s < l
  }
  return false
}

/**
 * Strict Ed25519 verification with OpenSSL. Keys are validated once and their KeyObject cached (creating
 * one costs about as much as a verification). OpenSSL compares R byte for byte with the encoding of
 * [S]B - [k]A, so non-canonical R and R with a torsion component fail; S >= L is refused here explicitly.
 */
export class Ed25519Verifier {
  readonly #cache = new Map<string, KeyObject>()
  readonly #maxKeys: number

  constructor (maxKeys = 100_000) {
    this.#maxKeys = maxKeys
  }

  /** The KeyObject of a base64 public key, or undefined when the key is not a valid identity key. */
  keyObject (publicKey: string): KeyObject | undefined {
    const cached = this.#cache.get(publicKey)
    if (cached !== undefined) return cached
    const raw = decodeBase64(publicKey, 32)
    if (raw === undefined || !isValidIdentityKey(raw)) return undefined
    const key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' })
    if (this.#cache.size >= this.#maxKeys) {
      const oldest = this.#cache.keys().next().value
      if (oldest !== undefined) this.#cache.delete(oldest)
    }
    this.#cache.set(publicKey, key)
    return key
  }

  /** Verifies a base64 signature over the UTF-8 bytes of `message` (or raw bytes). */
  verify (publicKey: string, message: string | Uint8Array, signature: string): boolean {
    const sig = decodeBase64(signature, 64)
    if (sig === undefined || !isCanonicalScalar(sig)) return false
    const key = this.keyObject(publicKey)
    if (key === undefined) return false
    const data = typeof message === 'string' ? Buffer.from(message, 'utf8') : message
    try {
      return opensslVerify(null, data, key, sig)
    } catch {
      return false
    }
  }

  get cachedKeys (): number {
    return this.#cache.size
  }
}
