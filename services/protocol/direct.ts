// Direct-message encryption of PROTOCOL.md: a fresh AES-256-GCM content key per message, sealed with HPKE
// to the recipient (and optionally to the sender, for its own history).
import { gcm } from '@noble/ciphers/aes.js'
import { randomBytes } from '@noble/hashes/utils.js'
import { fromBase64, toBase64, utf8Decode, utf8Encode } from './base64.js'
import { openBase, sealBase } from './hpke.js'
import { directAad, LABELS } from './signing.js'

export class DecryptError extends Error {
  constructor (message = 'cannot decrypt the message') {
    super(message)
    this.name = 'DecryptError'
  }
}

export interface SealedDirect { encrypted_key: string, encryption_nonce: string, content: string, sender_encrypted_key?: string }

const KEY_LENGTH = 32
const NONCE_LENGTH = 12
const TAG_LENGTH = 16
const ENC_LENGTH = 32
const SEALED_KEY_LENGTH = ENC_LENGTH + KEY_LENGTH + TAG_LENGTH // 80
const INFO = utf8Encode(LABELS.contentKey)

function sealKey (publicKey: Uint8Array, aad: Uint8Array, key: Uint8Array): string {
  const { enc, ct } = sealBase(publicKey, INFO, aad, key, { aeadId: 2 })
  const sealed = new Uint8Array(SEALED_KEY_LENGTH)
  sealed.set(enc, 0)
  sealed.set(ct, ENC_LENGTH)
  return toBase64(sealed)
}

/**
 * Encrypts `plaintext` for `recipientKey` (and `senderKey` when given). Throws HpkeError when a key is not a
 * usable X25519 public key, TypeError when the plaintext holds a lone surrogate.
 */
export function sealDirect (p: { from: string, to: string, id: string, plaintext: string, recipientKey: Uint8Array, senderKey?: Uint8Array }): SealedDirect {
  const aad = utf8Encode(directAad(p.from, p.to, p.id))
  const plaintext = utf8Encode(p.plaintext)
  const key = randomBytes(KEY_LENGTH)
  const nonce = randomBytes(NONCE_LENGTH)
  try {
    const sealed: SealedDirect = {
      encrypted_key: sealKey(p.recipientKey, aad, key),
      encryption_nonce: toBase64(nonce),
      content: toBase64(gcm(key, nonce, aad).encrypt(plaintext))
    }
    if (p.senderKey !== undefined) sealed.sender_encrypted_key = sealKey(p.senderKey, aad, key)
    return sealed
  } finally {
    key.fill(0)
  }
}

function openOrThrow (p: { from: string, to: string, id: string, content: string, encryption_nonce: string, encryptedKey: string, secretKey: Uint8Array }): string {
  const sealedKey = fromBase64(p.encryptedKey, SEALED_KEY_LENGTH)
  const nonce = fromBase64(p.encryption_nonce, NONCE_LENGTH)
  const content = fromBase64(p.content)
  if (sealedKey === undefined || nonce === undefined || content === undefined || content.length < TAG_LENGTH) {
    throw new DecryptError()
  }
  const aad = utf8Encode(directAad(p.from, p.to, p.id))
  const key = openBase(sealedKey.subarray(0, ENC_LENGTH), p.secretKey, INFO, aad, sealedKey.subarray(ENC_LENGTH), { aeadId: 2 })
  try {
    if (key.length !== KEY_LENGTH) throw new DecryptError()
    return utf8Decode(gcm(key, nonce, aad).decrypt(content))
  } finally {
    key.fill(0)
  }
}

/**
 * Decrypts a direct message with the X25519 secret key that `encryptedKey` was sealed to: the recipient
 * passes header.encrypted_key, the sender reading its own history header.sender_encrypted_key.
 * Throws DecryptError on any failure, with no detail.
 */
export function openDirect (p: { from: string, to: string, id: string, content: string, encryption_nonce: string, encryptedKey: string, secretKey: Uint8Array }): string {
  try {
    return openOrThrow(p)
  } catch {
    throw new DecryptError()
  }
}
