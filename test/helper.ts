import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { ed25519, x25519 } from '@noble/curves/ed25519.js'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import type { Test } from 'tap'
import sealwire, { type SealwireOptions } from '../app.js'
import type { ConfigOverrides } from '../services/config.js'
import { x25519KeySigningInput } from '../services/protocol/signing.js'

/**
 * The service without encapsulation, as fastify-cli registers it, so tests see its decorators. A wrapper:
 * fastify-plugin marks the function it is given, and `fp(sealwire)` would take the encapsulation (and so the
 * prefix) away from every later registration of `sealwire` in the same process.
 */
export const sealwireUnencapsulated = fp(async (instance: FastifyInstance, options: SealwireOptions) => { await sealwire(instance, options) })

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-0123456789'

/** A fresh folder removed when the test ends. */
export function tempDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'sealwire-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export interface BuildOptions {
  config?: ConfigOverrides
  server?: FastifyServerOptions
}

/**
 * The app on a temporary SQLite file, with settings from `config` only (the environment is ignored).
 * It is registered without encapsulation, as fastify-cli does, so the test sees its decorators.
 */
export async function build (t: Test, { config = {}, server = {} }: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, ...server })
  await app.register(sealwireUnencapsulated, {
    env: {},
    config: { DB_PATH: join(tempDir(t), 'test.db'), JWT_SECRET: TEST_JWT_SECRET, ...config }
  })
  t.teardown(() => app.close())
  await app.ready()
  return app
}

/** Collects every log line written by a Fastify logger. */
export function logCapture (): { stream: Writable, lines: string[] } {
  const lines: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''))
      done()
    }
  })
  return { stream, lines }
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64')

export interface Identity {
  user_id: string
  username: string
  secretKey: Uint8Array
  public_key: string
  x25519SecretKey: Uint8Array
  x25519_public_key: string
  x25519_key_signature: string
  sign: (message: string) => string
}

export function makeIdentity (userId: string): Identity {
  const secretKey = ed25519.utils.randomSecretKey()
  const x25519SecretKey = x25519.utils.randomSecretKey()
  const x25519PublicKey = b64(x25519.getPublicKey(x25519SecretKey))
  const sign = (message: string): string => b64(ed25519.sign(new TextEncoder().encode(message), secretKey))
  return {
    user_id: userId,
    username: `${userId} (test)`,
    secretKey,
    public_key: b64(ed25519.getPublicKey(secretKey)),
    x25519SecretKey,
    x25519_public_key: x25519PublicKey,
    x25519_key_signature: sign(x25519KeySigningInput(userId, x25519PublicKey)),
    sign
  }
}

export function registrationBody (id: Identity): Record<string, string> {
  return {
    user_id: id.user_id,
    username: id.username,
    public_key: id.public_key,
    x25519_public_key: id.x25519_public_key,
    x25519_key_signature: id.x25519_key_signature
  }
}

export async function register (app: FastifyInstance, id: Identity): Promise<void> {
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: registrationBody(id) })
  if (res.statusCode !== 201) throw new Error(`register ${id.user_id}: ${res.statusCode} ${res.body}`)
}

/** Runs the whole challenge login and returns the token. */
export async function login (app: FastifyInstance, id: Identity, prefix = ''): Promise<string> {
  const first = await app.inject({ method: 'POST', url: `${prefix}/auth/login`, payload: { user_id: id.user_id } })
  if (first.statusCode !== 200) throw new Error(`login ${id.user_id}: ${first.statusCode} ${first.body}`)
  const { challenge } = first.json<{ challenge: string }>()
  const signature = id.sign(`sealwire/v1/login:${id.user_id}:${challenge}`)
  const res = await app.inject({ method: 'POST', url: `${prefix}/auth/login?verify=true`, payload: { user_id: id.user_id, challenge, signature } })
  if (res.statusCode !== 200) throw new Error(`verify ${id.user_id}: ${res.statusCode} ${res.body}`)
  return res.json<{ token: string }>().token
}

export async function registerAndLogin (app: FastifyInstance, userId: string): Promise<{ id: Identity, token: string }> {
  const id = makeIdentity(userId)
  await register(app, id)
  return { id, token: await login(app, id) }
}
