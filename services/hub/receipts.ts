import type { FastifyBaseLogger } from 'fastify'
import { Compile } from 'typebox/compile'
import { AckFrame, type RejectFrame, type RejectReason } from '../../schemas/frames.js'
import type { Broker } from '../cluster/cluster.js'
import type { MessageStore } from '../message-store.js'
import type { TokenBuckets } from '../token-bucket.js'
import { checkEnvelope, headerOf, idOf, type CheckOptions, type Refusal } from './checks.js'
import type { Connection } from './connection.js'
import { storedText } from './server-frames.js'

export const NOT_STORED: Refusal = { code: 'internal', message: 'the message was not stored; send it again' }

export interface ReceiptsOptions {
  store: MessageStore
  broker: Broker
  ackBuckets: TokenBuckets
  checks: CheckOptions
  log: FastifyBaseLogger
  now: () => number
  /** answers a frame with an error (and counts a strike) */
  refuse: (conn: Connection, inReplyTo: string | undefined, refusal: Refusal) => void
  /** tells the sender's connections on this node: `delivered`, or `rejected` with the stored text of the reject */
  toSender: (sender: string, id: string, rejection?: string) => void
  delivered: (sender: string, latencyMs: number) => void
  rejected: (sender: string, reason: RejectReason) => void
}

const ackValidator = Compile(AckFrame)

/**
 * What a recipient answers about a direct message: an ack (it was shown, the queue may drop it) or a signed
 * reject (it was refused). Either turns into a receipt to the sender, here or on the node that holds it.
 * Neither is answered when it worked.
 */
export class Receipts {
  readonly #o: ReceiptsOptions

  constructor (options: ReceiptsOptions) {
    this.#o = options
  }

  ack (conn: Connection, frame: unknown): void {
    if (!ackValidator.Check(frame)) {
      this.#o.refuse(conn, undefined, { code: 'invalid_frame', message: 'an ack is {"header": {"message_type": "ack", "in_reply_to": message id}}' })
      return
    }
    const id = frame.header.in_reply_to
    const wait = this.#o.ackBuckets.take(conn.user.user_id)
    if (wait > 0) {
      this.#o.refuse(conn, id, { code: 'rate_limited', message: 'ack rate limit reached', retryAfterMs: wait })
      return
    }
    this.#o.store.ack(conn.user.user_id, id, frame.body?.from).then((acked) => {
      if (acked === 'ambiguous') {
        this.#o.refuse(conn, id, { code: 'ambiguous_ack', message: 'several messages have this id: name their sender in body.from' })
        return
      }
      const now = this.#o.now()
      for (const { from_user: from, id: messageId, created_at: createdAt } of acked) {
        this.#o.delivered(from, now - Date.parse(createdAt))
        this.#o.toSender(from, messageId)
        this.#o.broker.toUser({ kind: 'receipt', to: from, id: messageId })
      }
    }, (err: unknown) => {
      this.#o.log.error({ err }, 'recording an ack failed')
    })
  }

  /**
   * A recipient refuses a direct message: checked on the same path as every signed frame (shape, sender, rate,
   * signature, clock), then the message is marked rejected and its sender told, with the reject as signed.
   */
  reject (conn: Connection, frame: unknown): void {
    const checked = checkEnvelope(conn.user, frame, this.#o.checks)
    if ('code' in checked) {
      this.#o.refuse(conn, idOf(headerOf(frame)), checked)
      return
    }
    // message_type was 'reject', so the reject schema is the one that passed
    const { header, body } = checked as RejectFrame
    const rejection = storedText(checked)
    this.#o.store.reject({ toUser: header.from, fromUser: header.to, id: header.id, reason: body.reason, rejection }).then((row) => {
      if (row === undefined) {
        this.#o.refuse(conn, header.id, { code: 'unknown_message', message: `no message ${header.id} from ${header.to} is pending for you` })
        return
      }
      this.#o.rejected(header.to, body.reason)
      this.#o.toSender(header.to, header.id, rejection)
      this.#o.broker.toUser({ kind: 'receipt', to: header.to, id: header.id, rejection })
    }, (err: unknown) => {
      this.#o.log.error({ err }, 'recording a reject failed')
      this.#o.refuse(conn, header.id, NOT_STORED)
    })
  }
}
