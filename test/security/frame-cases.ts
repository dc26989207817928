// Generated WebSocket frames for the bad-input suite: fast-check arbitraries that each give a builder of one
// case (one or a few frames) together with what PROTOCOL.md says the server must answer.
//
// The expectation of every frame comes from two places: the generator says what it broke (a bad signature,
// a spoofed sender, ...), and `classify` applies the rules that hold whatever was broken (over the size limit:
// close 1009; not JSON: invalid_json; an ack: silent when well formed; an unknown message_type: invalid_frame;
// in_reply_to exactly when header.id is a lowercase UUID). A frame that is valid after all is expected to be
// accepted, never refused.
import fc from 'fast-check'
import {
  IDENTITY_ENCODINGS, nonCanonicalS, signatureWithR, smallOrderR, torsionR
} from '../crafted-signatures.js'
import type { Identity } from '../helper.js'
import {
  b64, clone, deepText, deepValue, jcs, jsonEqual, LONE_SURROGATE, NotCanonical, type Json, type Obj, omit, put,
  type Rand, signBytes, signingInput, USER_ID, utf8, UUID
} from './util.js'

export const FRAME_CODES = [
  'invalid_json', 'invalid_frame', 'bad_signature', 'forbidden', 'unknown_recipient', 'clock_skew', 'rate_limited',
  'unknown_command', 'command_failed', 'internal'
] as const
export type Code = typeof FRAME_CODES[number]

export type Outcome =
  | { t: 'error', code: Code }
  | { t: 'receipt', status: 'accepted' | 'duplicate' }
  | { t: 'response' }

export type Expect =
  | { t: 'answer', replyTo: string | null, allowed: Outcome[] }
  | { t: 'silent' }
  | { t: 'close', codes: number[] }

export interface Step {
  data: string | Buffer
  binary?: boolean
  expect: Expect
  /** remember the frame once the server accepted it, for later replays */
  replayable?: boolean
}

export interface Case {
  kind: string
  note: string
  steps: Step[]
}

export interface Ctx {
  maxBytes: number
  me: Identity
  alice: Identity
  bob: Identity
  sink: Identity
  /** a key pair that was never registered */
  stranger: Identity
  /** the exact user ids registered */
  registered: ReadonlySet<string>
  commands: ReadonlySet<string>
  clockSkewMs: number
  rand: Rand
  now: () => number
  /** texts of frames of ours that the server accepted (for replays) */
  accepted: string[]
  /** the valid client's latest frames (alice → bob) */
  validFrames: () => Obj[]
}

/** `category` names the generator (a key of CATEGORIES), so that a sample of the cases can keep one of each */
export type Builder = ((ctx: Ctx) => Case) & { category?: string }

// ---- outcomes ----------------------------------------------------------------------------------------

const E = (...codes: Code[]): Outcome[] => codes.map((code) => ({ t: 'error', code }))
const ACCEPTED: Outcome[] = [{ t: 'receipt', status: 'accepted' }]
const DUPLICATE: Outcome[] = [{ t: 'receipt', status: 'duplicate' }]
const RESPONSE: Outcome[] = [{ t: 'response' }]
/** what a frame refused for some reason after its shape was checked may get */
const ANY_REFUSAL: Outcome[] = E('invalid_frame', 'bad_signature', 'forbidden', 'unknown_recipient', 'clock_skew', 'unknown_command')

function validOutcome (frame: Obj): Outcome[] {
  const type = (frame.header as Obj | undefined)?.message_type
  return type === 'server' ? RESPONSE : ACCEPTED
}

export function describeOutcomes (e: Expect): string {
  if (e.t === 'silent') return 'no answer (a valid ack)'
  if (e.t === 'close') return `close ${e.codes.join('/')}`
  const what = e.allowed.map((o) => o.t === 'error' ? o.code : o.t === 'receipt' ? `receipt ${o.status}` : 'server_response').join(' | ')
  return `${what}${e.replyTo === null ? ' (no in_reply_to)' : ` (in_reply_to ${e.replyTo})`}`
}

// ---- the rules that hold for every frame --------------------------------------------------------------

function isObject (v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function isValidAck (frame: unknown): boolean {
  if (!isObject(frame) || !isObject(frame.header)) return false
  const id = frame.header.in_reply_to
  return frame.header.message_type === 'ack' && typeof id === 'string' && UUID.test(id)
}

/** The expectation for a parsed frame whose generator expects `allowed` if nothing more basic is wrong. */
export function classify (frame: unknown, allowed: Outcome[]): Expect {
  const header = typeof frame === 'object' && frame !== null ? (frame as Obj).header : undefined
  const h = typeof header === 'object' && header !== null ? header as Obj : undefined
  const replyTo = typeof h?.id === 'string' && UUID.test(h.id) ? h.id : null
  if (h?.message_type === 'ack') return isValidAck(frame) ? { t: 'silent' } : { t: 'answer', replyTo: null, allowed: E('invalid_frame') }
  if (h?.message_type !== 'direct' && h?.message_type !== 'broadcast' && h?.message_type !== 'server') {
    return { t: 'answer', replyTo, allowed: E('invalid_frame') }
  }
  return { t: 'answer', replyTo, allowed }
}

/** A text frame: over the limit it closes the socket, not JSON is invalid_json, else `classify`. */
export function textStep (ctx: Ctx, text: string, allowed: Outcome[] | ((parsed: unknown) => Outcome[])): Step {
  if (Buffer.byteLength(text) > ctx.maxBytes) return { data: text, expect: { t: 'close', codes: [1009] } }
  // what the server receives: lone surrogates in the text become U+FFFD on the wire
  const received = Buffer.from(text, 'utf8').toString('utf8')
  let parsed: unknown
  try {
    parsed = JSON.parse(received)
  } catch {
    return { data: text, expect: { t: 'answer', replyTo: null, allowed: E('invalid_json') } }
  }
  return { data: text, expect: classify(parsed, typeof allowed === 'function' ? allowed(parsed) : allowed) }
}

export function frameStep (ctx: Ctx, frame: unknown, allowed: Outcome[], replayable = false): Step {
  const step = textStep(ctx, JSON.stringify(frame), allowed)
  return replayable ? { ...step, replayable } : step
}

// ---- building frames ----------------------------------------------------------------------------------

type FrameType = 'direct' | 'broadcast' | 'server'
const iso = (ms: number): string => new Date(ms).toISOString()

interface BaseOptions {
  to?: string
  id?: string
  timestamp?: string
  sek?: boolean
  content?: string
  command?: string
  params?: unknown
  meta?: boolean
}

/** A frame of the fuzzing user (unsigned): direct to `sink`, a broadcast, or a `ping` command. */
export function baseFrame (ctx: Ctx, type: FrameType, o: BaseOptions = {}): Obj {
  const header: Obj = {
    id: o.id ?? ctx.rand.uuid(),
    from: ctx.me.user_id,
    to: o.to ?? (type === 'direct' ? ctx.sink.user_id : type === 'broadcast' ? '*' : 'server'),
    message_type: type,
    timestamp: o.timestamp ?? iso(ctx.now())
  }
  if (type === 'direct') {
    header.encrypted_key = ctx.rand.b64(80)
    header.encryption_nonce = ctx.rand.b64(12)
    if (o.sek === true) header.sender_encrypted_key = ctx.rand.b64(80)
  }
  const content = o.content ?? (type === 'direct'
    ? ctx.rand.b64(16 + ctx.rand.int(120))
    : type === 'broadcast' ? 'hello everyone' : JSON.stringify({ command: o.command ?? 'ping', params: o.params }))
  const frame: Obj = { header, body: { content } }
  if (o.meta === true) frame.meta = { note: 'the server drops this' }
  return frame
}

type SignMode = 'sign' | 'lax' | 'junk'

/** Signs header and body as `signer` ("lax": as a server that forgot to refuse lone surrogates would check). */
export function signFrame (ctx: Ctx, frame: Obj, signer: Identity = ctx.me, mode: SignMode = 'sign'): Obj {
  const header = frame.header as Obj
  let signature: string
  if (mode === 'junk') {
    signature = ctx.rand.b64(64)
  } else {
    try {
      signature = b64(signBytes(signer.secretKey, signingInput(header, frame.body, mode === 'lax')))
    } catch (err) {
      if (!(err instanceof NotCanonical)) throw err
      signature = ctx.rand.b64(64)
    }
  }
  put(header, 'signature', signature)
  return frame
}

const headerOf = (frame: Obj): Obj => frame.header as Obj
const bodyOf = (frame: Obj): Obj => frame.body as Obj

/** Sets a value at "root", "header", "header.x", "body.content", ... */
function setPath (frame: Obj, path: string, value: unknown): unknown {
  if (path === 'root') return value
  const [first, second] = path.split('.') as [string, string | undefined]
  if (second === undefined) put(frame, first, value)
  else put(frame[first] as Obj, second, value)
  return frame
}

function deletePath (frame: Obj, path: string): void {
  const [first, second] = path.split('.') as [string, string | undefined]
  if (second === undefined) Reflect.deleteProperty(frame, first)
  else if (isObject(frame[first])) Reflect.deleteProperty(frame[first], second)
}

// ---- arbitraries shared by the categories -------------------------------------------------------------

const frameType = fc.constantFrom<FrameType>('direct', 'direct', 'broadcast', 'server')

const specialKeys = fc.constantFrom(
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', ' ', 'x-extra', '\u0000', 'é', '😀',
  '\uFFFF', 'ＡＢ', 'Signature', 'HEADER', 'in_reply_to', 'meta', 'received_at'
)
const extraKey = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 12 }), specialKeys)
/** values a client may add to header or body: JSON, never a lone surrogate */
const extraValue: fc.Arbitrary<Json> = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>
const extras = fc.array(fc.tuple(extraKey, extraValue), { minLength: 1, maxLength: 3 })

