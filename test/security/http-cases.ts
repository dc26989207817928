// Generated HTTP requests for the bad-input suite: POST /auth/register, /auth/login, /auth/login?verify=true and
// /direct-message/ with wrong content types, broken JSON, wrong types, missing and extra fields, invalid keys,
// huge bodies and bad tokens. Every refusal must be a 4xx with exactly {statusCode, code, error, message}.
import http from 'node:http'
import fc from 'fast-check'
import { mixedOrderKey, nonCanonicalPointEncodings, nonCanonicalS, SMALL_ORDER_KEYS } from '../crafted-signatures.js'
import { registrationBody, type Identity } from '../helper.js'
import { breakBase64, type Ctx, frameCases, type Step } from './frame-cases.js'
import { b64, count, fastIdentity, leak, type Obj, put, truncate, USER_ID } from './util.js'

export interface HttpExpect {
  /** success statuses that are right for this request */
  ok: number[]
  /** refusal statuses that are right (undefined: any 4xx) */
  statuses?: number[]
  /** refusal codes that are right (undefined: any) */
  codes?: string[]
  /** the one generic answer of a failed login */
  generic401?: boolean
}

export interface HttpCase {
  kind: string
  note: string
  path: string
  headers: Record<string, string>
  body?: Buffer
  /** send the body with chunked transfer encoding instead of Content-Length */
  chunked?: boolean
  expect: HttpExpect
}

export interface HttpCtx {
  frames: Ctx
  /** a valid token of the fuzzing user (the same as on the WebSocket) */
  token: string
  /** users that exist (login works for them) */
  existing: string[]
  /** a user id nobody has: for registrations that must succeed */
  freshUserId: () => string
  /** called when a registration succeeded */
  registered: (userId: string) => void
}

/** `category` names the route, so that a sample of the cases can keep one of each */
export type HttpBuilder = ((ctx: HttpCtx) => HttpCase) & { category?: string }

const tag = (category: string, build: (ctx: HttpCtx) => HttpCase): HttpBuilder => Object.assign(build, { category })

const AUTH_LIMIT = 4096
const NON_CANONICAL_POINTS = nonCanonicalPointEncodings()

// ---- content types ------------------------------------------------------------------------------------

type Media = 'json' | 'text' | 'unsupported' | 'none' | 'charset'
const mediaArb = fc.oneof(
  { weight: 14, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/json;charset=UTF-8').map((type) => ({ media: 'json' as Media, type })) },
  { weight: 1, arbitrary: fc.constant({ media: 'text' as Media, type: 'text/plain' }) },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.constantFrom('application/x-www-form-urlencoded', 'multipart/form-data; boundary=xyz', 'application/xml', 'application/octet-stream',
        'text/html', 'application/jsonx', 'application/json-patch+json', 'image/png', 'text/json', 'json', 'application/', '*/*'),
      fc.stringMatching(/^[a-z]{1,10}\/[a-z0-9.+-]{1,12}$/).filter((t) => !t.startsWith('application/json') && t !== 'text/plain')
    ).map((type) => ({ media: 'unsupported' as Media, type }))
  },
  { weight: 1, arbitrary: fc.constant({ media: 'none' as Media, type: '' }) },
  { weight: 1, arbitrary: fc.constantFrom('application/json; charset=utf-16', 'application/json; charset=latin1').map((type) => ({ media: 'charset' as Media, type })) }
)

/** What a request gets when its content type is not JSON, whatever the body. */
function mediaExpect (media: Media, bodyBytes: number, limit: number): HttpExpect | undefined {
  switch (media) {
    case 'json': return undefined
    case 'text': return { ok: [], statuses: bodyBytes > limit ? [413] : [400, 413], codes: ['invalid_request', 'invalid_json', 'payload_too_large'] }
    case 'unsupported': return { ok: [], statuses: [413, 415], codes: ['unsupported_media_type', 'payload_too_large'] }
    case 'none': return { ok: [], statuses: [400, 413, 415], codes: ['unsupported_media_type', 'invalid_request', 'invalid_json', 'payload_too_large'] }
    default: return { ok: [], statuses: [400, 413, 415] }
  }
}

/**
 * A JSON body's expectation once its content type is known. A charset other than UTF-8 on UTF-8 bytes: the
 * server may refuse the label or read the bytes as UTF-8 (Fastify does), so either answer is fine.
 */
