// Failures in words a user can act on.
import { KeyChangedError, SealwireError, type RejectionReason } from '../index.js'

export interface Described {
  text: string
  code: string
  retryAfterMs: number | undefined
}

export function seconds (ms: number): string {
  const s = Math.max(1, Math.ceil(ms / 1000))
  return `${s} second${s === 1 ? '' : 's'}`
}

export function describeError (err: unknown, context: { peer?: string } = {}): Described {
  if (err instanceof KeyChangedError) {
    return { code: err.code, retryAfterMs: undefined, text: `The identity key of ${err.userId} changed. Nothing is sent to or accepted from ${err.userId} until you compare safety numbers.` }
  }
  if (!(err instanceof SealwireError)) {
    return { code: 'error', retryAfterMs: undefined, text: err instanceof Error ? err.message : String(err) }
  }
  const { code, retryAfterMs } = err
  const peer = context.peer ?? 'that user'
  const text = ((): string => {
    switch (code) {
      case 'unreachable':
      case 'connect_failed':
        return `Cannot reach the server at ${location.host}. It may be down, or you are offline.`
      case 'not_connected':
        return 'Not connected to the server yet.'
      case 'timeout':
        return 'The server did not answer in time.'
      case 'rate_limited':
        return retryAfterMs === undefined ? 'Too many requests: slow down a moment.' : `Too many requests: wait ${seconds(retryAfterMs)}.`
      case 'unknown_user':
      case 'not_found':
        return `${peer} is not a user on this server.`
      case 'user_exists':
        return 'That user id is taken on this server. Choose another one.'
      case 'invalid_user_id':
        return 'A user id is 3 to 32 letters, digits, _ . or -, starting with a letter or digit ("server" is reserved).'
      case 'unauthorized':
        return 'The server refused the login: it knows a different key for this user id.'
      case 'unverified_key':
        return `The encryption key of ${peer} is not signed by their identity key: not sending anything to it.`
      case 'closed':
        return 'You logged out before the server answered.'
      case 'unknown_command':
        return 'The server has no such command.'
      case 'payload_too_large':
        return 'That is too large for the server.'
      case 'clock_skew':
        return 'The server refused the message: this device\'s clock is off by more than 5 minutes. Set the clock right.'
      case 'invalid_identity':
        return 'That file is not a Sealwire identity.'
      default:
        return `${err.message} (${code})`
    }
  })()
  return { code, retryAfterMs, text }
}

const REJECTIONS: Record<RejectionReason, string> = {
  bad_signature: 'its signature does not verify',
  key_changed: 'the sender\'s identity key changed',
  decrypt_failed: 'it cannot be decrypted',
  clock_skew: 'its time stamp is too far off',
  not_encrypted: 'it was not encrypted',
  misrouted: 'it was addressed to someone else',
  unknown_sender: 'its sender could not be checked',
  malformed: 'it is malformed'
}

export function describeRejection (reason: RejectionReason): string {
  return REJECTIONS[reason]
}