/** adds extra fields, never replacing one that is there; returns how many went in */
function addExtras (target: Obj, pairs: Array<[string, unknown]>): number {
  let n = 0
  for (const [k, v] of pairs) {
    if (Object.hasOwn(target, k)) continue
    put(target, k, v)
    n++
  }
  return n
}

const loneSurrogate = fc.oneof(
  fc.integer({ min: 0xd800, max: 0xdbff }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0xdc00, max: 0xdfff }).map((c) => String.fromCharCode(c)),
  fc.constant('\udc00\ud800') // a pair in the wrong order: two lone surrogates
)
const withLoneSurrogate = fc.tuple(fc.string({ unit: 'grapheme', maxLength: 8 }), loneSurrogate, fc.string({ unit: 'grapheme', maxLength: 8 }))
  .map(([a, s, b]) => `${a}${s}${b}`)
  .filter((s) => LONE_SURROGATE.test(s))

const wrongForString = fc.oneof(
  fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant([]), fc.constant({}),
  fc.array(fc.string({ maxLength: 5 }), { minLength: 1, maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { minKeys: 1, maxKeys: 2 })
)
const wrongForObject = fc.oneof(
  fc.integer(), fc.boolean(), fc.constant(null), fc.string({ maxLength: 20 }), fc.constant([]),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { minLength: 1, maxLength: 3 })
)

// ---- the categories ---------------------------------------------------------------------------------

/** Valid frames (the control group): they must be accepted. */
const valid = fc.record({
  type: frameType,
  sek: fc.boolean(),
  text: fc.string({ unit: 'grapheme', maxLength: 200 }),
  command: fc.constantFrom('ping', 'echo', 'server_info', 'user_count', 'list_commands'),
  params: fc.jsonValue({ maxDepth: 4 }),
  headerExtras: fc.option(extras, { freq: 3 }),
  bodyExtras: fc.option(extras, { freq: 3 }),
  rootExtras: fc.option(extras, { freq: 4 }),
  meta: fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 3 }), { freq: 3 }),
  toSelf: fc.integer({ min: 0, max: 9 })
}).map((p): Builder => (ctx) => {
  const frame = baseFrame(ctx, p.type, {
    sek: p.sek,
    to: p.type === 'direct' && p.toSelf === 0 ? ctx.me.user_id : undefined,
    content: p.type === 'broadcast' ? p.text : undefined,
    command: p.command,
    params: p.params
  })
  const notes: string[] = [p.type]
  if (p.headerExtras !== null && addExtras(headerOf(frame), p.headerExtras) > 0) notes.push('signed extra header fields')
  if (p.bodyExtras !== null && addExtras(bodyOf(frame), p.bodyExtras) > 0) notes.push('signed extra body fields')
  signFrame(ctx, frame)
  if (p.rootExtras !== null) {
    const root = p.rootExtras.filter(([k]) => k !== 'header' && k !== 'body' && k !== 'meta')
    if (addExtras(frame, root) > 0) notes.push('unsigned top-level fields')
  }
  if (p.meta !== null) { put(frame, 'meta', p.meta); notes.push('client meta') }
  return { kind: 'valid', note: notes.join(', '), steps: [frameStep(ctx, frame, validOutcome(frame), p.type !== 'server')] }
})