function withMedia (json: HttpExpect, media: Media, bodyBytes: number, limit: number): HttpExpect {
  if (media === 'charset') return { ok: json.ok, statuses: json.statuses === undefined ? undefined : [...json.statuses, 400, 415] }
  return mediaExpect(media, bodyBytes, limit) ?? json
}

// ---- bodies ---------------------------------------------------------------------------------------------

type Mutation =
  | { op: 'none' }
  | { op: 'drop', field: number }
  | { op: 'extra', key: string, value: unknown }
  | { op: 'type', field: number, value: unknown }
  | { op: 'value', field: number, pick: number, s: string }
  | { op: 'huge', field: number, size: number }
  | { op: 'deep', depth: number }

const wrongValue = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.constant([]), fc.constant({}), fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }), fc.double())
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ op: 'none' as const }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('drop' as const), field: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('extra' as const), key: fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('admin', 'is_admin', 'role', '__proto__', 'constructor', 'password')), value: fc.jsonValue({ maxDepth: 2 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('type' as const), field: fc.nat(), value: wrongValue }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('value' as const), field: fc.nat(), pick: fc.nat(), s: fc.string({ unit: 'binary', maxLength: 80 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('huge' as const), field: fc.nat(), size: fc.oneof(fc.integer({ min: 3000, max: 5000 }), fc.integer({ min: 60_000, max: 200_000 })) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deep' as const), depth: fc.oneof(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1000, max: 40_000 })) }) }
)

/** Broken JSON made from a body's text. */
const breakArb = fc.oneof(
  { weight: 12, arbitrary: fc.constant(null) },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.record({ op: fc.constant('truncate' as const), at: fc.nat(), s: fc.constant('') }),
      fc.record({ op: fc.constant('insert' as const), at: fc.nat(), s: fc.oneof(fc.constantFrom('{', '}', ',', '"', ':', '\\', 'x', '\u0000'), fc.string({ unit: 'binary', minLength: 1, maxLength: 3 })) }),
      fc.record({ op: fc.constant('replace' as const), at: fc.nat(), s: fc.constantFrom('{', '}', ',', '"', ':', '\\', "'", ']') }),
      fc.record({ op: fc.constant('text' as const), at: fc.constant(0), s: fc.oneof(fc.constantFrom('', ' ', 'null', '[]', '0', '"x"', 'true', '{', '{}}', '\ufeff{}', '{"user_id":"alice"}garbage', '{"user_id":"alice",}', "{'user_id':'alice'}", '{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"admin":true}}}'), fc.string({ unit: 'binary', maxLength: 60 })) })
    )
  }
)

function applyBreak (text: string, b: { op: string, at: number, s: string }): string {
  const at = b.at % (text.length + 1)
  switch (b.op) {
    case 'truncate': return text.slice(0, Math.min(at, text.length - 1))
    case 'insert': return text.slice(0, at) + b.s + text.slice(at)
    case 'replace': return text.slice(0, at) + b.s + text.slice(at + 1)
    default: return b.s
  }
}

/** Expectation of a JSON body that may have been broken: unparsable is invalid_json, parsable-but-changed any 4xx. */
function jsonExpect (text: string, original: string, whole: HttpExpect, limit: number): HttpExpect {
  if (Buffer.byteLength(text) > limit) return { ok: [], statuses: [413], codes: ['payload_too_large'] }
  if (text === original) return whole
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(text).toString())
  } catch {
    return { ok: [], statuses: [400], codes: ['invalid_json'] }
  }
  return JSON.stringify(parsed) === JSON.stringify(JSON.parse(original)) ? whole : { ok: [...whole.ok, 200, 201], statuses: [400, 401, 403, 404, 409] }
}

const REGISTER_FIELDS = ['user_id', 'username', 'public_key', 'x25519_public_key', 'x25519_key_signature']

