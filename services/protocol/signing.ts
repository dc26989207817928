import { canonicalJson } from './canonical-json.js'

// Signing inputs of PROTOCOL.md. Each starts with a label so that a signature made for one purpose is
// never valid for another.
export const LABELS = {
  x25519Key: 'sealwire/v1/x25519-key:',
  login: 'sealwire/v1/login:',
  message: 'sealwire/v1/message:',
  direct: 'sealwire/v1/direct:',
  contentKey: 'sealwire/v1/content-key'
} as const

export function x25519KeySigningInput (userId: string, x25519PublicKey: string): string {
  return `${LABELS.x25519Key}${userId}:${x25519PublicKey}`
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