/** Broken JSON: a valid frame's text cut, with characters inserted, dropped or replaced; and random text. */
const JSON_CHARS = ['{', '}', '[', ']', ',', ':', '"', '\\', ' ', '\n', '\u0000', '\u2028', 'x', '0', '-', 'e', '\ud800', '\ufeff', "'"]
const SPECIAL_TEXTS = [
  '', ' ', 'null', 'true', '0', '-0', '1e999', '[]', '{}', '"header"', 'NaN', 'undefined', '{"header":null}',
  '{"header":{}}', '{"header":[]}', '{"header":"direct"}', '{"header":{"message_type":null}}', '\ufeff{"header":{}}',
  '{"header":{"message_type":"direct"},}', "{'header':{}}", '{"header":{"message_type":"direct"}} {}',
  '/* comment */ {"header":{}}', '{"header":{"message_type":"\\u0064irect"}}', '{"a":1,"a":2}',
  '{"__proto__":{"message_type":"direct"}}', '{"header":{"__proto__":{"message_type":"direct"}}}',
  '{"constructor":{"prototype":{"polluted":true}}}', '[{"header":{"message_type":"ack"}}]', '\u0000', '{"header":{"message_type":"direct"'
]
const brokenJson = fc.record({
  type: fc.constantFrom<FrameType | 'ack'>('direct', 'broadcast', 'server', 'ack'),
  meta: fc.boolean(),
  mutation: fc.oneof(
    fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ op: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ op: fc.constant('insert' as const), at: fc.nat(), s: fc.oneof(fc.constantFrom(...JSON_CHARS), fc.string({ unit: 'binary', minLength: 1, maxLength: 3 })) }),
    fc.record({ op: fc.constant('replace' as const), at: fc.nat(), s: fc.oneof(fc.constantFrom(...JSON_CHARS), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })) }),
    fc.record({ op: fc.constant('append' as const), s: fc.string({ unit: 'binary', minLength: 1, maxLength: 6 }) }),
    fc.record({ op: fc.constant('random' as const), s: fc.oneof(fc.string({ unit: 'binary', maxLength: 120 }), fc.string({ unit: 'grapheme-ascii', maxLength: 120 })) }),
    fc.record({ op: fc.constant('json' as const), s: fc.json({ maxDepth: 4 }) }),
    fc.record({ op: fc.constant('special' as const), s: fc.constantFrom(...SPECIAL_TEXTS) })
  )
}).map((p): Builder => (ctx) => {
  const original = p.type === 'ack'
    ? { header: { message_type: 'ack', in_reply_to: ctx.rand.uuid() } }
    : signFrame(ctx, baseFrame(ctx, p.type, { meta: p.meta }))
  const text = JSON.stringify(original)
  const m = p.mutation
  const at = 'at' in m ? m.at % (text.length + 1) : 0
  let mutated: string
  switch (m.op) {
    case 'truncate': mutated = text.slice(0, Math.min(at, text.length - 1)); break
    case 'delete': mutated = text.slice(0, at) + text.slice(at + m.n); break
    case 'insert': mutated = text.slice(0, at) + m.s + text.slice(at); break
    case 'replace': mutated = text.slice(0, at) + m.s + text.slice(at + 1); break
    case 'append': mutated = text + m.s; break
    default: mutated = m.s
  }
  const originalOutcome = p.type === 'ack' ? [] : validOutcome(original)
  const step = textStep(ctx, mutated, (parsed) => {
    // the same header and body as the original: still valid (meta and top-level fields are not signed)
    if (isObject(parsed) && jsonEqual(parsed.header, original.header) && jsonEqual(parsed.body, original.body)) return originalOutcome
    return ANY_REFUSAL
  })
  return { kind: 'broken-json', note: `${m.op} of a ${p.type} frame`, steps: [step] }
})

/** Wrong types in every field. */
const PATHS: Record<FrameType | 'ack', string[]> = {
  direct: ['root', 'header', 'body', 'meta', 'header.id', 'header.from', 'header.to', 'header.message_type', 'header.timestamp',
    'header.encrypted_key', 'header.encryption_nonce', 'header.sender_encrypted_key', 'header.signature', 'body.content'],
  broadcast: ['root', 'header', 'body', 'meta', 'header.id', 'header.from', 'header.to', 'header.message_type', 'header.timestamp', 'header.signature', 'body.content'],
  server: ['root', 'header', 'body', 'meta', 'header.id', 'header.from', 'header.to', 'header.timestamp', 'header.signature', 'body.content'],
  ack: ['root', 'header', 'header.in_reply_to', 'header.message_type']
}
const OBJECT_PATHS = new Set(['root', 'header', 'body', 'meta'])
const wrongType = fc.record({
  type: fc.constantFrom<FrameType | 'ack'>('direct', 'broadcast', 'server', 'ack'),
  pick: fc.nat(),
  forString: wrongForString,
  forObject: wrongForObject
}).map((p): Builder => (ctx) => {
  const paths = PATHS[p.type]
  const path = paths[p.pick % paths.length] as string
  const value = OBJECT_PATHS.has(path) ? p.forObject : p.forString
  if (p.type === 'ack') {
    const ack: Obj = { header: { message_type: 'ack', in_reply_to: ctx.rand.uuid() } }
    const frame = setPath(ack, path, value)
    return { kind: 'wrong-type', note: `ack ${path} = ${JSON.stringify(value)}`, steps: [frameStep(ctx, frame, E('invalid_frame'))] }
  }
  let frame: unknown = baseFrame(ctx, p.type, { sek: true })
  if (path !== 'header.signature' && path !== 'root' && path !== 'header') {
    frame = setPath(frame as Obj, path, value)
    if (isObject((frame as Obj).header)) signFrame(ctx, frame as Obj, ctx.me, 'lax')
  } else if (path === 'header.signature') {
    setPath(frame as Obj, path, value)
  } else {
    frame = setPath(signFrame(ctx, frame as Obj), path, value)
  }
  return { kind: 'wrong-type', note: `${p.type} ${path} = ${JSON.stringify(value)}`, steps: [frameStep(ctx, frame, E('invalid_frame'))] }
})

/** Missing fields: required ones must be refused, optional ones (sender_encrypted_key, meta) are not needed. */
const REMOVABLE: Record<FrameType | 'ack', string[]> = {
  direct: ['header.id', 'header.from', 'header.to', 'header.message_type', 'header.timestamp', 'header.encrypted_key',
    'header.encryption_nonce', 'header.sender_encrypted_key', 'header.signature', 'body.content', 'body', 'meta'],
  broadcast: ['header.id', 'header.from', 'header.to', 'header.message_type', 'header.timestamp', 'header.signature', 'body.content', 'body', 'meta'],
  server: ['header.id', 'header.from', 'header.to', 'header.timestamp', 'header.signature', 'body.content', 'body', 'meta'],
  ack: ['header.in_reply_to', 'header.message_type', 'header']
}
const OPTIONAL = new Set(['header.sender_encrypted_key', 'meta'])
const missing = fc.record({
  type: fc.constantFrom<FrameType | 'ack'>('direct', 'direct', 'broadcast', 'server', 'ack'),
  picks: fc.uniqueArray(fc.nat(11), { minLength: 1, maxLength: 3 })
}).map((p): Builder => (ctx) => {
  const removable = REMOVABLE[p.type]
  const gone = [...new Set(p.picks.map((i) => removable[i % removable.length] as string))]
  if (p.type === 'ack') {
    const ack: Obj = { header: { message_type: 'ack', in_reply_to: ctx.rand.uuid() } }
    for (const path of gone) deletePath(ack, path)
    return { kind: 'missing-field', note: `ack without ${gone.join(', ')}`, steps: [frameStep(ctx, ack, E('invalid_frame'))] }
  }
  const frame = baseFrame(ctx, p.type, { sek: true, meta: true })
  for (const path of gone) if (path !== 'header.signature') deletePath(frame, path)
  if (isObject(frame.header)) signFrame(ctx, frame)
  if (gone.includes('header.signature') && isObject(frame.header)) deletePath(frame, 'header.signature')
  const allowed = gone.every((g) => OPTIONAL.has(g)) ? validOutcome(frame) : E('invalid_frame')
  return { kind: 'missing-field', note: `${p.type} without ${gone.join(', ')}`, steps: [frameStep(ctx, frame, allowed)] }
})