/** A registration body and what the server must answer. */
function registerCase (ctx: HttpCtx, m: Mutation): { body: Obj | string, expect: HttpExpect, note: string } {
  const id: Identity = fastIdentity(ctx.freshUserId())
  const body: Obj = { ...registrationBody(id) }
  const created: HttpExpect = { ok: [201], statuses: [] }
  const bad = (codes: string[] = ['invalid_request']): HttpExpect => ({ ok: [], statuses: [400], codes })
  const field = REGISTER_FIELDS[('field' in m ? m.field : 0) % REGISTER_FIELDS.length] as string
  switch (m.op) {
    case 'none': return { body, expect: created, note: 'a valid registration' }
    case 'drop':
      delete body[field]
      return { body, expect: field === 'x25519_key_signature' ? created : bad(), note: `without ${field}` }
    case 'extra':
      if (REGISTER_FIELDS.includes(m.key)) return { body, expect: created, note: 'a valid registration' }
      put(body, m.key, m.value)
      return { body, expect: m.key === '__proto__' || m.key === 'constructor' ? bad(['invalid_request', 'invalid_json']) : bad(), note: `extra field ${JSON.stringify(m.key)}` }
    case 'type':
      body[field] = m.value
      return { body, expect: bad(), note: `${field} = ${JSON.stringify(m.value)}` }
    case 'huge':
      body[field] = 'A'.repeat(m.size)
      return { body, expect: { ok: [], statuses: [400, 413], codes: ['invalid_request', 'payload_too_large'] }, note: `${field} of ${m.size} characters` }
    case 'deep': {
      let v: unknown = 'x'
      for (let i = 0; i < Math.min(m.depth, 1000); i++) v = [v]
      body[field] = v
      return { body, expect: { ok: [], statuses: [400, 413], codes: ['invalid_request', 'payload_too_large'] }, note: `${field} nested ${m.depth} deep` }
    }
    default: break
  }
  // a wrong value of the right type
  const pub = Buffer.from(id.public_key, 'base64')
  switch (field) {
    case 'user_id': {
      const choices = ['server', 'Server', 'SERVER', '*', 'alice', 'ALICE', 'Alice', 'ab', 'a'.repeat(33), '.alice', '-x-', 'al ice', 'alice\u0000', 'ålice', 'alice\n', m.s]
      const userId = choices[m.pick % choices.length] as string
      body.user_id = userId
      const existing = ctx.existing.some((e) => e.toLowerCase() === userId.toLowerCase())
      // the binding signature names the user id: re-sign so that only the user id is wrong
      body.x25519_key_signature = id.sign(`sealwire/v1/x25519-key:${userId}:${id.x25519_public_key}`)
      const expect = !USER_ID.test(userId) || userId.toLowerCase() === 'server'
        ? bad()
        : existing ? { ok: [], statuses: [409], codes: ['user_exists'] } : { ok: [201], statuses: [409], codes: ['user_exists'] }
      return { body, expect, note: `user_id ${JSON.stringify(userId)}` }
    }
    case 'username': {
      const choices = ['', 'x'.repeat(65), 'bad\u0000name', 'tab\there', 'new\nline', '\u007f', '\u0085', 'ok name', '😀'.repeat(64), '😀'.repeat(65),
        'e\u0301'.repeat(40), 'lone\ud800', '\udc00x', m.s]
      const username = choices[m.pick % choices.length] as string
      body.username = username
      const points = [...username].length
      // PROTOCOL.md: 1 to 64 Unicode characters, no control characters (a lone surrogate is no character)
      const fine = points >= 1 && points <= 64 && !/\p{Cc}/u.test(username)
      const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(username)
      const expect = fine && !lone ? created : bad()
      return { body, expect, note: `username ${JSON.stringify(username).slice(0, 60)}` }
    }
    case 'public_key': {
      const canonical = NON_CANONICAL_POINTS
      const choices: Array<[string, string[]]> = [
        [breakBase64(id.public_key, 'url-safe', m.pick) as string, ['invalid_request']],
        [breakBase64(id.public_key, 'non-canonical', m.pick) as string, ['invalid_request', 'invalid_key']],
        [id.public_key.slice(0, -1), ['invalid_request']],
        [b64(new Uint8Array(31)), ['invalid_request']],
        [b64(new Uint8Array(33)), ['invalid_request']],
        [b64(new Uint8Array(32).fill(0xff)), ['invalid_key']],
        [b64(SMALL_ORDER_KEYS[m.pick % SMALL_ORDER_KEYS.length] as Uint8Array), ['invalid_key']],
        [b64(mixedOrderKey(pub)), ['invalid_key']],
        [b64(canonical[m.pick % canonical.length] as Uint8Array), ['invalid_key']],
        [` ${id.public_key}`, ['invalid_request']],
        [m.s, ['invalid_request', 'invalid_key']]
      ]
      const [value, codes] = choices[m.pick % choices.length] as [string, string[]]
      body.public_key = value
      return { body, expect: bad(codes), note: `public_key ${JSON.stringify(value)}` }
    }
    case 'x25519_public_key': {
      const lowOrder = [new Uint8Array(32), Uint8Array.from([1, ...new Array<number>(31).fill(0)]),
        Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex'),
        Buffer.from('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', 'hex')]
      const choices: Array<[string, string[]]> = [
        [b64(lowOrder[m.pick % lowOrder.length] as Uint8Array), ['invalid_key']],
        [b64(new Uint8Array(31)), ['invalid_request']],
        [b64(new Uint8Array(64)), ['invalid_request']],
        [breakBase64(id.x25519_public_key, 'bang', m.pick) as string, ['invalid_request']],
        [breakBase64(id.x25519_public_key, 'non-canonical', m.pick) as string, ['invalid_request', 'invalid_key', 'invalid_key_signature']],
        [m.s, ['invalid_request', 'invalid_key']]
      ]
      const [value, codes] = choices[m.pick % choices.length] as [string, string[]]
      body.x25519_public_key = value
      // signed over the new value, so that only the key is wrong
      body.x25519_key_signature = id.sign(`sealwire/v1/x25519-key:${id.user_id}:${value}`)
      return { body, expect: bad(codes), note: `x25519_public_key ${JSON.stringify(value)}` }
    }
    default: {
      const other = fastIdentity('someone')
      const good = Buffer.from(id.x25519_key_signature, 'base64')
      const choices: Array<[string, string[]]> = [
        [other.sign(`sealwire/v1/x25519-key:${id.user_id}:${id.x25519_public_key}`), ['invalid_key_signature']],
        [id.sign(`sealwire/v1/x25519-key:someone:${id.x25519_public_key}`), ['invalid_key_signature']],
        [id.sign(`${id.user_id}:${id.x25519_public_key}`), ['invalid_key_signature']],
        [b64(nonCanonicalS(good)), ['invalid_key_signature']],
        [b64(new Uint8Array(63)), ['invalid_request']],
        [breakBase64(id.x25519_key_signature, 'non-canonical', m.pick) as string, ['invalid_request']],
        [b64(new Uint8Array(64)), ['invalid_key_signature']],
        [m.s, ['invalid_request']]
      ]
      const [value, codes] = choices[m.pick % choices.length] as [string, string[]]
      body.x25519_key_signature = value
      return { body, expect: bad(codes), note: `x25519_key_signature ${JSON.stringify(value).slice(0, 40)}` }
    }
  }
}

