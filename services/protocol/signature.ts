// Strict Ed25519 on noble for the client SDK (browsers too). It accepts exactly the signatures that the
// server's OpenSSL verifier (services/ed25519.ts) accepts: see verifyStrict.
import { ed25519 } from '@noble/curves/ed25519.js'
import { toBase64 } from './base64.js'

const PUBLIC_KEY_LENGTH = 32
const SIGNATURE_LENGTH = 64
const SECRET_KEY_LENGTH = 32
const MAX_CACHED_KEYS = 1024
// The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian.
const ORDER_LE = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10
])

const validKeys = new Map<string, boolean>()

/**
 * An identity key is accepted when it is a canonical encoding of a curve point of prime order: not
 * small-order (RFC 8032 strict) and without a torsion component. Every key made from a seed passes; a
 * crafted mixed-order key would let cofactored and cofactorless verifiers disagree, so it is refused.
 */
export function isValidIdentityKey (raw: Uint8Array): boolean {
  if (!(raw instanceof Uint8Array) || raw.length !== PUBLIC_KEY_LENGTH) return false
  try {
    const point = ed25519.Point.fromBytes(raw, false)
    return !point.isSmallOrder() && point.isTorsionFree()
  } catch {
    return false
  }
}

/** isValidIdentityKey with a small bounded cache: the torsion check costs a full scalar multiplication. */
function isKnownValidKey (publicKey: Uint8Array): boolean {
  const id = toBase64(publicKey)
  const cached = validKeys.get(id)
  if (cached !== undefined) return cached
  const valid = isValidIdentityKey(publicKey)
  if (validKeys.size >= MAX_CACHED_KEYS) {
    const oldest = validKeys.keys().next().value
    if (oldest !== undefined) validKeys.delete(oldest)
  }
  validKeys.set(id, valid)
  return valid
}

/** S (the second half of a signature, little-endian) is canonical when S < L. */
function isCanonicalScalar (signature: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const s = signature[SIGNATURE_LENGTH / 2 + i] as number
    const l = ORDER_LE[i] as number
    if (s !== l) return s < l
  }
  return false
}

/** R is a canonical encoding of a point without a torsion component. */
function isStrictR (signature: Uint8Array): boolean {
  try {
    return ed25519.Point.fromBytes(signature.subarray(0, SIGNATURE_LENGTH / 2), false).isTorsionFree()
  } catch {
    return false
  }
}

/**
 * Strict Ed25519 verification. noble checks the cofactored equation [8]SB = [8]R + [8]kA, OpenSSL the
 * cofactorless one SB - kA == R byte for byte; they accept the same set once A (isValidIdentityKey) and R
 * are required to be canonical and free of torsion, and S < L. Returns false on any invalid input.
 */
export function verifyStrict (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_LENGTH) return false
    if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_LENGTH) return false
    if (!(message instanceof Uint8Array)) return false
    if (!isCanonicalScalar(signature) || !isKnownValidKey(publicKey)) return false
    return ed25519.verify(signature, message, publicKey, { zip215: false }) && isStrictR(signature)
  } catch {
    return false
  }
}

/** RFC 8032 Ed25519 signature with a 32-byte secret key (the seed). */
export function sign (secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== SECRET_KEY_LENGTH) {
    throw new TypeError('secret key must be 32 bytes')
  }
  return ed25519.sign(message, secretKey)
}
