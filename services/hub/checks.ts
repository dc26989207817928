import { Compile } from 'typebox/compile'
import {
  BroadcastEnvelope, Ciphertext, DirectEnvelope, MessageId, RejectFrame, ServerEnvelope, type Envelope, type FrameErrorCode
} from '../../schemas/frames.js'
import type { Ed25519Verifier } from '../ed25519.js'
import { CanonicalJsonError } from '../protocol/canonical-json.js'
import { messageSigningInput } from '../protocol/signing.js'
import type { TokenBuckets } from '../token-bucket.js'
import type { HubUser } from './connection.js'

export interface Refusal {
  code: FrameErrorCode
  message: string
  retryAfterMs?: number
}

export interface CheckOptions {
  verifier: Ed25519Verifier
  buckets: TokenBuckets
  clockSkewMs: number
  allowPlaintextDirect: boolean
  now: () => number
}

/** Every frame a client signs: the envelopes, and the reject that refuses one. */
export type SignedFrame = Envelope | RejectFrame

const validators = {
  direct: Compile(DirectEnvelope),
  broadcast: Compile(BroadcastEnvelope),
  server: Compile(ServerEnvelope),
  reject: Compile(RejectFrame)
}
const ciphertext = Compile(Ciphertext)
const messageId = Compile(MessageId)

/** The id of a frame, when it has one that may be named in an answer. */
export function idOf (header: Record<string, unknown> | undefined): string | undefined {
  return messageId.Check(header?.id) ? header?.id as string : undefined
}

export function headerOf (frame: unknown): Record<string, unknown> | undefined {
  if (typeof frame !== 'object' || frame === null) return undefined
  const header = (frame as { header?: unknown }).header
  return typeof header === 'object' && header !== null ? header as Record<string, unknown> : undefined
}

/** The first schema error, said without printing a regular expression to the client. */
function schemaRefusal (validator: typeof validators[keyof typeof validators], frame: unknown): Refusal {
  const first = validator.Errors(frame)[0]
  const where = first?.instancePath === undefined || first.instancePath === '' ? 'frame' : first.instancePath.slice(1).replaceAll('/', '.')
  const problem = first?.keyword === 'pattern' ? 'has an invalid format' : first?.message ?? 'is invalid'
  return { code: 'invalid_frame', message: `${where} ${problem}` }
}

/**
 * Every check of a signed frame that needs no I/O, cheapest first: shape, sender, encryption fields, rate,
 * signature, clock. The rate limit is taken before the signature is verified, so that a flood of forgeries
 * costs its sender tokens rather than the server verifications.
 */
export function checkEnvelope (user: HubUser, frame: unknown, o: CheckOptions): SignedFrame | Refusal {
  const type = headerOf(frame)?.message_type
  if (type !== 'direct' && type !== 'broadcast' && type !== 'server' && type !== 'reject') {
    return { code: 'invalid_frame', message: 'header.message_type must be direct, broadcast, server, ack or reject' }
  }
  const validator = validators[type]
  if (!validator.Check(frame)) return schemaRefusal(validator, frame)
  const envelope = frame as SignedFrame
  const { header, body } = envelope
  if (header.from !== user.user_id) return { code: 'forbidden', message: 'header.from is not the authenticated user' }
  if (type === 'direct') {
    const { header, body } = envelope as DirectEnvelope
    const encrypted = header.encrypted_key !== undefined && header.encryption_nonce !== undefined
    if (!encrypted && !o.allowPlaintextDirect) {
      return { code: 'invalid_frame', message: 'direct messages must be encrypted: header.encrypted_key and header.encryption_nonce are required' }
    }
    if (encrypted && !ciphertext.Check(body.content)) return { code: 'invalid_frame', message: 'body.content must be canonical base64 of at least 16 bytes (ciphertext and tag)' }
  }
  const wait = o.buckets.take(user.user_id)
  if (wait > 0) return { code: 'rate_limited', message: 'message rate limit reached', retryAfterMs: wait }

  let input: string
  try {
    input = messageSigningInput(header, body)
  } catch (err) {
    if (err instanceof CanonicalJsonError) return { code: 'invalid_frame', message: `envelope cannot be canonicalised: ${err.message}` }
    throw err
  }
  if (!o.verifier.verify(user.public_key, input, header.signature)) {
    return { code: 'bad_signature', message: 'signature does not verify' }
  }
  const time = Date.parse(header.timestamp)
  // the pattern admits 2026-13-45T99:99:99.999Z; only a time that prints back the same is a time
  if (Number.isNaN(time) || new Date(time).toISOString() !== header.timestamp) {
    return { code: 'invalid_frame', message: 'header.timestamp is not a valid time' }
  }
  if (Math.abs(o.now() - time) > o.clockSkewMs) {
    return { code: 'clock_skew', message: `header.timestamp is more than ${o.clockSkewMs} ms from server time` }
  }
  return envelope
}