/** A login body (?verify absent) or a verify body. */
function loginCase (ctx: HttpCtx, verify: boolean, m: Mutation): { body: Obj, expect: HttpExpect, note: string } {
  const existing = ctx.existing[('pick' in m ? m.pick : 0) % ctx.existing.length] as string
  const fields = verify ? ['user_id', 'challenge', 'signature'] : ['user_id']
  const body: Obj = verify
    ? { user_id: existing, challenge: ctx.frames.rand.b64(32), signature: ctx.frames.rand.b64(64) }
    : { user_id: existing }
  const generic: HttpExpect = { ok: [], statuses: [401], codes: ['unauthorized'], generic401: true }
  const whole: HttpExpect = verify ? generic : { ok: [200], statuses: [] }
  const bad = (codes = ['invalid_request']): HttpExpect => ({ ok: [], statuses: [400], codes })
  const field = fields[('field' in m ? m.field : 0) % fields.length] as string
  switch (m.op) {
    case 'none': return { body, expect: whole, note: verify ? 'a well-formed answer to a challenge never issued' : `a challenge for ${existing}` }
    case 'drop': delete body[field]; return { body, expect: bad(), note: `without ${field}` }
    case 'extra':
      if (fields.includes(m.key)) return { body, expect: whole, note: 'no extra field' }
      put(body, m.key, m.value)
      return { body, expect: verify || !['challenge', 'signature'].includes(m.key) ? bad(['invalid_request', 'invalid_json']) : bad(), note: `extra field ${JSON.stringify(m.key)}` }
    case 'type': body[field] = m.value; return { body, expect: bad(), note: `${field} = ${JSON.stringify(m.value)}` }
    case 'huge': body[field] = 'A'.repeat(m.size); return { body, expect: { ok: [], statuses: [400, 413], codes: ['invalid_request', 'payload_too_large'] }, note: `${field} of ${m.size} characters` }
    case 'deep': {
      let v: unknown = 'x'
      for (let i = 0; i < Math.min(m.depth, 1000); i++) v = { v }
      body[field] = v
      return { body, expect: { ok: [], statuses: [400, 413], codes: ['invalid_request', 'payload_too_large'] }, note: `${field} nested ${m.depth} deep` }
    }
    default: break
  }
  if (field === 'user_id') {
    const choices = ['nobody-here', 'Server', 'server', 'ALICE', 'ab', '', 'a'.repeat(33), 'al ice', m.s]
    const userId = choices[m.pick % choices.length] as string
    body.user_id = userId
    const expect = !USER_ID.test(userId) ? bad() : verify ? generic : ctx.existing.includes(userId) ? whole : { ok: [], statuses: [404], codes: ['unknown_user'] }
    return { body, expect, note: `user_id ${JSON.stringify(userId)}` }
  }
  const size = field === 'challenge' ? 32 : 64
  const text = body[field] as string
  const choices: Array<[string, boolean]> = [
    [breakBase64(text, 'url-safe', m.pick) as string, false],
    [breakBase64(text, 'non-canonical', m.pick) ?? breakBase64(text, 'bang', m.pick) as string, false],
    [breakBase64(text, 'truncate', m.pick) as string, false],
    [ctx.frames.rand.b64(size - 1), false],
    [ctx.frames.rand.b64(size + 1), false],
    [ctx.frames.rand.b64(size), true],
    [m.s, false]
  ]
  const [value, wellFormed] = choices[m.pick % choices.length] as [string, boolean]
  body[field] = value
  return { body, expect: wellFormed ? generic : bad(), note: `${field} ${JSON.stringify(value).slice(0, 40)}` }
}