/** Extra fields: signed with the rest they are fine; added after signing they break the signature. */
const extraField = fc.record({
  type: fc.constantFrom<FrameType | 'ack'>('direct', 'broadcast', 'server', 'ack'),
  where: fc.constantFrom('header', 'body', 'root', 'meta'),
  pairs: extras,
  afterSigning: fc.boolean()
}).map((p): Builder => (ctx) => {
  if (p.type === 'ack') {
    const ack: Obj = { header: { message_type: 'ack', in_reply_to: ctx.rand.uuid() } }
    addExtras(p.where === 'header' ? ack.header as Obj : ack, p.pairs)
    return { kind: 'extra-field', note: `ack with extra ${p.where} fields`, steps: [frameStep(ctx, ack, [])] }
  }
  const frame = baseFrame(ctx, p.type)
  const late = p.afterSigning && (p.where === 'header' || p.where === 'body')
  const pairs = p.where === 'root' ? p.pairs.filter(([k]) => k !== 'header' && k !== 'body' && k !== 'meta') : p.pairs
  let added = 0
  const add = (): void => {
    if (p.where === 'meta') { const meta = {}; added = addExtras(meta, pairs); put(frame, 'meta', meta) } else added = addExtras(p.where === 'root' ? frame : frame[p.where] as Obj, pairs)
  }
  if (!late) add()
  signFrame(ctx, frame)
  if (late) add()
  const allowed = late && added > 0 ? E('bad_signature') : validOutcome(frame)
  return { kind: 'extra-field', note: `${p.type} with ${added} extra ${p.where} fields${late ? ' added after signing' : ''}`, steps: [frameStep(ctx, frame, allowed)] }
})

/** Huge strings, near and over MAX_MESSAGE_BYTES (over it: close 1009). */
const huge = fc.record({
  variant: fc.constantFrom('meta-pad', 'signed-pad', 'content', 'from', 'garbage', 'json-junk', 'echo', 'multibyte'),
  delta: fc.oneof(fc.integer({ min: -256, max: 256 }), fc.integer({ min: -8192, max: 8192 }), fc.constantFrom(-1, 0, 1), fc.integer({ min: 1, max: 100_000 })),
  char: fc.constantFrom('é', '😀', '€', '\u0800')
}).map((p): Builder => (ctx) => {
  const target = Math.max(0, ctx.maxBytes + p.delta)
  const note = `${p.variant}, ${target} bytes (limit ${ctx.maxBytes})`
  const fit = (make: (pad: string) => string, unit = 'x'): string => {
    const unitBytes = Buffer.byteLength(unit)
    const empty = Buffer.byteLength(make(''))
    return make(unit.repeat(Math.max(0, Math.floor((target - empty) / unitBytes))))
  }
  switch (p.variant) {
    case 'meta-pad':
    case 'multibyte': {
      const frame = signFrame(ctx, baseFrame(ctx, 'direct'))
      const text = fit((pad) => JSON.stringify({ ...frame, meta: { pad } }), p.variant === 'multibyte' ? p.char : 'x')
      return { kind: 'huge', note, steps: [textStep(ctx, text, ACCEPTED)] }
    }
    case 'signed-pad': {
      const make = (pad: string): string => {
        const frame = baseFrame(ctx, 'broadcast', { id: 'f'.repeat(8) + '-0000-4000-8000-' + '0'.repeat(12) })
        put(headerOf(frame), 'pad', pad)
        return JSON.stringify(signFrame(ctx, frame))
      }
      const size = Buffer.byteLength(make(''))
      const frame = baseFrame(ctx, 'broadcast')
      put(headerOf(frame), 'pad', 'x'.repeat(Math.max(0, target - size)))
      return { kind: 'huge', note, steps: [frameStep(ctx, signFrame(ctx, frame), ACCEPTED)] }
    }
    case 'content': {
      const frame = baseFrame(ctx, 'direct', { content: '' })
      const room = target - Buffer.byteLength(JSON.stringify(signFrame(ctx, clone(frame))))
      bodyOf(frame).content = ctx.rand.b64(Math.max(0, Math.floor(room / 4) * 3))
      return { kind: 'huge', note, steps: [frameStep(ctx, signFrame(ctx, frame), ACCEPTED)] }
    }
    case 'from': {
      const frame = signFrame(ctx, baseFrame(ctx, 'direct'), ctx.me, 'junk')
      const text = fit((pad) => JSON.stringify({ ...frame, header: { ...headerOf(frame), from: `m${pad}` } }))
      return { kind: 'huge', note, steps: [textStep(ctx, text, E('invalid_frame'))] }
    }
    case 'garbage':
      return { kind: 'huge', note, steps: [textStep(ctx, fit((pad) => `{"header":${pad}`, '['), [])] }
    case 'json-junk':
      return { kind: 'huge', note, steps: [textStep(ctx, fit((pad) => `[${pad}1]`, '1,'), E('invalid_frame'))] }
    default: {
      const make = (pad: string): string => JSON.stringify(signFrame(ctx, baseFrame(ctx, 'server', { command: 'echo', params: pad, id: '00000000-0000-4000-8000-000000000000' })))
      const size = Buffer.byteLength(make(''))
      const frame = signFrame(ctx, baseFrame(ctx, 'server', { command: 'echo', params: 'x'.repeat(Math.max(0, target - size)) }))
      return { kind: 'huge', note, steps: [frameStep(ctx, frame, RESPONSE)] }
    }
  }
})

