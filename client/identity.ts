import { ed25519, x25519 } from '@noble/curves/ed25519.js'
import { USER_ID_PATTERN } from '../schemas/common.js'
import { fromBase64, toBase64, utf8Encode } from '../services/protocol/base64.js'
import { sign } from '../services/protocol/signature.js'
import { loginSigningInput, messageSigningInput, x25519KeySigningInput } from '../services/protocol/signing.js'
import { SealwireError } from './errors.js'

/** A user's secret keys. Keep them secret: whoever has them is that user. */
export interface Identity {
  userId: string
  username: string
  /** Ed25519 secret key (the 32-byte RFC 8032 seed) */
  identitySecretKey: Uint8Array
  /** X25519 secret key */
  encryptionSecretKey: Uint8Array
  /** when the current X25519 key was made; rotation is scheduled from it */
  encryptionKeyCreatedAt?: string
  /** replaced X25519 keys, kept only until the messages queued for them are read */
  retiredEncryptionKeys?: Array<{ secretKey: Uint8Array, retiredAt: string }>
}

/** The JSON form of an identity (key files, exports): base64 keys, versioned. */
export interface IdentityFile {
  version: 1
  user_id: string
  username: string
  identity_secret_key: string
  encryption_secret_key: string
  encryption_key_created_at?: string
  retired_encryption_keys?: Array<{ secret_key: string, retired_at: string }>
}

export interface PublicKeys {
  public_key: string
  x25519_public_key: string
  x25519_key_signature: string
}

export function generateIdentity (userId: string, username: string = userId): Identity {
  if (!new RegExp(USER_ID_PATTERN).test(userId) || userId.toLowerCase() === 'server') {
    throw new SealwireError('invalid_user_id', 'a user id is 3 to 32 of A-Z a-z 0-9 _ . - starting with a letter or digit')
  }
  return {
    userId,
    username,
    identitySecretKey: ed25519.utils.randomSecretKey(),
    encryptionSecretKey: x25519.utils.randomSecretKey(),
    encryptionKeyCreatedAt: new Date().toISOString()
  }
}

export function exportIdentity (identity: Identity): IdentityFile {
  return {
    version: 1,
    user_id: identity.userId,
    username: identity.username,
    identity_secret_key: toBase64(identity.identitySecretKey),
    encryption_secret_key: toBase64(identity.encryptionSecretKey),
    ...(identity.encryptionKeyCreatedAt === undefined ? {} : { encryption_key_created_at: identity.encryptionKeyCreatedAt }),
    ...(identity.retiredEncryptionKeys === undefined || identity.retiredEncryptionKeys.length === 0
      ? {}
      : { retired_encryption_keys: identity.retiredEncryptionKeys.map((k) => ({ secret_key: toBase64(k.secretKey), retired_at: k.retiredAt })) })
  }
}

export function importIdentity (file: unknown): Identity {
  const f = file as Partial<IdentityFile> | null
  const identitySecretKey = typeof f?.identity_secret_key === 'string' ? fromBase64(f.identity_secret_key, 32) : undefined
  const encryptionSecretKey = typeof f?.encryption_secret_key === 'string' ? fromBase64(f.encryption_secret_key, 32) : undefined
  if (f?.version !== 1 || typeof f.user_id !== 'string' || identitySecretKey === undefined || encryptionSecretKey === undefined) {
    throw new SealwireError('invalid_identity', 'not a Sealwire identity (version 1, user_id, identity_secret_key, encryption_secret_key)')
  }
  const retired: NonNullable<Identity['retiredEncryptionKeys']> = []
  for (const k of Array.isArray(f.retired_encryption_keys) ? f.retired_encryption_keys : []) {
    const secretKey = typeof k?.secret_key === 'string' ? fromBase64(k.secret_key, 32) : undefined
    if (secretKey === undefined || typeof k.retired_at !== 'string') throw new SealwireError('invalid_identity', 'a retired encryption key is malformed')
    retired.push({ secretKey, retiredAt: k.retired_at })
  }
  return {
    userId: f.user_id,
    username: typeof f.username === 'string' ? f.username : f.user_id,
    identitySecretKey,
    encryptionSecretKey,
    ...(typeof f.encryption_key_created_at === 'string' ? { encryptionKeyCreatedAt: f.encryption_key_created_at } : {}),
    ...(retired.length > 0 ? { retiredEncryptionKeys: retired } : {})
  }
}

export function publicKeys (identity: Identity): PublicKeys {
  const x25519PublicKey = toBase64(x25519.getPublicKey(identity.encryptionSecretKey))
  return {
    public_key: toBase64(ed25519.getPublicKey(identity.identitySecretKey)),
    x25519_public_key: x25519PublicKey,
    x25519_key_signature: signText(identity, x25519KeySigningInput(identity.userId, x25519PublicKey))
  }
}

/** A new X25519 key with its binding signature, for PUT /auth/keys/x25519. */
export function newEncryptionKey (identity: Identity): { secretKey: Uint8Array, x25519_public_key: string, x25519_key_signature: string } {
  const secretKey = x25519.utils.randomSecretKey()
  const publicKey = toBase64(x25519.getPublicKey(secretKey))
  return { secretKey, x25519_public_key: publicKey, x25519_key_signature: signText(identity, x25519KeySigningInput(identity.userId, publicKey)) }
}

export function signText (identity: Identity, text: string): string {
  return toBase64(sign(identity.identitySecretKey, utf8Encode(text)))
}

export function signLogin (identity: Identity, challenge: string): string {
  return signText(identity, loginSigningInput(identity.userId, challenge))
}

/** Adds header.signature over the envelope's signing input. */
export function signEnvelope<H extends Record<string, unknown>, B extends Record<string, unknown>> (
  identity: Identity, header: H, body: B
): { header: H & { signature: string }, body: B } {
  return { header: { ...header, signature: signText(identity, messageSigningInput(header, body)) }, body }
}