/** What the HTTP route answers for a frame whose WebSocket answer is `step.expect`. */
function directExpect (step: Step, text: string, limit: number): HttpExpect {
  const e = step.expect
  const poisoned = text.includes('"__proto__"') || text.includes('"constructor"')
  if (e.t === 'close') return e.codes.includes(1009) && Buffer.byteLength(text) > limit ? { ok: [], statuses: [413], codes: ['payload_too_large'] } : { ok: [] }
  if (e.t === 'silent') return { ok: [], statuses: [400], codes: ['invalid_request', ...(poisoned ? ['invalid_json'] : [])] }
  let parsed: Obj | undefined
  try { parsed = JSON.parse(text) as Obj } catch {}
  const type = (parsed?.header as Obj | undefined)?.message_type
  if (type !== 'direct') {
    const codes = e.allowed.some((o) => o.t === 'error' && o.code === 'invalid_json') ? ['invalid_json'] : ['invalid_request', 'invalid_json']
    return { ok: [], statuses: [400], codes }
  }
  const ok: number[] = []
  const statuses = new Set<number>()
  const codes = new Set<string>(poisoned ? ['invalid_json'] : [])
  if (poisoned) statuses.add(400)
  const STATUS: Record<string, number> = { invalid_json: 400, invalid_frame: 400, bad_signature: 400, clock_skew: 400, forbidden: 403, unknown_recipient: 404 }
  for (const o of e.allowed) {
    if (o.t === 'receipt') ok.push(200)
    else if (o.t === 'error') {
      statuses.add(STATUS[o.code] ?? 400)
      codes.add(o.code)
      if (o.code === 'invalid_frame') codes.add('invalid_request')
    }
  }
  return { ok, statuses: [...statuses], codes: [...codes] }
}

const TOKENS = ['valid', 'valid', 'valid', 'valid', 'valid', 'valid', 'none', 'garbage', 'empty', 'basic', 'tampered', 'lowercase', 'query'] as const

// ---- the arbitrary of all requests ----------------------------------------------------------------------