/** Deep nesting: refused where it is signed (JCS has a depth limit), ignored where it is not. */
const nesting = fc.record({
  where: fc.constantFrom('header-extra', 'body-extra', 'meta', 'root', 'content', 'frame', 'header', 'ack-extra', 'echo'),
  depth: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 21, max: 64 }), fc.integer({ min: 65, max: 30_000 }), fc.integer({ min: 3900, max: 4400 })),
  shape: fc.constantFrom<'array' | 'object'>('array', 'object')
}).map((p): Builder => (ctx) => {
  const note = `${p.shape} nested ${p.depth} deep in ${p.where}`
  const signable = p.depth <= 64
  const deep = signable ? deepValue(p.depth, p.shape) : '\u0001DEEP\u0001'
  // deep values too deep to stringify go in as text
  const finish = (frame: unknown): string => JSON.stringify(frame).replace('"\\u0001DEEP\\u0001"', deepText(p.depth, p.shape))
  const step = (frame: unknown, allowed: Outcome[]): Case => ({ kind: 'nesting', note, steps: [textStep(ctx, finish(frame), allowed)] })
  switch (p.where) {
    case 'header-extra':
    case 'body-extra': {
      const frame = baseFrame(ctx, 'broadcast')
      put(p.where === 'header-extra' ? headerOf(frame) : bodyOf(frame), 'nested', deep)
      signFrame(ctx, frame, ctx.me, signable ? 'sign' : 'junk')
      return step(frame, p.depth <= 20 ? ACCEPTED : signable ? [...ACCEPTED, ...E('invalid_frame')] : E('invalid_frame', 'bad_signature'))
    }
    case 'meta':
    case 'root': {
      const frame = signFrame(ctx, baseFrame(ctx, 'broadcast'))
      if (p.where === 'meta') put(frame, 'meta', { nested: deep }); else put(frame, 'nested', deep)
      return step(frame, ACCEPTED)
    }
    case 'content':
      return step(signFrame(ctx, { ...baseFrame(ctx, 'broadcast'), body: { content: deep } }, ctx.me, 'junk'), E('invalid_frame'))
    case 'frame':
      return step(deep, E('invalid_frame'))
    case 'header':
      return step({ header: deep, body: { content: 'x' } }, E('invalid_frame'))
    case 'ack-extra':
      return step({ header: { message_type: 'ack', in_reply_to: ctx.rand.uuid(), nested: deep } }, [])
    default: {
      // the command's params are JSON text inside body.content: the signature covers a plain string
      const frame = baseFrame(ctx, 'server')
      bodyOf(frame).content = `{"command":"echo","params":${deepText(p.depth, p.shape)}}`
      return { kind: 'nesting', note, steps: [frameStep(ctx, signFrame(ctx, frame), RESPONSE)] }
    }
  }
})

/** Invalid base64 in every binary field. */
const B64_FIELDS: Record<string, number> = { signature: 64, encrypted_key: 80, encryption_nonce: 12, sender_encrypted_key: 80, content: 0 }
const DEFECTS = ['url-safe', 'space', 'newline', 'bang', 'unicode', 'dot', 'percent', 'no-padding', 'extra-padding', 'pad-middle',
  'non-canonical', 'truncate', 'leading-space', 'trailing-newline', 'lowercase-pad'] as const
type Defect = typeof DEFECTS[number]

/** Breaks canonical base64 text in one way; undefined when that way does not apply. */
export function breakBase64 (text: string, defect: Defect, at: number): string | undefined {
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0
  const data = text.length - pad
  const i = data === 0 ? 0 : at % data
  const replaceAt = (c: string): string => text.slice(0, i) + c + text.slice(i + 1)
  switch (defect) {
    case 'url-safe': return replaceAt(at % 2 === 0 ? '-' : '_')
    case 'space': return replaceAt(' ')
    case 'newline': return `${text.slice(0, i)}\n${text.slice(i)}`
    case 'bang': return replaceAt('!')
    case 'unicode': return replaceAt(['é', 'Ａ', '٣', '\u00a0'][at % 4] as string)
    case 'dot': return replaceAt('.')
    case 'percent': return replaceAt('%')
    case 'no-padding': return pad === 0 ? undefined : text.slice(0, data)
    case 'extra-padding': return `${text}${pad === 2 ? '=' : '=='}`
    case 'pad-middle': return data < 4 ? undefined : `${text.slice(0, 4)}=${text.slice(4)}`
    case 'truncate': return text.slice(0, -1)
    case 'leading-space': return ` ${text}`
    case 'trailing-newline': return `${text}\n`
    case 'lowercase-pad': return pad === 0 ? undefined : text.slice(0, data) + '-'.repeat(pad)
    case 'non-canonical': {
      if (pad === 0) return undefined
      const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
      const last = data - 1
      const sextet = ALPHABET.indexOf(text[last] as string)
      const unused = pad === 2 ? 15 : 3
      const bits = (at % unused) + 1
      return text.slice(0, last) + (ALPHABET[(sextet & ~unused) | bits] as string) + text.slice(last + 1)
    }
  }
}

const base64 = fc.record({
  field: fc.constantFrom(...Object.keys(B64_FIELDS)),
  defect: fc.constantFrom(...DEFECTS),
  at: fc.nat(),
  contentBytes: fc.integer({ min: 1, max: 100 }),
  type: frameType
}).map((p): Builder => (ctx) => {
  const type: FrameType = p.field === 'signature' ? p.type : 'direct'
  let contentBytes = p.contentBytes
  // non-canonical trailing bits need padding: a length that is not a multiple of 3
  if (p.defect === 'non-canonical' && contentBytes % 3 === 0) contentBytes += 1
  const frame = baseFrame(ctx, type, { sek: true, content: ctx.rand.b64(contentBytes) })
  const header = headerOf(frame)
  const where = p.field === 'content' ? bodyOf(frame) : header
  if (p.field === 'signature') {
    signFrame(ctx, frame)
  }
  const good = where[p.field] as string
  const bad = breakBase64(good, p.defect, p.at) ?? breakBase64(good, 'extra-padding', p.at) as string
  put(where, p.field, bad)
  if (p.field !== 'signature') signFrame(ctx, frame)
  return { kind: 'base64', note: `${type} ${p.field}: ${p.defect} (${JSON.stringify(bad).slice(0, 40)})`, steps: [frameStep(ctx, frame, E('invalid_frame'))] }
})

/** Canonical base64 of the wrong number of bytes. */
const keyLength = fc.record({
  field: fc.constantFrom('signature', 'encrypted_key', 'encryption_nonce', 'sender_encrypted_key'),
  length: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.constantFrom(0, 1, 11, 13, 31, 32, 33, 63, 65, 79, 81, 96, 128))
}).map((p): Builder => (ctx) => {
  const right = B64_FIELDS[p.field] as number
  const length = p.length === right ? right + 1 : p.length
  const frame = baseFrame(ctx, 'direct', { sek: true })
  if (p.field === 'signature') signFrame(ctx, frame)
  put(headerOf(frame), p.field, ctx.rand.b64(length))
  if (p.field !== 'signature') signFrame(ctx, frame)
  return { kind: 'key-length', note: `${p.field} of ${length} bytes (not ${right})`, steps: [frameStep(ctx, frame, E('invalid_frame'))] }
})

/** Bad and non-canonical signatures over otherwise valid frames. */
const SIGNATURE_DEFECTS = ['random', 'other-key', 'victim-key', 'no-label', 'login-label', 'stringify', 'with-meta', 'flip-bit',
  'zeros', 'ones', 'non-canonical-s', 'torsion-r', 'small-order-r', 'non-canonical-r', 'truncated-input', 'other-frame',
  'signature-of-signature'] as const
