// Signatures and keys that a strict verifier must refuse, made from real keys. Shared by the server's and
// (later) the client's verifier tests so that both are held to the same cases.
import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js'
import { sha512 } from '@noble/hashes/sha2.js'

const L = ed25519.Point.CURVE().n

function bytesToNumberLE (bytes: Uint8Array): bigint {
  let n = 0n
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) + BigInt(bytes[i] as number)
  return n
}

function numberToBytesLE (n: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) { out[i] = Number(n & 0xffn); n >>= 8n }
  return out
}

/** A valid signature with L added to S: the same equation holds, but S is not canonical. */
export function nonCanonicalS (signature: Uint8Array): Uint8Array {
  const s = bytesToNumberLE(signature.subarray(32)) + L
  const out = new Uint8Array(signature)
  out.set(numberToBytesLE(s, 32), 32)
  return out
}

/** The small-order points (the torsion subgroup), as public keys. */
export const SMALL_ORDER_KEYS: Uint8Array[] = ED25519_TORSION_SUBGROUP.map((hex) => Buffer.from(hex, 'hex'))

const TORSION_8 = ed25519.Point.fromHex(ED25519_TORSION_SUBGROUP[1] as string)

/** A public key with a torsion component: honest key + a point of order 8. */
export function mixedOrderKey (publicKey: Uint8Array): Uint8Array {
  return ed25519.Point.fromBytes(publicKey).add(TORSION_8).toBytes()
}

/**
 * A signature whose R carries a torsion component. It satisfies the cofactored equation (so a lax or
 * ZIP-215 verifier accepts it) but not the cofactorless one: strict verifiers must agree to refuse it.
 */
export function torsionR (secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  const { scalar, pointBytes } = ed25519.utils.getExtendedPublicKey(secretKey)
  const r = bytesToNumberLE(sha512(message)) % L
  const R = ed25519.Point.BASE.multiply(r).add(TORSION_8).toBytes()
  const k = bytesToNumberLE(sha512(new Uint8Array([...R, ...pointBytes, ...message]))) % L
  const S = (r + k * scalar) % L
  return new Uint8Array([...R, ...numberToBytesLE(S, 32)])
}

const IDENTITY_CANONICAL = new Uint8Array(32)
IDENTITY_CANONICAL[0] = 1

/**
 * Encodings of the identity point (0, 1): the canonical one, then three that strict decoders refuse:
 * y = p + 1 (y not reduced), and both of them with the sign bit of x set although x = 0.
 */
export const IDENTITY_ENCODINGS: { name: string, bytes: Uint8Array }[] = [
  { name: 'canonical', bytes: IDENTITY_CANONICAL },
  { name: 'y = p + 1', bytes: Uint8Array.from([0xee, ...new Array<number>(30).fill(0xff), 0x7f]) },
  { name: 'x = 0 with sign bit', bytes: Uint8Array.from([1, ...new Array<number>(30).fill(0), 0x80]) },
  { name: 'y = p + 1 with sign bit', bytes: Uint8Array.from([0xee, ...new Array<number>(30).fill(0xff), 0xff]) }
]

function challenge (R: Uint8Array, publicKey: Uint8Array, message: Uint8Array): bigint {
  return bytesToNumberLE(sha512(new Uint8Array([...R, ...publicKey, ...message]))) % L
}

/**
 * A signature with the given R bytes, whose point is known to be [r]B plus a torsion part that the caller
 * accounts for: S = r + k * a. With R an encoding of the identity (r = 0) the cofactorless equation holds
 * for the identity point, so only the byte comparison (OpenSSL) or a strict decoder (noble) tells a
 * non-canonical R apart.
 */
export function signatureWithR (secretKey: Uint8Array, message: Uint8Array, R: Uint8Array, r = 0n): Uint8Array {
  const { scalar, pointBytes } = ed25519.utils.getExtendedPublicKey(secretKey)
  const S = (r + challenge(R, pointBytes, message) * scalar) % L
  return new Uint8Array([...R, ...numberToBytesLE(S, 32)])
}

/** A signature whose R is a pure point of order 8 (S = k * a): only the cofactored equation holds. */
export function smallOrderR (secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  return signatureWithR(secretKey, message, TORSION_8.toBytes())
}

/**
 * A mixed-order public key A' = A + T8 and a signature under it that satisfies BOTH the cofactored and the
 * cofactorless equation (r is searched until k' = H(R || A' || M) is a multiple of 8, so [k']T8 vanishes).
 * Only the key check (no torsion component) refuses it.
 */
export function mixedOrderKeySignature (secretKey: Uint8Array, message: Uint8Array): { publicKey: Uint8Array, signature: Uint8Array } {
  const { scalar, pointBytes } = ed25519.utils.getExtendedPublicKey(secretKey)
  const publicKey = mixedOrderKey(pointBytes)
  for (let r = 1n; ; r++) {
    const R = ed25519.Point.BASE.multiply(r).toBytes()
    const k = challenge(R, publicKey, message)
    if (k % 8n !== 0n) continue
    const S = (r + k * scalar) % L
    return { publicKey, signature: new Uint8Array([...R, ...numberToBytesLE(S, 32)]) }
  }
}

/**
 * A signature under the identity point as public key, valid for any message under both equations
 * (R = [s]B, S = s, and [k]A vanishes): only the small-order key check refuses it.
 */
export function identityKeySignature (s = 12345n): { publicKey: Uint8Array, signature: Uint8Array } {
  const R = ed25519.Point.BASE.multiply(s).toBytes()
  return { publicKey: IDENTITY_CANONICAL, signature: new Uint8Array([...R, ...numberToBytesLE(s, 32)]) }
}

/** Non-canonical encodings y = p + t (t = 0..18) that decode to a point under ZIP-215 rules. */
export function nonCanonicalPointEncodings (): Uint8Array[] {
  const p = ed25519.Point.CURVE().p
  const out: Uint8Array[] = []
  for (let t = 0n; t < 19n; t++) {
    for (const sign of [0, 0x80]) {
      const bytes = numberToBytesLE(p + t, 32)
      bytes[31] = (bytes[31] as number) | sign
      try {
        ed25519.Point.fromBytes(bytes, true)
        out.push(bytes)
      } catch {}
    }
  }
  return out
}