export function httpCases (frameCtxArb = frameCases(), onlyRegister = false): fc.Arbitrary<HttpBuilder> {
  const routes = onlyRegister ? ['register'] : ['register', 'register', 'register', 'login', 'login', 'verify', 'verify']
  const auth = fc.record({ route: fc.constantFrom(...routes), m: mutationArb, media: mediaArb, broken: breakArb, chunked: fc.integer({ min: 0, max: 9 }), query: fc.integer({ min: 0, max: 12 }) })
    .map((p): HttpBuilder => tag(`http ${p.route}`, (ctx) => {
      const verify = p.route === 'verify'
      const made = p.route === 'register' ? registerCase(ctx, p.m) : loginCase(ctx, verify, p.m)
      const original = JSON.stringify(made.body)
      const text = p.broken === null ? original : applyBreak(original, p.broken)
      let path = p.route === 'register' ? '/auth/register' : verify ? '/auth/login?verify=true' : '/auth/login'
      let expect = jsonExpect(text, original, made.expect, AUTH_LIMIT)
      if (p.route === 'login' && p.query === 0) {
        const odd = ['?verify=yes', '?verify=1', '?verify=', '?verify=false', '?verify=true&verify=false', '?verify[]=true', '?VERIFY=true', '?verify=%00'][text.length % 8] as string
        path = `/auth/login${odd}`
        expect = { ok: [200], statuses: [400, 404, 401, 413] }
      }
      const bytes = Buffer.from(text)
      expect = withMedia(expect, p.media.media, bytes.length, AUTH_LIMIT)
      const headers: Record<string, string> = p.media.type === '' ? {} : { 'content-type': p.media.type }
      const broken = p.broken === null ? '' : `, broken (${p.broken.op})`
      return { kind: `http ${p.route}`, note: `${made.note}${broken}, ${p.media.type || 'no content type'}`, path, headers, body: bytes, chunked: p.chunked === 0, expect }
    }))

  const direct = fc.record({ frame: frameCtxArb, token: fc.constantFrom(...TOKENS), media: mediaArb, chunked: fc.integer({ min: 0, max: 9 }) })
    .map((p): HttpBuilder => tag('http direct-message', (ctx) => {
      const c = p.frame(ctx.frames)
      const step = c.steps[0] as Step
      const bytes = typeof step.data === 'string' ? Buffer.from(step.data) : step.data
      const text = bytes.toString()
      let expect = directExpect(step, typeof step.data === 'string' ? step.data : text, ctx.frames.maxBytes)
      expect = withMedia(expect, p.media.media, bytes.length, ctx.frames.maxBytes)
      const headers: Record<string, string> = p.media.type === '' ? {} : { 'content-type': p.media.type }
      let path = '/direct-message/'
      const token = ctx.token
      switch (p.token) {
        case 'valid': headers.authorization = `Bearer ${token}`; break
        case 'none': break
        case 'garbage': headers.authorization = 'Bearer not.a.token'; break
        case 'empty': headers.authorization = 'Bearer '; break
        case 'basic': headers.authorization = `Basic ${token}`; break
        case 'tampered': {
          // one character in the middle of the signature: always other bytes (the last one may hold unused bits)
          const at = token.lastIndexOf('.') + 10
          headers.authorization = `Bearer ${token.slice(0, at)}${token[at] === 'A' ? 'B' : 'A'}${token.slice(at + 1)}`
          break
        }
        case 'lowercase': headers.authorization = `bearer ${token}`; break
        default: path = `/direct-message/?token=${token}`
      }
      if (p.token !== 'valid' && p.token !== 'lowercase') expect = { ok: [], statuses: [401], codes: ['unauthorized'] }
      // "bearer" in lower case: the server may take it (RFC 7235 schemes are case-insensitive) or refuse it
      if (p.token === 'lowercase') expect = { ok: expect.ok, statuses: expect.statuses === undefined ? undefined : [...expect.statuses, 401], codes: expect.codes === undefined ? undefined : [...expect.codes, 'unauthorized'] }
      return { kind: 'http direct-message', note: `${c.kind}: ${c.note}, token ${p.token}, ${p.media.type || 'no content type'}`, path, headers, body: bytes, chunked: p.chunked === 0, expect }
    }))

  return onlyRegister ? auth : fc.oneof({ weight: 5, arbitrary: auth }, { weight: 4, arbitrary: direct })
}

// ---- sending and checking ------------------------------------------------------------------------------

export interface HttpStats {
  tried: number
  byStatus: Record<string, number>
  byCode: Record<string, number>
  acceptedValid: number
  byKind: Record<string, number>
  failures: Array<{ kind: string, note: string, request: string, expected: string, got: string }>
}

