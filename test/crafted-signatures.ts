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
