import { Type, type Static, type TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { Value } from 'typebox/value'
import { Timestamp, UserId } from '../schemas/common.js'
import { CommandResponse, ErrorBody, MessageId, SERVER_FRAMES, type ServerFrame } from '../schemas/frames.js'

// ---- shapes of issue 14 that schemas/frames.ts does not have yet ------------------------------------------
// Client-side until the server side lands them in schemas/frames.ts (one definition per shape): then these
// go, and the imports point there.

/** Why a client refused a direct message (the `reason` of a `reject` frame). */
export const REJECT_REASONS = [
  'bad_signature', 'key_changed', 'key_rollback', 'key_expired', 'unknown_key', 'decrypt_failed', 'clock_skew', 'stale',
  'not_encrypted', 'misrouted', 'malformed'
] as const
export type RejectReason = typeof REJECT_REASONS[number]

/** A refusal the recipient signs and sends instead of an ack; the server hands it to the sender in a receipt. */
export const RejectFrame = Type.Object({
  header: Type.Object({
    message_type: Type.Literal('reject'),
    id: MessageId,
    from: UserId,
    to: UserId,
    timestamp: Timestamp,
    signature: Type.String()
  }, { additionalProperties: true }),
  body: Type.Object({ reason: Type.Enum(REJECT_REASONS) }, { additionalProperties: true })
}, { additionalProperties: true })
export type RejectFrame = Static<typeof RejectFrame>

const made = { id: MessageId, from: Type.Literal('server'), timestamp: Timestamp }

/** The receipt of a message its recipient refused: `rejection` is the reject frame as the recipient signed it. */
export const RejectedReceiptFrame = Type.Object({
  header: Type.Object({ ...made, to: UserId, message_type: Type.Literal('receipt'), in_reply_to: MessageId }),
  body: Type.Object({ status: Type.Literal('rejected'), reason: Type.String(), rejection: Type.Unknown() })
})
export type RejectedReceiptFrame = Static<typeof RejectedReceiptFrame>

/** Error frames with codes this SDK may not know yet (unknown_message, ambiguous_ack, …). */
const AnyErrorFrame = Type.Object({
  header: Type.Object({ ...made, to: UserId, message_type: Type.Literal('error'), in_reply_to: Type.Optional(MessageId) }),
  body: Type.Object({ ...ErrorBody.properties, code: Type.String() })
})

interface Checker<T> {
  Check: (value: unknown) => value is T
}

// Node compiles the schemas into code. A page under a strict Content-Security-Policy (no eval, Trusted Types),
// such as Sealwire's own web client, must not even try: it checks the same schemas as data.
const canCompile = typeof process !== 'undefined' && typeof process.versions?.node === 'string'

function checker<T extends TSchema> (schema: T): Checker<Static<T>> {
  return canCompile ? Compile(schema) as Checker<Static<T>> : { Check: (value: unknown): value is Static<T> => Value.Check(schema, value) }
}

const serverFrames = Object.fromEntries(Object.entries(SERVER_FRAMES).map(([type, schema]) => [type, checker(schema)])) as
  { [K in keyof typeof SERVER_FRAMES]: Checker<Static<typeof SERVER_FRAMES[K]>> }
const commandResponse = checker(CommandResponse)
const rejectedReceipt = checker(RejectedReceiptFrame)
const anyError = checker(AnyErrorFrame)
const rejectFrame = checker(RejectFrame)

/** The frame inside a `rejected` receipt, when it has the shape of a reject frame. */
export function parseRejectFrame (value: unknown): RejectFrame | undefined {
  return rejectFrame.Check(value) ? value : undefined
}

/** A frame that failed its schema says what it claimed to be, and its id and sender when it had them. */
export type FrameParse = { ok: true, frame: ServerFrame | RejectedReceiptFrame } | { ok: false, type: string | undefined, id?: string, from?: string }

/** A frame from the server, checked against the schema of its `message_type`. */
export function parseServerFrame (text: string): FrameParse {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { ok: false, type: undefined }
  }
  const header = (value as { header?: { message_type?: unknown, id?: unknown, from?: unknown } } | null)?.header
  const type = header?.message_type
  if (typeof type !== 'string' || !Object.hasOwn(serverFrames, type)) return { ok: false, type: undefined }
  if (serverFrames[type as keyof typeof serverFrames].Check(value)) return { ok: true, frame: value as ServerFrame }
  if (type === 'receipt' && rejectedReceipt.Check(value)) return { ok: true, frame: value }
  if (type === 'error' && anyError.Check(value)) return { ok: true, frame: value as ServerFrame }
  return {
    ok: false,
    type,
    ...(typeof header?.id === 'string' ? { id: header.id } : {}),
    ...(typeof header?.from === 'string' ? { from: header.from } : {})
  }
}

/** The content of a server_response, or undefined when it is not a CommandResponse. */
export function parseCommandResponse (content: string): CommandResponse | undefined {
  try {
    const value: unknown = JSON.parse(content)
    return commandResponse.Check(value) ? value : undefined
  } catch {
    return undefined
  }
}
