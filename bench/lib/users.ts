import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import { mapLimit } from './pool.js'

export interface BenchUser {
  userId: string
  privateKey: KeyObject
  /** session token; empty for users of the bare ws baseline */
  token: string
}

/** The raw 32-byte key of an Ed25519 or X25519 public KeyObject: its SPKI DER minus the 12-byte prefix. */
function rawPublicKey (key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' }).subarray(12)
}

function signText (privateKey: KeyObject, text: string): string {
  return sign(null, Buffer.from(text, 'utf8'), privateKey).toString('base64')
}

/** A prefix that keeps user ids of separate runs apart on a reused server. */
export function runPrefix (): string {
  return `b${randomBytes(4).toString('hex')}`
}

/** Keys only, no registration: for the bare ws baseline. */
export function localUser (userId: string): BenchUser {
  return { userId, privateKey: generateKeyPairSync('ed25519').privateKey, token: '' }
}

class HttpError extends Error {
  constructor (step: string, status: number, body: string) {
    super(`${step}: HTTP ${status} ${body.slice(0, 300)}`)
    this.name = 'HttpError'
  }
}

async function postJson (url: string, body: object, step: string, expect: number): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000)
  })
  const text = await res.text()
  if (res.status !== expect) throw new HttpError(step, res.status, text)
  const parsed: unknown = JSON.parse(text)
  if (typeof parsed !== 'object' || parsed === null) throw new HttpError(step, res.status, text)
  return parsed as Record<string, unknown>
}

function field (obj: Record<string, unknown>, name: string, step: string): string {
  const value = obj[name]
  if (typeof value !== 'string') throw new Error(`${step}: the answer has no string "${name}"`)
  return value
}

/** Registers one user and logs it in (challenge, then signed answer). */
export async function registerAndLogin (baseUrl: string, userId: string): Promise<BenchUser> {
  const identity = generateKeyPairSync('ed25519')
  const x25519 = generateKeyPairSync('x25519')
  const publicKey = rawPublicKey(identity.publicKey).toString('base64')
  const x25519PublicKey = rawPublicKey(x25519.publicKey).toString('base64')
  await postJson(`${baseUrl}/auth/register`, {
    user_id: userId,
    username: `Bench ${userId}`,
    public_key: publicKey,
    x25519_public_key: x25519PublicKey,
    x25519_key_signature: signText(identity.privateKey, `sealwire/v1/x25519-key:${userId}:${x25519PublicKey}`)
  }, `register ${userId}`, 201)
  const challenge = field(await postJson(`${baseUrl}/auth/login`, { user_id: userId }, `login ${userId}`, 200), 'challenge', 'login')
  const answer = await postJson(`${baseUrl}/auth/login?verify=true`, {
    user_id: userId,
    challenge,
    signature: signText(identity.privateKey, `sealwire/v1/login:${userId}:${challenge}`)
  }, `login verify ${userId}`, 200)
  return { userId, privateKey: identity.privateKey, token: field(answer, 'token', 'login verify') }
}

/** Registers and logs in `count` users, `concurrency` at a time; reports progress on stderr for big counts. */
export async function createUsers (baseUrl: string, count: number, concurrency: number): Promise<BenchUser[]> {
  const prefix = runPrefix()
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`)
  let done = 0
  const started = Date.now()
  const users = await mapLimit(ids, concurrency, async (id) => {
    const user = await registerAndLogin(baseUrl, id)
    done++
    if (count >= 2000 && done % 1000 === 0) {
      console.error(`registered ${done}/${count} users (${((Date.now() - started) / 1000).toFixed(1)} s)`)
    }
    return user
  })
  return users
}