const badSignature = fc.record({
  type: frameType,
  how: fc.constantFrom(...SIGNATURE_DEFECTS),
  bit: fc.nat(511),
  pick: fc.nat(2)
}).map((p): Builder => (ctx) => {
  const frame = baseFrame(ctx, p.type, { meta: p.how === 'with-meta' })
  const header = headerOf(frame)
  const input = signingInput(header, frame.body)
  const key = ctx.me.secretKey
  let sig: Uint8Array
  let stillValid = false
  switch (p.how) {
    case 'random': sig = ctx.rand.bytes(64); break
    case 'other-key': sig = signBytes(ctx.stranger.secretKey, input); break
    case 'victim-key': sig = signBytes(ctx.alice.secretKey, input); break
    case 'no-label': sig = signBytes(key, input.slice('sealwire/v1/message:'.length)); break
    case 'login-label': sig = signBytes(key, `sealwire/v1/login:${input.slice('sealwire/v1/message:'.length)}`); break
    case 'stringify': {
      const lax = `sealwire/v1/message:${JSON.stringify({ header: omit(header, 'signature'), body: frame.body })}`
      stillValid = lax === input
      sig = signBytes(key, lax)
      break
    }
    case 'with-meta': sig = signBytes(key, `sealwire/v1/message:${jcs({ body: frame.body, header, meta: frame.meta })}`); break
    case 'flip-bit': { sig = signBytes(key, input); sig[p.bit >> 3] = (sig[p.bit >> 3] as number) ^ (1 << (p.bit & 7)); break }
    case 'zeros': sig = new Uint8Array(64); break
    case 'ones': sig = new Uint8Array(64).fill(0xff); break
    case 'non-canonical-s': sig = nonCanonicalS(signBytes(key, input)); break
    case 'torsion-r': sig = torsionR(key, utf8(input)); break
    case 'small-order-r': sig = smallOrderR(key, utf8(input)); break
    case 'non-canonical-r': sig = signatureWithR(key, utf8(input), (IDENTITY_ENCODINGS[1 + p.pick] as { bytes: Uint8Array }).bytes); break
    case 'truncated-input': sig = signBytes(key, input.slice(0, -1)); break
    case 'other-frame': sig = signBytes(key, signingInput(headerOf(baseFrame(ctx, p.type)), frame.body)); break
    default: sig = signBytes(key, b64(signBytes(key, input)))
  }
  put(header, 'signature', b64(sig))
  return { kind: 'bad-signature', note: `${p.type}: ${p.how}`, steps: [frameStep(ctx, frame, stillValid ? validOutcome(frame) : E('bad_signature'))] }
})

/** Spoofed senders: header.from is someone else. */
const spoof = fc.record({
  type: frameType,
  from: fc.oneof(
    fc.constantFrom('@alice', '@bob', '@sink', '@stranger', '@upper', 'server', 'SERVER', '*', 'Server'),
    fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$/),
    fc.string({ maxLength: 40 })
  ),
  victimSigns: fc.boolean(),
  stolen: fc.integer({ min: 0, max: 5 })
}).map((p): Builder => (ctx) => {
  const stolen = ctx.validFrames()
  if (p.stolen === 0 && stolen.length > 0) {
    // a valid frame of the valid client, sent again on another user's connection
    const frame = stolen[p.from.length % stolen.length] as Obj
    return { kind: 'spoofed-sender', note: 'a frame of alice replayed on mallory\'s connection', steps: [frameStep(ctx, frame, E('forbidden'))] }
  }
  // a Map: generated names like "constructor" must not find Object.prototype's members
  const victims = new Map<string, Identity>([['@alice', ctx.alice], ['@bob', ctx.bob], ['@sink', ctx.sink], ['@stranger', ctx.stranger]])
  const from = p.from === '@upper' ? ctx.me.user_id.toUpperCase() : victims.get(p.from)?.user_id ?? p.from
  const frame = baseFrame(ctx, p.type)
  put(headerOf(frame), 'from', from)
  const signer = p.victimSigns ? victims.get(p.from) ?? ctx.me : ctx.me
  signFrame(ctx, frame, signer, 'lax')
  const allowed = from === ctx.me.user_id
    ? validOutcome(frame)
    : USER_ID.test(from) ? E('forbidden') : E('invalid_frame')
  return { kind: 'spoofed-sender', note: `${p.type} from ${JSON.stringify(from)} signed by ${signer.user_id}`, steps: [frameStep(ctx, frame, allowed)] }
})

/** Unknown recipients, and recipients that do not fit the message type. */
const unknownRecipient = fc.record({
  to: fc.oneof(
    fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$/),
    fc.constantFrom('Sink', 'SINK', 'server', 'Server', 'nobody', 'a'.repeat(32), 'alice.', 'bob_', 'ALICE')
  ),
  routing: fc.integer({ min: 0, max: 4 })
}).map((p): Builder => (ctx) => {
  if (p.routing === 0) {
    // a broadcast or a command addressed to a user, a direct message to everyone
    const cases: Array<[FrameType, string]> = [['broadcast', ctx.sink.user_id], ['server', ctx.sink.user_id], ['direct', '*'], ['broadcast', 'server'], ['server', '*']]
    const [type, to] = cases[p.to.length % cases.length] as [FrameType, string]
    const frame = signFrame(ctx, baseFrame(ctx, type, { to }))
    return { kind: 'unknown-recipient', note: `${type} to ${to}`, steps: [frameStep(ctx, frame, E('invalid_frame'))] }
  }
  const frame = signFrame(ctx, baseFrame(ctx, 'direct', { to: p.to }))
  const allowed = ctx.registered.has(p.to) ? ACCEPTED : E('unknown_recipient')
  return { kind: 'unknown-recipient', note: `direct to ${JSON.stringify(p.to)}`, steps: [frameStep(ctx, frame, allowed)] }
})

/** Replayed ids: the same (from, id) a second time is answered `duplicate`. */
const replay = fc.record({
  variant: fc.constantFrom('twice', 'thrice', 'resigned', 'earlier', 'broadcast-twice', 'other-type'),
  pick: fc.nat()
}).map((p): Builder => (ctx) => {
  const note = p.variant
  if (p.variant === 'earlier' && ctx.accepted.length > 0) {
    const text = ctx.accepted[p.pick % ctx.accepted.length] as string
    return { kind: 'replay', note: 'a frame accepted in an earlier batch, sent again', steps: [textStep(ctx, text, DUPLICATE)] }
  }
  const type: FrameType = p.variant === 'broadcast-twice' ? 'broadcast' : 'direct'
  const first = signFrame(ctx, baseFrame(ctx, type))
  const steps: Step[] = [frameStep(ctx, first, ACCEPTED, true)]
  const id = headerOf(first).id as string
  if (p.variant === 'resigned') {
    steps.push(frameStep(ctx, signFrame(ctx, baseFrame(ctx, 'direct', { id })), DUPLICATE))
  } else if (p.variant === 'other-type') {
    // the same id on a broadcast: (from, id) is taken whatever the type
    steps.push(frameStep(ctx, signFrame(ctx, baseFrame(ctx, 'broadcast', { id })), DUPLICATE))
  } else {
    steps.push(frameStep(ctx, first, DUPLICATE))
    if (p.variant === 'thrice') steps.push(frameStep(ctx, first, DUPLICATE))
  }
  return { kind: 'replay', note, steps }
})