export function newHttpStats (): HttpStats {
  return { tried: 0, byStatus: {}, byCode: {}, acceptedValid: 0, byKind: {}, failures: [] }
}

export async function send (base: URL, agent: http.Agent, c: HttpCase): Promise<{ status: number, headers: http.IncomingHttpHeaders, body: string }> {
  return await new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...c.headers }
    if (c.body !== undefined && c.chunked !== true) headers['content-length'] = String(c.body.length)
    if (c.chunked === true) headers['transfer-encoding'] = 'chunked'
    const req = http.request({ host: base.hostname, port: base.port, method: 'POST', path: c.path, headers, agent, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (d: Buffer) => chunks.push(d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')))
    req.on('error', reject)
    if (c.body !== undefined && c.chunked === true) {
      // in a few chunks, the way a streaming client sends it
      const step = Math.max(1, Math.ceil(c.body.length / 3))
      for (let i = 0; i < c.body.length; i += step) req.write(c.body.subarray(i, i + step))
      req.end()
    } else {
      req.end(c.body)
    }
  })
}

const GENERIC_401 = { statusCode: 401, code: 'unauthorized', error: 'Unauthorized', message: 'authentication failed' }

/** Checks one answer against the case; returns the problems found (none: fine). */
export function check (c: HttpCase, res: { status: number, headers: http.IncomingHttpHeaders, body: string }, ctx: HttpCtx, stats: HttpStats): void {
  stats.tried++
  count(stats.byStatus, res.status)
  count(stats.byKind, c.kind)
  const problems: string[] = []
  let json: Obj | undefined
  try {
    json = JSON.parse(res.body) as Obj
  } catch {
    problems.push('the body is not JSON')
  }
  if (!String(res.headers['content-type'] ?? '').startsWith('application/json')) problems.push(`content-type ${String(res.headers['content-type'])}`)
  const leaked = leak(res.body, `${c.path} ${c.body?.toString() ?? ''}`)
  if (leaked !== undefined) problems.push(`the body shows internals (${leaked})`)
  const e = c.expect
  if (res.status >= 200 && res.status < 300) {
    if (!e.ok.includes(res.status)) problems.push(`${res.status} where a refusal was due`)
    else stats.acceptedValid++
    if (res.status === 201 && typeof json?.user_id === 'string') ctx.registered(json.user_id)
  } else if (res.status >= 400 && res.status < 500) {
    const keys = json === undefined ? [] : Object.keys(json).sort()
    if (keys.join(',') !== 'code,error,message,statusCode') problems.push(`the body has keys ${keys.join(',')}`)
    if (json?.statusCode !== res.status) problems.push(`statusCode ${String(json?.statusCode)} is not the status`)
    if (typeof json?.code !== 'string' || !/^[a-z_]+$/.test(json.code)) problems.push(`code ${String(json?.code)}`)
    if (typeof json?.error !== 'string' || json.error === '') problems.push('no error text')
    if (typeof json?.message !== 'string' || json.message.trim() === '') problems.push('no message')
    if (e.statuses !== undefined && e.statuses.length > 0 && !e.statuses.includes(res.status)) problems.push(`status ${res.status}`)
    if (e.statuses !== undefined && e.statuses.length === 0) problems.push(`status ${res.status} where ${e.ok.join('/')} was due`)
    if (e.codes !== undefined && typeof json?.code === 'string' && !e.codes.includes(json.code)) problems.push(`code ${json.code}`)
    if (e.generic401 === true && JSON.stringify(json) !== JSON.stringify(GENERIC_401)) problems.push('not the generic login failure')
    if (res.status === 429 && res.headers['retry-after'] === undefined) problems.push('429 without Retry-After')
    if (typeof json?.code === 'string') count(stats.byCode, json.code)
  } else {
    problems.push(`status ${res.status}`)
  }
  if (problems.length > 0) {
    const expected = `${e.ok.length > 0 ? `${e.ok.join('/')} or ` : ''}${e.statuses?.join('/') ?? '4xx'}${e.codes === undefined ? '' : ` ${e.codes.join('|')}`}`
    stats.failures.push({
      kind: c.kind,
      note: c.note,
      request: truncate(`POST ${c.path} ${JSON.stringify(c.headers)} ${c.body?.toString() ?? ''}`),
      expected,
      got: truncate(`${res.status} [${problems.join('; ')}] ${res.body}`, 400)
    })
  }
}
