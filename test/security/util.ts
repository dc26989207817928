// Small tools of the bad-input suite, kept apart from the server's code on purpose: the envelope signing
// input is computed here by an independent RFC 8785 implementation, so that the suite checks the server's
// canonical JSON instead of agreeing with it by construction.
import { createHash, createPrivateKey, generateKeyPairSync, type KeyObject, sign as nodeSign } from 'node:crypto'
import type { Identity } from '../helper.js'

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
export const USER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$/
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

export const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64')
export const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
export type Obj = Record<string, unknown>

export class NotCanonical extends Error {}

/**
 * RFC 8785 canonical JSON. Keys sorted by UTF-16 code units (what Array.prototype.sort does), strings and
 * numbers as ECMAScript's JSON.stringify prints them. `lax` escapes lone surrogates instead of refusing them,
 * which gives the signature a server would check if it forgot to refuse them.
 */
export function jcs (value: unknown, lax = false): string {
  if (value === null) return 'null'
  switch (typeof value) {
    case 'string':
      if (!lax && LONE_SURROGATE.test(value)) throw new NotCanonical('lone surrogate')
      return JSON.stringify(value)
    case 'number':
      if (!Number.isFinite(value)) throw new NotCanonical('not finite')
      return JSON.stringify(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => jcs(v, lax)).join(',')}]`
      const o = value as Obj
      const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort()
      return `{${keys.map((k) => `${jcs(k, lax)}:${jcs(o[k], lax)}`).join(',')}}`
    }
    default:
      throw new NotCanonical(typeof value)
  }
}

/** Sets an own enumerable property, also for keys like "__proto__". */
export function put (target: Obj, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

/** A copy made through JSON: what the server will see, own "__proto__" keys included. */
export function clone<T> (value: T): T {
  return JSON.parse(JSON.stringify(value)) as T
}

export function omit (o: Obj, key: string): Obj {
  const out: Obj = {}
  for (const k of Object.keys(o)) if (k !== key) put(out, k, o[k])
  return out
}

/** "sealwire/v1/message:" + JCS({header without signature, body}) */
export function signingInput (header: Obj, body: unknown, lax = false): string {
  const root: Obj = {}
  put(root, 'header', omit(header, 'signature'))
  put(root, 'body', body)
  return `sealwire/v1/message:${jcs(root, lax)}`
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex')
const keyObjects = new WeakMap<Uint8Array, KeyObject>()

/**
 * Ed25519 (RFC 8032, deterministic: the same signature noble makes) with OpenSSL, twenty times faster than
 * noble in JavaScript; the suite signs thousands of frames on the event loop the server runs on.
 */
export function signBytes (secretKey: Uint8Array, message: string | Uint8Array): Uint8Array {
  let key = keyObjects.get(secretKey)
  if (key === undefined) {
    key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, secretKey]), format: 'der', type: 'pkcs8' })
    keyObjects.set(secretKey, key)
  }
  return nodeSign(null, typeof message === 'string' ? Buffer.from(message, 'utf8') : message, key)
}

/** makeIdentity of test/helper.ts with OpenSSL key generation (makeIdentity takes a few ms in noble). */
export function fastIdentity (userId: string): Identity {
  const ed = generateKeyPairSync('ed25519')
  const x = generateKeyPairSync('x25519')
  const raw = (k: KeyObject, type: 'pkcs8' | 'spki'): Uint8Array => {
    const der = k.export({ format: 'der', type }) as Buffer
    return new Uint8Array(der.subarray(der.length - 32))
  }
  const secretKey = raw(ed.privateKey, 'pkcs8')
  const x25519PublicKey = b64(raw(x.publicKey, 'spki'))
  const sign = (message: string): string => b64(signBytes(secretKey, message))
  return {
    user_id: userId,
    username: `${userId} (test)`,
    secretKey,
    public_key: b64(raw(ed.publicKey, 'spki')),
    x25519SecretKey: raw(x.privateKey, 'pkcs8'),
    x25519_public_key: x25519PublicKey,
    x25519_key_signature: sign(`sealwire/v1/x25519-key:${userId}:${x25519PublicKey}`),
    sign
  }
}

/** Deep equality of JSON values (own keys, any order). */
export function jsonEqual (a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  return ka.every((k) => Object.hasOwn(b, k) && jsonEqual((a as Obj)[k], (b as Obj)[k]))
}

/**
 * Deterministic bytes and ids (SHA-256 in counter mode), so that a seed replays the same frames.
 * Ed25519 signatures are deterministic too; only the identities' keys are random per run.
 */
export class Rand {
  #counter = 0
  constructor (readonly seed: string) {}

  bytes (n: number): Buffer {
    const chunks: Buffer[] = []
    let have = 0
    while (have < n) {
      const chunk = createHash('sha256').update(`${this.seed}:${this.#counter++}`).digest()
      chunks.push(chunk)
      have += chunk.length
    }
    return Buffer.concat(chunks).subarray(0, n)
  }

  b64 (n: number): string {
    return this.bytes(n).toString('base64')
  }

  uuid (): string {
    const b = this.bytes(16)
    b[6] = ((b[6] as number) & 0x0f) | 0x40
    b[8] = ((b[8] as number) & 0x3f) | 0x80
    const h = b.toString('hex')
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
  }

  int (max: number): number {
    return this.bytes(4).readUInt32LE(0) % max
  }
}

/** A nested value of the given depth, built without recursion. */
export function deepValue (depth: number, shape: 'array' | 'object'): Json {
  let v: Json = 'leaf'
  for (let i = 0; i < depth; i++) v = shape === 'array' ? [v] : { a: v }
  return v
}

/** The JSON text of deepValue, built as text (JSON.stringify overflows the stack at a few thousand levels). */
export function deepText (depth: number, shape: 'array' | 'object'): string {
  return shape === 'array'
    ? `${'['.repeat(depth)}"leaf"${']'.repeat(depth)}`
    : `${'{"a":'.repeat(depth)}"leaf"${'}'.repeat(depth)}`
}

/** Text that says too much: stack frames, file paths, SQL, JavaScript error names. */
const INTERNALS = /\bat [^\s()]+ \(|node_modules|\.(?:ts|js|mjs|cjs):\d+|SQLITE_\w*|\bsqlite3?\b|\bselect\b.{1,80}\bfrom\b|\binsert into\b|\bdelete from\b|\bupdate\b.{1,80}\bset\b|\b(?:Type|Range|Reference|Syntax)Error\b|\bstack\b|\bkysely\b|\bbetter-sqlite/gi

/** The first piece of `answer` that looks like internals and is not an echo of what was sent, if any. */
export function leak (answer: string, sent: string): string | undefined {
  const lower = sent.toLowerCase()
  for (const m of answer.matchAll(INTERNALS)) if (!lower.includes(m[0].toLowerCase())) return m[0]
  return undefined
}

export function truncate (s: string, n = 300): string {
  return s.length <= n ? s : `${s.slice(0, n)}… (${s.length} chars)`
}

export function count (map: Record<string, number>, key: string | number, by = 1): void {
  map[String(key)] = (map[String(key)] ?? 0) + by
}
