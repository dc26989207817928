import { canonicalJson } from './canonical-json.js'

// Signing inputs of PROTOCOL.md. Each starts with a label so that a signature made for one purpose is
// never valid for another.
export const LABELS = {
  x25519Key: 'sealwire/v1/x25519-key:',
  x25519KeyBinding: 'sealwire/v1/x25519-key-binding:',
  login: 'sealwire/v1/login:',
  message: 'sealwire/v1/message:',
  direct: 'sealwire/v1/direct:',
  contentKey: 'sealwire/v1/content-key'
} as const

export function x25519KeySigningInput (userId: string, x25519PublicKey: string): string {
  return `${LABELS.x25519Key}${userId}:${x25519PublicKey}`
}

export interface X25519KeyBinding {
  userId: string
  x25519PublicKey: string
  /** grows with every new key of the user, from 1 */
  epoch: number
  /** as Date.prototype.toISOString() prints it */
  expiresAt: string
}

/**
 * The binding of an encryption key with its order and lifetime, so that a client can refuse an older key
 * (a rollback by the server) or an expired one. Keys bound with `x25519KeySigningInput` count as epoch 0.
 */
export function x25519KeyBindingSigningInput ({ userId, x25519PublicKey, epoch, expiresAt }: X25519KeyBinding): string {
  return LABELS.x25519KeyBinding + canonicalJson({ epoch, expires_at: expiresAt, user_id: userId, x25519_public_key: x25519PublicKey })
}

export function loginSigningInput (userId: string, challenge: string): string {
  return `${LABELS.login}${userId}:${challenge}`
}

/**
 * The signing input of an envelope: the label, then the RFC 8785 text of {header without signature, body}.
 * `meta` is never signed. Throws CanonicalJsonError for values JCS cannot represent (lone surrogates).
 */
export function messageSigningInput (header: Record<string, unknown>, body: Record<string, unknown>): string {
  const { signature: _signature, ...unsigned } = header
  return LABELS.message + canonicalJson({ header: unsigned, body })
}

/** The AEAD associated data of a direct message's content and content key. */
export function directAad (from: string, to: string, id: string): string {
  return `${LABELS.direct}${from}:${to}:${id}`
}
