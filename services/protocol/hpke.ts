// RFC 9180 HPKE, mode_base only: KEM 0x0020 DHKEM(X25519, HKDF-SHA256), KDF 0x0001 HKDF-SHA256,
// AEAD 0x0001 AES-128-GCM or 0x0002 AES-256-GCM. Runs in Node and browsers (noble only).
import { x25519 } from '@noble/curves/ed25519.js'
import { gcm } from '@noble/ciphers/aes.js'
import { expand, extract } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { concatBytes, randomBytes } from '@noble/hashes/utils.js'

export type AeadId = 1 | 2

export class HpkeError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'HpkeError'
  }
}

export interface KeyPair { secretKey: Uint8Array, publicKey: Uint8Array }

export interface SenderContext {
  seal (aad: Uint8Array, pt: Uint8Array): Uint8Array
  export (exporterContext: Uint8Array, length: number): Uint8Array
}

export interface RecipientContext {
  open (aad: Uint8Array, ct: Uint8Array): Uint8Array
  export (exporterContext: Uint8Array, length: number): Uint8Array
}

const KEM_ID = 0x0020
const KDF_ID = 0x0001
const N_SECRET = 32 // Nsecret = Nh = Npk = Nsk = Nenc for DHKEM(X25519, HKDF-SHA256)
const N_NONCE = 12
const KEY_LENGTH: Record<AeadId, number> = { 1: 16, 2: 32 }
const MAX_EXPORT = 255 * N_SECRET
// RFC 9180 allows 2^96 - 1 messages per context; a JavaScript counter stops earlier, still far out of reach
const MAX_SEQ = Number.MAX_SAFE_INTEGER
// Every failure on the recipient side gives this one message: no oracle on which step failed.
const OPEN_FAILED = 'hpke: cannot open'

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0))
const HPKE_V1 = ascii('HPKE-v1')
const EMPTY = new Uint8Array(0)

function i2osp (value: number, length: number): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = length - 1; i >= 0 && value > 0; i--) {
    out[i] = value % 256
    value = Math.floor(value / 256)
  }
  return out
}

const KEM_SUITE_ID = concatBytes(ascii('KEM'), i2osp(KEM_ID, 2))

function hpkeSuiteId (aeadId: AeadId): Uint8Array {
  return concatBytes(ascii('HPKE'), i2osp(KEM_ID, 2), i2osp(KDF_ID, 2), i2osp(aeadId, 2))
}

function labeledExtract (suiteId: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array): Uint8Array {
  return extract(sha256, concatBytes(HPKE_V1, suiteId, ascii(label), ikm), salt)
}

function labeledExpand (suiteId: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, length: number): Uint8Array {
  const labeledInfo = concatBytes(i2osp(length, 2), HPKE_V1, suiteId, ascii(label), info)
  return expand(sha256, prk, labeledInfo, length)
}

function isBytes (value: unknown, length?: number): value is Uint8Array {
  return value instanceof Uint8Array && (length === undefined || value.length === length)
}

function aeadIdOf (opts: { aeadId?: AeadId } | undefined): AeadId {
  const aeadId = opts?.aeadId ?? 2
  if (aeadId !== 1 && aeadId !== 2) throw new HpkeError('hpke: unsupported AEAD id')
  return aeadId
}

/** X25519 that refuses low-order peers (noble refuses them before the ladder; the zero test is a backstop). */
function dh (secretKey: Uint8Array, publicKey: Uint8Array, message: string): Uint8Array {
  let shared: Uint8Array
  try {
    shared = x25519.getSharedSecret(secretKey, publicKey)
  } catch {
    throw new HpkeError(message)
  }
  let acc = 0
  for (const byte of shared) acc |= byte
  if (acc === 0) throw new HpkeError(message)
  return shared
}

/** RFC 9180 section 7.1.3 DeriveKeyPair for X25519. `ikm` must hold at least 32 bytes. */
export function deriveKeyPair (ikm: Uint8Array): KeyPair {
  if (!isBytes(ikm) || ikm.length < N_SECRET) throw new HpkeError('hpke: ikm must hold at least 32 bytes')
  const dkpPrk = labeledExtract(KEM_SUITE_ID, EMPTY, 'dkp_prk', ikm)
  const secretKey = labeledExpand(KEM_SUITE_ID, dkpPrk, 'sk', EMPTY, N_SECRET)
  return { secretKey, publicKey: x25519.getPublicKey(secretKey) }
}

function extractAndExpand (dhOutput: Uint8Array, kemContext: Uint8Array): Uint8Array {
  const eaePrk = labeledExtract(KEM_SUITE_ID, EMPTY, 'eae_prk', dhOutput)
  return labeledExpand(KEM_SUITE_ID, eaePrk, 'shared_secret', kemContext, N_SECRET)
}

function encap (pkR: Uint8Array, ikmE: Uint8Array | undefined): { sharedSecret: Uint8Array, enc: Uint8Array } {
  if (!isBytes(pkR, N_SECRET)) throw new HpkeError('hpke: invalid recipient public key')
  const ephemeral = deriveKeyPair(ikmE ?? randomBytes(N_SECRET))
  const dhOutput = dh(ephemeral.secretKey, pkR, 'hpke: invalid recipient public key')
  const enc = ephemeral.publicKey
  return { sharedSecret: extractAndExpand(dhOutput, concatBytes(enc, pkR)), enc }
}