/** Clock skew, and timestamps that only look like timestamps. */
const YEAR_MS = 365 * 86_400_000
const clock = fc.record({
  type: frameType,
  variant: fc.constantFrom('ahead', 'behind', 'inside', 'calendar', 'format', 'extreme'),
  offset: fc.oneof(fc.integer({ min: 0, max: 3_600_000 }), fc.integer({ min: 0, max: 30 * YEAR_MS })),
  field: fc.constantFrom('month', 'day', 'hour', 'minute', 'second', 'feb30'),
  value: fc.integer({ min: 0, max: 99 }),
  format: fc.nat()
}).map((p): Builder => (ctx) => {
  const skew = ctx.clockSkewMs
  const now = ctx.now()
  // frames are built ahead of sending: on a loaded machine a minute may pass before one goes out
  const margin = 60_000
  let timestamp: string
  let allowed: Outcome[]
  let note: string
  const frame0 = baseFrame(ctx, p.type)
  switch (p.variant) {
    case 'ahead':
    case 'behind': {
      const offset = (skew + margin + p.offset) * (p.variant === 'ahead' ? 1 : -1)
      timestamp = iso(Math.max(-62_167_219_200_000, Math.min(253_402_300_799_999, now + offset)))
      allowed = E('clock_skew')
      note = `${p.variant} by ${offset} ms`
      break
    }
    case 'inside': {
      const offset = (p.offset % (2 * (skew - margin))) - (skew - margin)
      timestamp = iso(now + offset)
      allowed = validOutcome(frame0)
      note = `inside the window by ${offset} ms`
      break
    }
    case 'calendar': {
      // the right shape, but no such instant: never valid (PROTOCOL: exactly as toISOString prints it)
      const d = new Date(now)
      const two = (n: number): string => String(n).padStart(2, '0')
      const parts = { year: String(d.getUTCFullYear()), month: two(d.getUTCMonth() + 1), day: two(d.getUTCDate()), hour: two(d.getUTCHours()), minute: two(d.getUTCMinutes()), second: two(d.getUTCSeconds()) }
      const bad: Record<string, number[]> = { month: [0, 13, 19, 99], day: [0, 32, 40, 99], hour: [24, 25, 30, 99], minute: [60, 61, 75, 99], second: [60, 61, 75, 99] }
      if (p.field === 'feb30') {
        parts.month = '02'
        parts.day = String(30 + (p.value % 2))
      } else {
        const choices = bad[p.field] as number[]
        ;(parts as Record<string, string>)[p.field] = two(choices[p.value % choices.length] as number)
      }
      timestamp = `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}.${String(d.getUTCMilliseconds()).padStart(3, '0')}Z`
      allowed = E('invalid_frame', 'clock_skew')
      note = `impossible ${p.field}: ${timestamp}`
      break
    }
    case 'format': {
      const good = iso(now)
      const formats = [
        good.replace(/\.\d{3}Z$/, 'Z'), good.replace(/(\.\d{2})\dZ$/, '$1Z'), good.replace(/Z$/, '0Z'), good.replace('T', 't'),
        good.replace(/Z$/, 'z'), good.replace(/Z$/, '+00:00'), good.replace('T', ' '), `+00${good}`, ` ${good}`, `${good} `,
        String(now), good.slice(0, 10), new Date(now).toString(), new Date(now).toUTCString(), good.replace(/Z$/, ''),
        good.replace(/-/g, '/'), `${good}\n`, good.replace(/\d/, '٣'), good.replace(/Z$/, 'Z\u0000'), ''
      ]
      timestamp = formats[p.format % formats.length] as string
      allowed = E('invalid_frame')
      note = `timestamp format ${JSON.stringify(timestamp)}`
      break
    }
    default: {
      const extremes = ['0000-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z', '1970-01-01T00:00:00.000Z', '2000-02-29T12:00:00.000Z']
      timestamp = extremes[p.format % extremes.length] as string
      allowed = E('clock_skew')
      note = `timestamp ${timestamp}`
    }
  }
  headerOf(frame0).timestamp = timestamp
  return { kind: 'clock', note: `${p.type}: ${note}`, steps: [frameStep(ctx, signFrame(ctx, frame0), allowed)] }
})

/** Lone surrogates: refused where signed, harmless where not; invalid UTF-8 on the wire closes with 1007. */
const surrogate = fc.record({
  where: fc.constantFrom('broadcast-content', 'header-extra', 'body-extra', 'key', 'nested', 'meta', 'ack-extra', 'echo-escaped', 'raw-utf8'),
  s: withLoneSurrogate,
  bytes: fc.constantFrom('ff', 'c080', 'eda080', 'edbfbf', 'e282', 'f4908080', 'c3', 'f8888080')
}).map((p): Builder => (ctx) => {
  const note = `${p.where}: ${JSON.stringify(p.s)}`
  switch (p.where) {
    case 'raw-utf8': {
      const frame = signFrame(ctx, baseFrame(ctx, 'broadcast', { content: 'XX' }))
      const text = Buffer.from(JSON.stringify(frame))
      const at = text.indexOf('XX')
      const data = Buffer.concat([text.subarray(0, at), Buffer.from(p.bytes, 'hex'), text.subarray(at + 2)])
      return { kind: 'surrogate', note: `invalid UTF-8 ${p.bytes} in a text frame`, steps: [{ data, expect: { t: 'close', codes: [1007] } }] }
    }
    case 'meta': {
      const frame = signFrame(ctx, baseFrame(ctx, 'broadcast'))
      put(frame, 'meta', { note: p.s })
      return { kind: 'surrogate', note, steps: [frameStep(ctx, frame, ACCEPTED)] }
    }
    case 'ack-extra':
      return { kind: 'surrogate', note, steps: [frameStep(ctx, { header: { message_type: 'ack', in_reply_to: ctx.rand.uuid(), note: p.s } }, [])] }
    case 'echo-escaped': {
      // JSON text inside body.content that spells a lone surrogate as \\uD800: the signed string itself is plain ASCII
      const frame = signFrame(ctx, baseFrame(ctx, 'server', { command: 'echo', params: p.s }))
      return { kind: 'surrogate', note, steps: [frameStep(ctx, frame, RESPONSE)] }
    }
    default: {
      const frame = baseFrame(ctx, p.where === 'broadcast-content' ? 'broadcast' : 'direct')
      if (p.where === 'broadcast-content') bodyOf(frame).content = p.s
      else if (p.where === 'header-extra') put(headerOf(frame), 'note', p.s)
      else if (p.where === 'body-extra') put(bodyOf(frame), 'note', p.s)
      else if (p.where === 'key') put(headerOf(frame), p.s, 'value')
      else put(headerOf(frame), 'nested', { list: ['ok', { deeper: p.s }] })
      // signed as a server that did not look for lone surrogates would verify it
      signFrame(ctx, frame, ctx.me, 'lax')
      return { kind: 'surrogate', note, steps: [frameStep(ctx, frame, E('invalid_frame'))] }
    }
  }
})

