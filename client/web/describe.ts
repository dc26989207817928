// Failures in words a user can act on.
import { KeyChangedError, RejectedError, SealwireError, type RejectionReason } from '../index.js'

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
    return { code: err.code, retryAfterMs: undefined, text: `The identity key of ${err.userId} changed. Nothing is sent to or accepted from ${err.userId} until you compare safety numbers and accept the new key.` }
  }
  if (err instanceof RejectedError) {
    return { code: err.code, retryAfterMs: undefined, text: `Refused by ${err.recipient}: ${describeRejection(err.reason)}.` }
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
      case 'key_changed':
        return `The identity key of ${peer} changed again: compare the new safety number first.`
      case 'key_rollback':
        return `The server offered an older encryption key of ${peer} than one already seen: not sending anything to it.`
      case 'key_expired':
        return `The encryption key of ${peer} has expired: nothing is sent until ${peer} logs in and publishes a new one.`
      case 'rejected':
        return `${peer} refused the message.`
      case 'invalid_rejection':
        return 'A refusal came back whose signature does not verify: ignored, the message stays pending.'
      case 'identity_not_saved':
        return 'This identity could not be saved in the browser, so its new key was not published. Keep the page open and try again.'
      case 'safety_number_mismatch':
        return `The safety number shown is no longer the one of ${peer}'s key: nothing was marked. Compare again.`
      case 'stale_key_epoch':
        return 'The server already has a newer encryption key for this identity (from another device?): this one was not published.'
      case 'ambiguous_ack':
        return 'The server could not tell which message an acknowledgement was for.'
      case 'unknown_message':
        return 'The server no longer holds that message.'
      case 'store_failed':
      case 'invalid_store':
        return 'This browser could not keep the keys and messages it has to remember. Check its storage settings.'
      default:
        return `${err.message} (${code})`
    }
  })()
  return { code, retryAfterMs, text }
}

const REJECTIONS: Record<RejectionReason, string> = {
  bad_signature: 'its signature does not verify',
  key_changed: 'the sender\'s identity key changed',
  key_rollback: 'it was sealed to an older encryption key than one already seen',
  key_expired: 'it was sealed to an expired encryption key',
  unknown_key: 'it was sealed to a key that is not kept any more',
  decrypt_failed: 'it cannot be decrypted',
  clock_skew: 'its time stamp is in the future',
  stale: 'it is too old, or a replay',
  not_encrypted: 'it was not encrypted',
  misrouted: 'it was addressed to someone else',
  malformed: 'it is malformed'
}

/** Words for a reason a message was refused; a reason from a newer peer is shown as it is. */
export function describeRejection (reason: RejectionReason | string): string {
  return (REJECTIONS as Record<string, string | undefined>)[reason] ?? `"${reason}"`
}
