import { ed25519, x25519 } from '@noble/curves/ed25519.js'
import { USER_ID_PATTERN } from '../schemas/common.js'
import { fromBase64, toBase64, utf8Encode } from '../services/protocol/base64.js'
import { sign } from '../services/protocol/signature.js'
import { loginSigningInput, messageSigningInput, x25519KeyBindingSigningInput, x25519KeySigningInput } from '../services/protocol/signing.js'
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
  /** the epoch of the current X25519 key; 0 (or absent) for a key bound the v1 way, without order */
  encryptionKeyEpoch?: number
  /** when the current X25519 key's binding expires (epoch ≥ 1) */
  encryptionKeyExpiresAt?: string
  /** a key made and saved but not yet published: published on the next try, never replaced by another */
  pendingEncryptionKey?: PendingKey
  /** replaced X25519 keys, kept for messages sealed to them until the retention time has passed */
  retiredEncryptionKeys?: Array<{ secretKey: Uint8Array, retiredAt: string }>
}

export interface PendingKey {
  secretKey: Uint8Array
  epoch: number
  expiresAt: string
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
  encryption_key_epoch?: number
  encryption_key_expires_at?: string
  pending_encryption_key?: { secret_key: string, epoch: number, expires_at: string }
}

/** The public half, as POST /auth/register takes it; the epoch fields only for a key with an epoch. */
export interface PublicKeys {
  public_key: string
  x25519_public_key: string
  x25519_key_signature: string
  x25519_key_epoch?: number
  x25519_key_expires_at?: string
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
      : { retired_encryption_keys: identity.retiredEncryptionKeys.map((k) => ({ secret_key: toBase64(k.secretKey), retired_at: k.retiredAt })) }),
    ...(identity.encryptionKeyEpoch === undefined ? {} : { encryption_key_epoch: identity.encryptionKeyEpoch }),
    ...(identity.encryptionKeyExpiresAt === undefined ? {} : { encryption_key_expires_at: identity.encryptionKeyExpiresAt }),
    ...(identity.pendingEncryptionKey === undefined
      ? {}
      : { pending_encryption_key: { secret_key: toBase64(identity.pendingEncryptionKey.secretKey), epoch: identity.pendingEncryptionKey.epoch, expires_at: identity.pendingEncryptionKey.expiresAt } })
  }
}

const isEpoch = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0
const isIsoTime = (t: unknown): t is string => typeof t === 'string' && !Number.isNaN(Date.parse(t)) && new Date(t).toISOString() === t

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
  const epoch = f.encryption_key_epoch
  const expiresAt = f.encryption_key_expires_at
  if ((epoch !== undefined && !isEpoch(epoch)) || (expiresAt !== undefined && !isIsoTime(expiresAt))) {
    throw new SealwireError('invalid_identity', 'encryption_key_epoch or encryption_key_expires_at is malformed')
  }
  let pending: PendingKey | undefined
  if (f.pending_encryption_key !== undefined) {
    const p = f.pending_encryption_key
    const secretKey = typeof p?.secret_key === 'string' ? fromBase64(p.secret_key, 32) : undefined
    if (secretKey === undefined || !isEpoch(p.epoch) || p.epoch < 1 || !isIsoTime(p.expires_at)) throw new SealwireError('invalid_identity', 'the pending encryption key is malformed')
    pending = { secretKey, epoch: p.epoch, expiresAt: p.expires_at }
  }
  return {
    userId: f.user_id,
    username: typeof f.username === 'string' ? f.username : f.user_id,
    identitySecretKey,
    encryptionSecretKey,
    ...(typeof f.encryption_key_created_at === 'string' ? { encryptionKeyCreatedAt: f.encryption_key_created_at } : {}),
    ...(retired.length > 0 ? { retiredEncryptionKeys: retired } : {}),
    ...(epoch === undefined ? {} : { encryptionKeyEpoch: epoch }),
    ...(expiresAt === undefined ? {} : { encryptionKeyExpiresAt: expiresAt }),
    ...(pending === undefined ? {} : { pendingEncryptionKey: pending })
  }
}

/** The public keys of an identity, its current X25519 key bound under the label of its epoch. */
export function publicKeys (identity: Identity): PublicKeys {
  const epoch = identity.encryptionKeyEpoch ?? 0
  return {
    public_key: toBase64(ed25519.getPublicKey(identity.identitySecretKey)),
    ...(epoch >= 1 && identity.encryptionKeyExpiresAt !== undefined
      ? keyBinding(identity, identity.encryptionSecretKey, epoch, identity.encryptionKeyExpiresAt)
      : v1KeyBinding(identity, identity.encryptionSecretKey))
  }
}

export interface KeyBindingFields {
  x25519_public_key: string
  x25519_key_signature: string
  x25519_key_epoch: number
  x25519_key_expires_at: string
}

/** An X25519 key with its ordered binding (`sealwire/v1/x25519-key-binding:`), as the register and rotate bodies carry it. */
export function keyBinding (identity: Identity, secretKey: Uint8Array, epoch: number, expiresAt: string): KeyBindingFields {
  const x25519PublicKey = toBase64(x25519.getPublicKey(secretKey))
  return {
    x25519_public_key: x25519PublicKey,
    x25519_key_signature: signText(identity, x25519KeyBindingSigningInput({ userId: identity.userId, x25519PublicKey, epoch, expiresAt })),
    x25519_key_epoch: epoch,
    x25519_key_expires_at: expiresAt
  }
}

/** An X25519 key bound the v1 way (epoch 0, no expiry). */
export function v1KeyBinding (identity: Identity, secretKey: Uint8Array): { x25519_public_key: string, x25519_key_signature: string } {
  const x25519PublicKey = toBase64(x25519.getPublicKey(secretKey))
  return { x25519_public_key: x25519PublicKey, x25519_key_signature: signText(identity, x25519KeySigningInput(identity.userId, x25519PublicKey)) }
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