function decap (enc: Uint8Array, skR: Uint8Array): Uint8Array {
  if (!isBytes(enc, N_SECRET) || !isBytes(skR, N_SECRET)) throw new HpkeError(OPEN_FAILED)
  const dhOutput = dh(skR, enc, OPEN_FAILED)
  const pkR = x25519.getPublicKey(skR)
  return extractAndExpand(dhOutput, concatBytes(enc, pkR))
}

interface Schedule { key: Uint8Array, baseNonce: Uint8Array, exporterSecret: Uint8Array, suiteId: Uint8Array }

/** RFC 9180 section 5.1 KeySchedule for mode_base (empty psk and psk_id). */
function keySchedule (aeadId: AeadId, sharedSecret: Uint8Array, info: Uint8Array): Schedule {
  if (!isBytes(info)) throw new HpkeError('hpke: info must be bytes')
  const suiteId = hpkeSuiteId(aeadId)
  const pskIdHash = labeledExtract(suiteId, EMPTY, 'psk_id_hash', EMPTY)
  const infoHash = labeledExtract(suiteId, EMPTY, 'info_hash', info)
  const context = concatBytes(new Uint8Array([0x00]), pskIdHash, infoHash)
  const secret = labeledExtract(suiteId, sharedSecret, 'secret', EMPTY)
  return {
    key: labeledExpand(suiteId, secret, 'key', context, KEY_LENGTH[aeadId]),
    baseNonce: labeledExpand(suiteId, secret, 'base_nonce', context, N_NONCE),
    exporterSecret: labeledExpand(suiteId, secret, 'exp', context, N_SECRET),
    suiteId
  }
}

class Context {
  readonly #schedule: Schedule
  #seq = 0

  constructor (schedule: Schedule) {
    this.#schedule = schedule
  }

  /** The AEAD for the current sequence number: nonce = base_nonce XOR I2OSP(seq, Nn). */
  protected cipher (aad: Uint8Array): ReturnType<typeof gcm> {
    if (this.#seq >= MAX_SEQ) throw new HpkeError('hpke: message limit reached')
    const nonce = i2osp(this.#seq, N_NONCE)
    for (let i = 0; i < N_NONCE; i++) nonce[i] = (nonce[i] as number) ^ (this.#schedule.baseNonce[i] as number)
    return gcm(this.#schedule.key, nonce, aad)
  }

  protected advance (): void {
    this.#seq++
  }

  export (exporterContext: Uint8Array, length: number): Uint8Array {
    if (!isBytes(exporterContext)) throw new HpkeError('hpke: exporter context must be bytes')
    if (!Number.isSafeInteger(length) || length < 0 || length > MAX_EXPORT) throw new HpkeError('hpke: invalid export length')
    return labeledExpand(this.#schedule.suiteId, this.#schedule.exporterSecret, 'sec', exporterContext, length)
  }
}

class Sender extends Context implements SenderContext {
  seal (aad: Uint8Array, pt: Uint8Array): Uint8Array {
    if (!isBytes(aad) || !isBytes(pt)) throw new HpkeError('hpke: aad and plaintext must be bytes')
    const ct = this.cipher(aad).encrypt(pt)
    this.advance()
    return ct
  }
}

class Recipient extends Context implements RecipientContext {
  open (aad: Uint8Array, ct: Uint8Array): Uint8Array {
    let pt: Uint8Array
    try {
      pt = this.cipher(aad).decrypt(ct)
    } catch {
      throw new HpkeError(OPEN_FAILED)
    }
    // RFC 9180 5.2: the counter moves only on success, so a forged message does not desynchronise
    this.advance()
    return pt
  }
}

export function setupBaseS (pkR: Uint8Array, info: Uint8Array, opts?: { aeadId?: AeadId, ikmE?: Uint8Array }): { enc: Uint8Array, context: SenderContext } {
  const aeadId = aeadIdOf(opts)
  const { sharedSecret, enc } = encap(pkR, opts?.ikmE)
  return { enc, context: new Sender(keySchedule(aeadId, sharedSecret, info)) }
}

export function setupBaseR (enc: Uint8Array, skR: Uint8Array, info: Uint8Array, opts?: { aeadId?: AeadId }): RecipientContext {
  const aeadId = aeadIdOf(opts)
  const sharedSecret = decap(enc, skR)
  if (!isBytes(info)) throw new HpkeError(OPEN_FAILED)
  return new Recipient(keySchedule(aeadId, sharedSecret, info))
}

export function sealBase (pkR: Uint8Array, info: Uint8Array, aad: Uint8Array, pt: Uint8Array, opts?: { aeadId?: AeadId, ikmE?: Uint8Array }): { enc: Uint8Array, ct: Uint8Array } {
  const { enc, context } = setupBaseS(pkR, info, opts)
  return { enc, ct: context.seal(aad, pt) }
}

export function openBase (enc: Uint8Array, skR: Uint8Array, info: Uint8Array, aad: Uint8Array, ct: Uint8Array, opts?: { aeadId?: AeadId }): Uint8Array {
  return setupBaseR(enc, skR, info, opts).open(aad, ct)
}
