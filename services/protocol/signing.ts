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
