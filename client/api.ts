import type { ChallengeResponse, PublicUser, TokenResponse } from '../schemas/auth.js'
import type { JsonValue } from '../schemas/common.js'
import { SealwireError } from './errors.js'

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>

/**
 * A user as GET /auth/users/:id answers, with the key-epoch fields of issue 14 (client-side until
 * schemas/auth.ts has them). Absent fields are read as epoch 0 and no expiry: a v1 key or an older server.
 */
export type PeerUser = PublicUser & { x25519_key_epoch?: number, x25519_key_expires_at?: string | null }

/** The key fields of POST /auth/register and PUT /auth/keys/x25519: the epoch fields only for an ordered binding. */
export interface KeyFields {
  x25519_public_key: string
  x25519_key_signature: string
  x25519_key_epoch?: number
  x25519_key_expires_at?: string
}

export interface HistoryPage {
  messages: Array<{ seq: number, header: Record<string, unknown>, body: Record<string, unknown>, status: 'pending' | 'delivered', received_at: string, delivered_at: string | null }>
  next_before: number | null
}

/** The HTTP half of the protocol. Every non-2xx answer becomes a SealwireError with the server's code. */
export class HttpApi {
  readonly #base: string
  readonly #fetch: Fetch

  constructor (serverUrl: string, fetchImpl: Fetch) {
    this.#base = serverUrl.replace(/\/+$/, '')
    this.#fetch = fetchImpl
  }

  async register (body: KeyFields & { user_id: string, username: string, public_key: string }): Promise<PeerUser> {
    return await this.#call<PeerUser>('POST', '/auth/register', { body: { ...body } })
  }

  async challenge (userId: string): Promise<ChallengeResponse> {
    return await this.#call<ChallengeResponse>('POST', '/auth/login', { body: { user_id: userId } })
  }

  async verify (userId: string, challenge: string, signature: string): Promise<TokenResponse> {
    return await this.#call<TokenResponse>('POST', '/auth/login?verify=true', { body: { user_id: userId, challenge, signature } })
  }

  async user (userId: string, token: string): Promise<PeerUser> {
    return await this.#call<PeerUser>('GET', `/auth/users/${encodeURIComponent(userId)}`, { token })
  }

  async rotateKey (token: string, body: KeyFields): Promise<PeerUser> {
    return await this.#call<PeerUser>('PUT', '/auth/keys/x25519', { body: { ...body }, token })
  }

  async pending (token: string): Promise<number> {
    return (await this.#call<{ pending: number }>('GET', '/messages/queue', { token })).pending
  }

  async logout (token: string): Promise<void> {
    await this.#call<undefined>('POST', '/auth/logout', { token })
  }

  async activeUsers (token: string): Promise<string[]> {
    return (await this.#call<{ users: string[] }>('GET', '/active-users', { token })).users
  }

  async history (token: string, peer: string, limit: number, before?: number): Promise<HistoryPage> {
    const query = new URLSearchParams({ peer, limit: String(limit) })
    if (before !== undefined) query.set('before', String(before))
    return await this.#call<HistoryPage>('GET', `/messages?${query.toString()}`, { token })
  }

  async #call<T> (method: string, path: string, { body, token }: { body?: Record<string, JsonValue>, token?: string }): Promise<T> {
    const headers: Record<string, string> = {}
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    let res: Response
    try {
      res = await this.#fetch(this.#base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    } catch (err) {
      throw new SealwireError('unreachable', `cannot reach ${this.#base}: ${(err as Error).message}`, { cause: err })
    }
    const text = await res.text()
    let json: unknown
    try {
      json = text === '' ? undefined : JSON.parse(text)
    } catch {
      json = undefined
    }
    if (!res.ok) {
      const e = json as { code?: unknown, message?: unknown } | undefined
      const retryAfter = Number(res.headers.get('retry-after'))
      throw new SealwireError(typeof e?.code === 'string' ? e.code : `http_${res.status}`, typeof e?.message === 'string' ? e.message : res.statusText, {
        status: res.status,
        retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined
      })
    }
    return json as T
  }
}
