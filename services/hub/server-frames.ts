import { randomUUID } from 'node:crypto'
import type {
  CommandResponse, ErrorBody, ErrorFrame, PresenceFrame, PresenceStatus, ReceiptFrame, ReceiptStatus, ServerResponseFrame,
  SignedReject
} from '../../schemas/frames.js'
import type { Refusal } from './checks.js'

// The frames the server makes itself, as the text that goes on the wire. Their shapes are the schemas of
// schemas/frames.ts; the tests hold every frame the server sends against them.

const stamp = (now: number): { id: string, from: 'server', timestamp: string } =>
  ({ id: randomUUID(), from: 'server', timestamp: new Date(now).toISOString() })

export function receiptFrame (to: string, inReplyTo: string, status: ReceiptStatus, now: number): string {
  const frame: ReceiptFrame = { header: { ...stamp(now), to, message_type: 'receipt', in_reply_to: inReplyTo }, body: { status } }
  return JSON.stringify(frame)
}

/**
 * The `rejected` receipt: the reason, and the reject as its recipient signed it, so that the sender can check
 * that the refusal is the recipient's and not the server's. `rejection` is the stored text of the reject.
 */
export function rejectedReceiptFrame (to: string, inReplyTo: string, rejection: string, now: number): string {
  const signed = JSON.parse(rejection) as SignedReject
  const frame: ReceiptFrame = {
    header: { ...stamp(now), to, message_type: 'receipt', in_reply_to: inReplyTo },
    body: { status: 'rejected', reason: signed.body.reason, rejection: signed }
  }
  return JSON.stringify(frame)
}

export function errorFrame (to: string, inReplyTo: string | undefined, refusal: Refusal, now: number): string {
  const body: ErrorBody = { code: refusal.code, message: refusal.message }
  if (refusal.retryAfterMs !== undefined) body.retry_after_ms = refusal.retryAfterMs
  const frame: ErrorFrame = { header: { ...stamp(now), to, message_type: 'error' }, body }
  if (inReplyTo !== undefined) frame.header.in_reply_to = inReplyTo
  return JSON.stringify(frame)
}

export function serverResponseFrame (to: string, inReplyTo: string, response: CommandResponse, now: number): string {
  const frame: ServerResponseFrame = {
    header: { ...stamp(now), to, message_type: 'server_response', in_reply_to: inReplyTo },
    body: { content: JSON.stringify(response) }
  }
  return JSON.stringify(frame)
}

export function presenceFrame (userId: string, status: PresenceStatus, now: number): string {
  const frame: PresenceFrame = { header: { ...stamp(now), to: '*', message_type: 'presence' }, body: { user_id: userId, status } }
  return JSON.stringify(frame)
}

/** The envelope as it is stored and sent on: header and body only, whatever meta the sender put in dropped. */
export function storedText (envelope: { header: object, body: object }): string {
  return JSON.stringify({ header: envelope.header, body: envelope.body })
}

/** A stored envelope with the server's meta added, without parsing it again. */
export function withMeta (stored: string, receivedAt: string): string {
  return `${stored.slice(0, -1)},"meta":{"received_at":"${receivedAt}"}}`
}