/** Unknown message types. */
const unknownType = fc.record({
  type: fc.oneof(
    fc.constantFrom('receipt', 'error', 'presence', 'server_response', 'Direct', 'DIRECT', 'direct ', ' direct', 'ack ', 'ACK', '', '*',
      'ping', 'delivered', 'broadcast\u0000', 'dіrect', 'server\n', '__proto__', 'constructor', 'toString'),
    fc.string({ unit: 'binary', maxLength: 12 })
  ),
  base: frameType
}).map((p): Builder => (ctx) => {
  const type = ['direct', 'broadcast', 'server', 'ack'].includes(p.type) ? 'Direct' : p.type
  const frame = baseFrame(ctx, p.base)
  headerOf(frame).message_type = type
  signFrame(ctx, frame, ctx.me, 'lax')
  return { kind: 'unknown-type', note: `message_type ${JSON.stringify(type)}`, steps: [frameStep(ctx, frame, E('invalid_frame'))] }
})

/** Acks: for ids nobody knows, for other users' messages (must change nothing), and malformed ones. */
const acks = fc.record({
  variant: fc.constantFrom('unknown-id', 'valid-pair-id', 'own-sent-id', 'extra-fields', 'with-id', 'twice',
    'uppercase', 'braces', 'missing', 'number', 'null', 'array', 'object', 'spaces', 'short', 'empty', 'not-uuid', 'header-array'),
  pick: fc.nat()
}).map((p): Builder => (ctx) => {
  const id = ctx.rand.uuid()
  const ack = (inReplyTo: unknown, extra: Obj = {}): Obj => ({ header: { message_type: 'ack', in_reply_to: inReplyTo, ...extra } })
  const validIds = ctx.validFrames().map((f) => headerOf(f).id as string)
  const ownIds = ctx.accepted.map((t) => (JSON.parse(t) as { header: { id: string } }).header.id)
  const frames: Record<string, Obj | unknown[]> = {
    'unknown-id': ack(id),
    'valid-pair-id': ack(validIds.length > 0 ? validIds[p.pick % validIds.length] : id),
    'own-sent-id': ack(ownIds.length > 0 ? ownIds[p.pick % ownIds.length] : id),
    'extra-fields': ack(id, { signature: ctx.rand.b64(64), from: 'alice', to: 'bob' }),
    'with-id': ack(id, { id: ctx.rand.uuid() }),
    twice: ack(id),
    uppercase: ack(id.toUpperCase()),
    braces: ack(`{${id}}`),
    missing: { header: { message_type: 'ack' } },
    number: ack(42),
    null: ack(null),
    array: ack([id]),
    object: ack({ id }),
    spaces: ack(` ${id} `),
    short: ack(id.slice(1)),
    empty: ack(''),
    'not-uuid': ack('not-a-uuid-but-36-characters-long!!!'),
    'header-array': { header: [id] }
  }
  const frame = frames[p.variant]
  const steps = [frameStep(ctx, frame, E('invalid_frame'))]
  if (p.variant === 'twice') steps.push(frameStep(ctx, frame, []))
  return { kind: 'ack', note: p.variant, steps }
})

/** Commands: unknown names, bad content, and valid ones with odd params. */
const COMMAND = /^[a-z][a-z0-9_]{0,63}$/
const commands = fc.record({
  variant: fc.constantFrom('unknown', 'bad-content', 'valid'),
  name: fc.oneof(
    fc.stringMatching(/^[a-z][a-z0-9_]{0,20}$/),
    fc.constantFrom('constructor', 'hasownproperty', 'tostring', 'valueof', 'prototype', '__proto__', 'PING', 'ping ', 'Ping', 'a'.repeat(65), '')
  ),
  content: fc.oneof(
    fc.constantFrom('ping', '', '[]', 'null', '42', '"ping"', '{"cmd":"ping"}', '{"command":5}', '{"command":"PING"}', '{"command":"ping"',
      '{"command":""}', '{"command":"ping","params":}', '{"command":null}', '[{"command":"ping"}]', '{"command":["ping"]}',
      '{"command":"ping","x":1}', '{"command":"echo","params":{"__proto__":{"x":1}}}', '{"command":"list_commands","params":null}'),
    fc.string({ maxLength: 40 }),
    fc.json({ maxDepth: 2 })
  ),
  params: fc.jsonValue({ maxDepth: 5 })
}).map((p): Builder => (ctx) => {
  let content: string
  if (p.variant === 'unknown') content = JSON.stringify({ command: p.name, params: p.params })
  else if (p.variant === 'bad-content') content = p.content
  else content = JSON.stringify({ command: ['ping', 'echo', 'server_info', 'user_count', 'list_commands'][p.name.length % 5], params: p.params })
  // what the server must answer, from the content alone
  let allowed: Outcome[] = E('invalid_frame')
  try {
    const request = JSON.parse(content) as unknown
    if (isObject(request) && typeof request.command === 'string' && COMMAND.test(request.command)) {
      allowed = ctx.commands.has(request.command) ? RESPONSE : E('unknown_command')
    }
  } catch {}
  const frame = signFrame(ctx, baseFrame(ctx, 'server', { content }))
  return { kind: 'command', note: `content ${JSON.stringify(content).slice(0, 60)}`, steps: [frameStep(ctx, frame, allowed)] }
})

/** Binary frames close the socket with 1003. */
const binary = fc.record({ valid: fc.boolean(), bytes: fc.uint8Array({ maxLength: 64 }) }).map((p): Builder => (ctx) => {
  const data = p.valid ? Buffer.from(JSON.stringify(signFrame(ctx, baseFrame(ctx, 'broadcast')))) : Buffer.from(p.bytes)
  return { kind: 'binary', note: p.valid ? 'a valid frame sent as binary' : `${p.bytes.length} random bytes as binary`, steps: [{ data, binary: true, expect: { t: 'close', codes: [1003] } }] }
})

export const CATEGORIES = {
  valid,
  brokenJson,
  wrongType,
  missing,
  extraField,
  huge,
  nesting,
  base64,
  keyLength,
  badSignature,
  spoof,
  unknownRecipient,
  replay,
  clock,
  surrogate,
  unknownType,
  acks,
  commands,
  binary
}

/** Every category, weighted; `closing: false` leaves out those that end the connection. */
export function frameCases (closing = true): fc.Arbitrary<Builder> {
  const w = (category: keyof typeof CATEGORIES, weight: number): fc.WeightedArbitrary<Builder> =>
    ({ arbitrary: CATEGORIES[category].map((build) => Object.assign((ctx: Ctx) => build(ctx), { category })), weight })
  return fc.oneof(
    w('valid', 16), w('brokenJson', 14), w('wrongType', 14), w('missing', 10), w('extraField', 10),
    w('huge', closing ? 4 : 0), w('nesting', 6), w('base64', 12), w('keyLength', 8), w('badSignature', 12), w('spoof', 8),
    w('unknownRecipient', 8), w('replay', 6), w('clock', 10), w('surrogate', 8), w('unknownType', 6), w('acks', 8), w('commands', 8),
    w('binary', closing ? 1 : 0)
  )
}

/** Frames that are refused before the token bucket or are valid: for the part with default limits. */
export function burstCases (): fc.Arbitrary<Builder> {
  return fc.oneof(valid, valid, badSignature, wrongType, missing, spoof)
}
