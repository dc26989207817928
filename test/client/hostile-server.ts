// A hostile fake Sealwire server for SDK tests: real HTTP and WebSocket on 127.0.0.1, every answer scripted by
// the test. It serves whatever user records the test crafts, records what clients send, and pushes frames.
import { randomBytes, randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { x25519 } from '@noble/curves/ed25519.js'
import type { Test } from 'tap'
import { WebSocket, WebSocketServer } from 'ws'
import type { PeerUser } from '../../client/api.js'
import { keyBinding, publicKeys, signEnvelope, v1KeyBinding, type Identity } from '../../client/identity.js'
import { toBase64 } from '../../services/protocol/base64.js'
import { sealDirect } from '../../services/protocol/direct.js'

export type Frame = { header: Record<string, unknown>, body?: Record<string, unknown>, meta?: Record<string, unknown> }
export type HttpAnswer = { status: number, json?: unknown }

export interface FakeServer {
  url: string
  /** GET /auth/users/:id answers with these */
  users: Map<string, PeerUser>
  /** bodies of POST /auth/register and PUT /auth/keys/x25519, as received */
  registered: Array<Record<string, unknown>>
  puts: Array<Record<string, unknown>>
  /** how PUT /auth/keys/x25519 answers (default: 200 and the record, which then is served) */
  onPut: (body: Record<string, unknown>, userId: string) => HttpAnswer | undefined
  /** what GET /messages/queue says */
  pending: number
  /** every frame clients sent, in order, with the sending user */
  frames: Array<{ user: string, frame: Frame }>
  /** resolves with the first frame (already received or to come) that matches */
  nextFrame: (match: (f: { user: string, frame: Frame }) => boolean) => Promise<{ user: string, frame: Frame }>
  /** sends a frame to every connection of `user`; resolves once a connection exists */
  push: (user: string, frame: unknown) => Promise<void>
}

export async function fakeServer (t: Test): Promise<FakeServer> {
  const sockets = new Map<string, Set<WebSocket>>()
  const waiters: Array<{ match: (f: { user: string, frame: Frame }) => boolean, resolve: (f: { user: string, frame: Frame }) => void }> = []
  const connectedWaiters: Array<{ user: string, resolve: () => void }> = []
  const fake: FakeServer = {
    url: '',
    users: new Map(),
    registered: [],
    puts: [],
    onPut: () => undefined,
    pending: 0,
    frames: [],
    nextFrame: async (match) => {
      const found = fake.frames.find(match)
      if (found !== undefined) return found
      return await new Promise((resolve) => waiters.push({ match, resolve }))
    },
    push: async (user, frame) => {
      if ((sockets.get(user)?.size ?? 0) === 0) await new Promise<void>((resolve) => connectedWaiters.push({ user, resolve }))
      for (const ws of sockets.get(user) ?? []) ws.send(JSON.stringify(frame))
    }
  }
  const userOf = (req: IncomingMessage): string | undefined => {
    const auth = req.headers.authorization ?? new URL(req.url ?? '/', 'http://x').searchParams.get('token') ?? ''
    const m = /(?:Bearer )?t\.(.+)$/.exec(auth)
    return m?.[1]
  }
  const answer = (res: ServerResponse, { status, json }: HttpAnswer): void => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(json === undefined ? '' : JSON.stringify(json))
  }
  const server = createServer((req, res) => {
    let text = ''
    req.on('data', (chunk: Buffer) => { text += chunk.toString() })
    req.on('end', () => {
      const body = text === '' ? {} : JSON.parse(text) as Record<string, unknown>
      const url = new URL(req.url ?? '/', 'http://x')
      const later = new Date(Date.now() + 3_600_000).toISOString()
      if (req.method === 'POST' && url.pathname === '/auth/register') {
        fake.registered.push(body)
        const user = { created_at: new Date().toISOString(), x25519_key_epoch: 0, x25519_key_expires_at: null, ...body } as unknown as PeerUser
        fake.users.set(String(body.user_id), user)
        return answer(res, { status: 201, json: user })
      }
      if (req.method === 'POST' && url.pathname === '/auth/login') {
        if (url.searchParams.get('verify') === 'true') return answer(res, { status: 200, json: { token: `t.${String(body.user_id)}`, expires_at: later } })
        return answer(res, { status: 200, json: { challenge: toBase64(randomBytes(32)), expires_at: later } })
      }
      const user = userOf(req)
      if (user === undefined) return answer(res, { status: 401, json: { code: 'unauthorized', message: 'no token' } })
      const peer = /^\/auth\/users\/([^/]+)$/.exec(url.pathname)?.[1]
      if (req.method === 'GET' && peer !== undefined) {
        const record = fake.users.get(decodeURIComponent(peer))
        return answer(res, record === undefined ? { status: 404, json: { code: 'unknown_user', message: 'no such user' } } : { status: 200, json: record })
      }
      if (req.method === 'PUT' && url.pathname === '/auth/keys/x25519') {
        fake.puts.push(body)
        const scripted = fake.onPut(body, user)
        if (scripted !== undefined) return answer(res, scripted)
        const record = { ...fake.users.get(user), ...body } as unknown as PeerUser
        fake.users.set(user, record)
        return answer(res, { status: 200, json: record })
      }
      if (req.method === 'GET' && url.pathname === '/messages/queue') return answer(res, { status: 200, json: { pending: fake.pending } })
      answer(res, { status: 404, json: { code: 'not_found', message: 'not scripted' } })
    })
  })
  const wss = new WebSocketServer({ noServer: true })
  server.on('upgrade', (req, socket, head) => {
    const user = userOf(req)
    if (user === undefined) return socket.destroy()
    wss.handleUpgrade(req, socket, head, (ws) => {
      const set = sockets.get(user) ?? new Set()
      set.add(ws)
      sockets.set(user, set)
      ws.on('close', () => set.delete(ws))
      ws.on('message', (data: Buffer) => {
        const frame = JSON.parse(data.toString()) as Frame
        const entry = { user, frame }
        fake.frames.push(entry)
        for (const w of waiters.splice(0)) {
          if (w.match(entry)) w.resolve(entry)
          else waiters.push(w)
        }
        const type = frame.header.message_type
        if (type === 'direct' || type === 'broadcast') ws.send(JSON.stringify(receipt(user, String(frame.header.id), { status: 'accepted' })))
      })
      for (const w of connectedWaiters.splice(0)) {
        if (w.user === user) w.resolve()
        else connectedWaiters.push(w)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address() as { port: number }
  fake.url = `http://127.0.0.1:${address.port}`
  t.teardown(async () => {
    for (const set of sockets.values()) for (const ws of set) ws.terminate()
    wss.close()
    await new Promise((resolve) => server.close(resolve))
  })
  return fake
}

/** A receipt as the server makes it. */
export function receipt (to: string, inReplyTo: string, body: Record<string, unknown>): Frame {
  return { header: { id: randomUUID(), from: 'server', to, timestamp: new Date().toISOString(), message_type: 'receipt', in_reply_to: inReplyTo }, body }
}

/** A user record for `identity` with an X25519 key bound at `epoch` (0: the v1 way). */
export function userRecord (identity: Identity, key: { secretKey: Uint8Array, epoch: number, expiresAt?: string }): PeerUser {
  const binding = key.epoch === 0
    ? { ...v1KeyBinding(identity, key.secretKey), x25519_key_epoch: 0, x25519_key_expires_at: null }
    : keyBinding(identity, key.secretKey, key.epoch, key.expiresAt ?? new Date(Date.now() + 86_400_000).toISOString())
  return { user_id: identity.userId, username: identity.username, public_key: publicKeys(identity).public_key, created_at: new Date().toISOString(), ...binding }
}

export const newX25519Secret = (): Uint8Array => x25519.utils.randomSecretKey()

/** A direct message from `sender` to `recipientKey`, signed with the sender's real identity key. */
export function direct (sender: Identity, to: string, recipientKey: Uint8Array, text: string, options: { id?: string, timestamp?: string, receivedAt?: string } = {}): Frame {
  const id = options.id ?? randomUUID()
  const { content, ...keys } = sealDirect({ from: sender.userId, to, id, plaintext: text, recipientKey })
  const envelope = signEnvelope(sender, { id, from: sender.userId, to, message_type: 'direct', timestamp: options.timestamp ?? new Date().toISOString(), ...keys }, { content })
  return { ...envelope, meta: { received_at: options.receivedAt ?? new Date().toISOString() } }
}
