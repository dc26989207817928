import { randomBytes, randomUUID, sign } from 'node:crypto'
import { canonicalJson } from '../../services/protocol/canonical-json.js'
import type { BenchUser } from './users.js'

const MESSAGE_LABEL = 'sealwire/v1/message:'

export interface OutgoingFrame {
  id: string
  text: string
}

function signed (user: BenchUser, header: Record<string, string>, body: Record<string, string>): OutgoingFrame {
  const input = MESSAGE_LABEL + canonicalJson({ header, body })
  const signature = sign(null, Buffer.from(input, 'utf8'), user.privateKey).toString('base64')
  return { id: header.id as string, text: JSON.stringify({ header: { ...header, signature }, body }) }
}

/**
 * A signed direct message whose key, nonce and content are random bytes of the right sizes: the server
 * cannot tell them from real ciphertext, and real encryption would only measure the generator.
 */
export function directFrame (user: BenchUser, to: string, size: number): OutgoingFrame {
  return signed(user, {
    id: randomUUID(),
    from: user.userId,
    to,
    message_type: 'direct',
    timestamp: new Date().toISOString(),
    encrypted_key: randomBytes(80).toString('base64'),
    encryption_nonce: randomBytes(12).toString('base64')
  }, { content: randomBytes(size).toString('base64') })
}

export function broadcastFrame (user: BenchUser, content: string): OutgoingFrame {
  return signed(user, {
    id: randomUUID(),
    from: user.userId,
    to: '*',
    message_type: 'broadcast',
    timestamp: new Date().toISOString()
  }, { content })
}

/** An ack as the SDK sends it: `body.from` names the sender, so the server marks exactly that message. */
export function ackFrame (id: string, from: string): string {
  return `{"header":{"message_type":"ack","in_reply_to":${JSON.stringify(id)}},"body":{"from":${JSON.stringify(from)}}}`
}

export function plainText (size: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
  const bytes = randomBytes(size)
  let text = ''
  for (const byte of bytes) text += alphabet[byte % alphabet.length]
  return text
}

/** What the generator needs from a frame the server sent. */
export interface ServerFrame {
  type: string
  id: string | undefined
  from: string | undefined
  inReplyTo: string | undefined
  status: string | undefined
  code: string | undefined
  retryAfterMs: number | undefined
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function str (value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

export function readFrame (text: string): ServerFrame | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!isRecord(value) || !isRecord(value.header)) return undefined
  const { header } = value
  const body = isRecord(value.body) ? value.body : {}
  const type = str(header.message_type)
  if (type === undefined) return undefined
  return {
    type,
    id: str(header.id),
    from: str(header.from),
    inReplyTo: str(header.in_reply_to),
    status: str(body.status),
    code: str(body.code),
    retryAfterMs: typeof body.retry_after_ms === 'number' ? body.retry_after_ms : undefined
  }
}

const BROADCAST_MARK = Buffer.from('"message_type":"broadcast"')
const ID_MARK = Buffer.from('"id":"')
const QUOTE = 0x22

/**
 * The id of a broadcast envelope without decoding or parsing it: a thousand receivers each parsing every
 * broadcast would make the generator the bottleneck. Both marks can only appear in the JSON structure, since
 * quotes inside string values are escaped. Falls back to JSON.parse when the server spaces its JSON differently.
 */
export function broadcastId (data: Buffer): string | undefined {
  if (data.indexOf(BROADCAST_MARK) < 0) {
    if (data.indexOf('broadcast') < 0) return undefined
    const frame = readFrame(data.toString())
    return frame?.type === 'broadcast' ? frame.id : undefined
  }
  const at = data.indexOf(ID_MARK)
  if (at < 0) return readFrame(data.toString())?.id
  const start = at + ID_MARK.length
  return data.toString('latin1', start, data.indexOf(QUOTE, start))
}
