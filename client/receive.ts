// The checks on what arrives: direct messages and broadcasts (signature, freshness from the signed timestamp
// and this client's own memory, decryption), and the signed refusals that come back in `rejected` receipts.
import type { DeliveredBroadcast, DeliveredDirect } from '../schemas/frames.js'
import { fromBase64, utf8Encode } from '../services/protocol/base64.js'
import { openDirect } from '../services/protocol/direct.js'
import { verifyStrict } from '../services/protocol/signature.js'
import { messageSigningInput } from '../services/protocol/signing.js'
import { KeyChangedError, SealwireError } from './errors.js'
import { parseRejectFrame, type RejectedReceiptFrame, type RejectReason } from './frames.js'
import { signEnvelope, type Identity } from './identity.js'
import type { PeerKeys } from './keys.js'
import type { ClientStore } from './store.js'

/** What to do with an envelope: hand it over, ack a replay, refuse it (signed, to its sender), or try later. */
export type Outcome =
  | { kind: 'show', text: string, timestamp: number }
  | { kind: 'replay' }
  | { kind: 'refuse', reason: RejectReason, message: string }
  | { kind: 'later', error: SealwireError }

export interface ReceiveContext {
  me: string
  ownPublicKey: string
  keys: PeerKeys
  store: ClientStore
  /** the secret keys to try, newest first */
  secretKeys: Uint8Array[]
  /** how far in the future a signed timestamp may be */
  skewMs: number
  /** how old a signed timestamp may be */
  windowMs: number
  now: number
}

/** Codes of failures to fetch a sender's key that say nothing about the message: it is kept for later. */
const TRANSIENT = /^(unreachable|timeout|rate_limited|unauthorized|http_5\d\d|internal)$/

const refuse = (reason: RejectReason, message: string): Outcome => ({ kind: 'refuse', reason, message })

export async function checkEnvelope (ctx: ReceiveContext, { header, body }: DeliveredDirect | DeliveredBroadcast): Promise<Outcome> {
  const { id, from } = header
  const direct = header.message_type === 'direct'
  if (direct && header.to !== ctx.me) return refuse('misrouted', `a message for ${header.to} reached ${ctx.me}`)
  let key: string
  try {
    key = from === ctx.me ? ctx.ownPublicKey : (await ctx.keys.pinned(from)).record.publicKey
  } catch (err) {
    if (err instanceof KeyChangedError) return refuse('key_changed', err.message)
    if (err instanceof SealwireError && TRANSIENT.test(err.code)) return { kind: 'later', error: err }
    return refuse('unknown_key', err instanceof Error ? `the key of ${from} cannot be had: ${err.message}` : `the key of ${from} cannot be had`)
  }
  let input: string
  try {
    input = messageSigningInput(header, body)
  } catch {
    return refuse('malformed', 'a message that has no canonical form')
  }
  if (!verifyStrict(fromBase64(key, 32) ?? new Uint8Array(0), utf8Encode(input), fromBase64(header.signature, 64) ?? new Uint8Array(0))) {
    // never retried with a freshly fetched key: that is what a server that swapped keys would want
    return refuse('bad_signature', `the signature of ${from} does not verify`)
  }
  // freshness from the signed timestamp and this client's clock, never from the server's meta
  const timestamp = Date.parse(header.timestamp)
  if (!(timestamp <= ctx.now + ctx.skewMs)) return refuse('clock_skew', `timestamp ${header.timestamp} is in the future`)
  if (timestamp < ctx.now - ctx.windowMs) return refuse('stale', `timestamp ${header.timestamp} is older than the replay window`)
  const seen = await ctx.store.checkSeen(from, id, timestamp)
  if (seen === 'seen') return { kind: 'replay' }
  if (seen === 'stale') return refuse('stale', `${from} sent newer messages than ${header.timestamp} that were forgotten: this one cannot be told from a replay`)
  if (header.message_type === 'broadcast') return { kind: 'show', text: body.content, timestamp }
  const { encrypted_key: encryptedKey, encryption_nonce: nonce } = header
  if (encryptedKey === undefined || nonce === undefined) return refuse('not_encrypted', 'a direct message without encryption')
  for (const secretKey of ctx.secretKeys) {
    try {
      return { kind: 'show', text: openDirect({ from, to: ctx.me, id, content: body.content, encryption_nonce: nonce, encryptedKey, secretKey }), timestamp }
    } catch {}
  }
  return refuse('decrypt_failed', 'the message cannot be decrypted: it was altered or sealed to a key this client does not have')
}

/** The signed refusal of a direct message, sent instead of its ack. */
export function rejectFrame (identity: Identity, refused: { id: string, from: string }, reason: RejectReason): string {
  return JSON.stringify(signEnvelope(identity, {
    message_type: 'reject', id: refused.id, from: identity.userId, to: refused.from, timestamp: new Date().toISOString()
  }, { reason }))
}

/** The ack of a direct message: `body.from` names its sender, so the ack marks exactly that message. */
export function ackFrame (refused: { id: string, from: string }): string {
  return JSON.stringify({ header: { message_type: 'ack', in_reply_to: refused.id }, body: { from: refused.from } })
}

/**
 * A `rejected` receipt counts only when its `rejection` is a reject frame for that message, addressed to this
 * user, whose signature verifies with the refusing user's pinned identity key (and, when this session sent
 * the message, that user is its recipient). Anything else is the server's word alone.
 */
export async function checkRejection (
  frame: RejectedReceiptFrame, me: string, recipient: string | undefined, store: ClientStore
): Promise<{ ok: true, recipient: string, reason: RejectReason } | { ok: false, why: string }> {
  const rejection = parseRejectFrame(frame.body.rejection)
  if (rejection === undefined) return { ok: false, why: 'the rejection is not a reject frame' }
  const { header, body } = rejection
  if (header.id !== frame.header.in_reply_to || header.to !== me || body.reason !== frame.body.reason) {
    return { ok: false, why: 'the rejection is for another message' }
  }
  if (recipient !== undefined && header.from !== recipient) return { ok: false, why: `the rejection is signed by ${header.from}, not by the recipient ${recipient}` }
  const pinned = (await store.getPeer(header.from))?.publicKey
  if (pinned === undefined) return { ok: false, why: `no identity key of ${header.from} is pinned` }
  let input: string
  try {
    input = messageSigningInput(header, body)
  } catch {
    return { ok: false, why: 'the rejection has no canonical form' }
  }
  if (!verifyStrict(fromBase64(pinned, 32) ?? new Uint8Array(0), utf8Encode(input), fromBase64(header.signature, 64) ?? new Uint8Array(0))) {
    return { ok: false, why: `the rejection does not verify with ${header.from}'s pinned key` }
  }
  return { ok: true, recipient: header.from, reason: body.reason }
}
