import { randomBytes, randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import WebSocket from 'ws'
import { parseServerFrame } from '../client/frames.js'
import type { ServerFrame } from '../schemas/frames.js'
import { messageSigningInput } from '../services/protocol/signing.js'
import type { ConfigOverrides } from '../services/config.js'
import { build, registerAndLogin, type Identity } from './helper.js'

/** A frame a test sends: signed envelopes as a client makes them, and anything a hostile client might send. */
export interface OutgoingFrame {
  header: Record<string, unknown>
  body: Record<string, unknown>
}

type Keys<T> = T extends unknown ? keyof T : never
/** Every member any of the union's shapes has, optional, with the union of its types. */
type Merged<T> = { [K in Keys<T>]?: T extends unknown ? (K extends keyof T ? T[K] : never) : never }

/**
 * A frame from the server, as tests match on it: every one is checked against the schema of its type
 * (`SERVER_FRAMES`) as it arrives, and this view, derived from those schemas, lets a test read any member.
 */
export interface Frame {
  header: Merged<ServerFrame['header']>
  body: Merged<ServerFrame['body']>
  meta?: Merged<NonNullable<Extract<ServerFrame, { meta: unknown }>['meta']>>
}

/** The base URL of an app listening on a loopback port. */
export async function listen (app: FastifyInstance): Promise<string> {
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  return address.replace(/^http/, 'ws')
}

/** A real WebSocket client that keeps every frame it receives until a test takes it. */
export class TestClient {
  readonly frames: Frame[] = []
  readonly closed: Promise<{ code: number, reason: string }>
  /** frames from the server that failed their schema (none, ever: a test that gets one fails) */
  readonly violations: string[] = []
  #waiters: Array<{ match: (f: Frame) => boolean, resolve: (f: Frame) => void, reject: (err: Error) => void }> = []
  /** the place of each frame and pong in the order they arrived: frames before a marker are older */
  #arrivals = 0
  readonly #arrivedAt = new WeakMap<Frame, number>()
  #pongs: Array<(at: number) => void> = []

  private constructor (readonly ws: WebSocket) {
    ws.on('pong', () => {
      const at = ++this.#arrivals
      this.#pongs.shift()?.(at)
    })
    ws.on('message', (data) => {
      const parsed = parseServerFrame(data.toString())
      if (!parsed.ok) {
        this.violations.push(data.toString())
        for (const waiter of this.#waiters.splice(0)) waiter.reject(new Error(`the server sent a frame that fails its schema: ${data.toString()}`))
        return
      }
      const frame = parsed.frame as Frame
      this.#arrivedAt.set(frame, ++this.#arrivals)
      const i = this.#waiters.findIndex((w) => w.match(frame))
      if (i >= 0) {
        const [waiter] = this.#waiters.splice(i, 1)
        waiter?.resolve(frame)
      } else {
        this.frames.push(frame)
      }
    })
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  }

  static async connect (url: string, token?: string, headers: Record<string, string> = {}): Promise<TestClient> {
    const ws = new WebSocket(token === undefined ? `${url}/ws` : `${url}/ws?token=${token}`, { headers })
    const client = new TestClient(ws)
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
      ws.once('error', reject)
    })
    return client
  }

  /** Takes the first frame (already here or still to come) that matches. */
  async next (match: (f: Frame) => boolean = () => true, timeoutMs = 30_000): Promise<Frame> {
    const i = this.frames.findIndex(match)
    if (i >= 0) return this.frames.splice(i, 1)[0] as Frame
    return await new Promise<Frame>((resolve, reject) => {
      if (this.violations.length > 0) {
        reject(new Error(`the server sent a frame that fails its schema: ${this.violations[0] ?? ''}`))
        return
      }
      const waiter = { match, resolve: (f: Frame) => { clearTimeout(timer); resolve(f) }, reject: (err: Error) => { clearTimeout(timer); reject(err) } }
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1)
        reject(new Error(`no matching frame within ${timeoutMs} ms; have ${JSON.stringify(this.frames.map((f) => f.header.message_type))}`))
      }, timeoutMs)
      this.#waiters.push(waiter)
    })
  }

  async reply (id: string, type?: string): Promise<Frame> {
    return await this.next((f) => f.header.in_reply_to === id && (type === undefined || f.header.message_type === type))
  }

  async receipt (id: string, status: string): Promise<Frame> {
    return await this.next((f) => f.header.in_reply_to === id && f.header.message_type === 'receipt' && f.body.status === status)
  }

  async error (id?: string): Promise<Frame> {
    return await this.next((f) => f.header.message_type === 'error' && (id === undefined || f.header.in_reply_to === id))
  }

  async envelope (id: string): Promise<Frame> {
    return await this.next((f) => f.header.id === id && f.header.from !== 'server')
  }

  /**
   * Resolves true when no matching frame arrived before the frame `marker` matches (which the test caused
   * after what it checks, on the same ordered path): absence proven by order, not by waiting a while.
   */
  async noneBefore (match: (f: Frame) => boolean, marker: (f: Frame) => boolean): Promise<boolean> {
    const at = this.#arrivedAt.get(await this.next(marker)) ?? 0
    return !this.frames.some((f) => (this.#arrivedAt.get(f) ?? 0) < at && match(f))
  }

  /**
   * Resolves true when no matching frame arrived before the answer to a WebSocket ping sent now. The server
   * answers a ping after every frame it had already sent, so this proves nothing was sent up to this moment:
   * call it once the server has done what could have sent such a frame.
   */
  async noneSoFar (match: (f: Frame) => boolean): Promise<boolean> {
    const at = await this.pong()
    return !this.frames.some((f) => (this.#arrivedAt.get(f) ?? 0) < at && match(f))
  }

  /** Pings the server; resolves with the pong's place in the order of arrival. */
  async pong (): Promise<number> {
    const answered = new Promise<number>((resolve) => this.#pongs.push(resolve))
    this.ws.ping()
    return await Promise.race([answered, this.closed.then(({ code }) => { throw new Error(`closed (${code}) before the pong`) })])
  }

  send (frame: object | string): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  ack (id: string): void {
    this.send({ header: { message_type: 'ack', in_reply_to: id } })
  }

  async close (): Promise<void> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close()
    await this.closed
  }
}

export interface EnvelopeOptions {
  id?: string
  timestamp?: string
  content?: string
  header?: Record<string, unknown>
  body?: Record<string, unknown>
  /** sign as this identity (to test forgeries) */
  signer?: Identity
}

export function sign (signer: Identity, header: Record<string, unknown>, body: Record<string, unknown>): OutgoingFrame {
  const signature = signer.sign(messageSigningInput(header, body))
  return { header: { ...header, signature }, body }
}

/** A signed direct message with encryption-sized random fields (the server cannot tell them from real ones). */
export function direct (from: Identity, to: string, o: EnvelopeOptions = {}): OutgoingFrame {
  const header = {
    id: o.id ?? randomUUID(),
    from: from.user_id,
    to,
    message_type: 'direct',
    timestamp: o.timestamp ?? new Date().toISOString(),
    encrypted_key: randomBytes(80).toString('base64'),
    encryption_nonce: randomBytes(12).toString('base64'),
    ...o.header
  }
  return sign(o.signer ?? from, header, { content: o.content ?? randomBytes(48).toString('base64'), ...o.body })
}

export function broadcast (from: Identity, text: string, o: EnvelopeOptions = {}): OutgoingFrame {
  const header = { id: o.id ?? randomUUID(), from: from.user_id, to: '*', message_type: 'broadcast', timestamp: o.timestamp ?? new Date().toISOString(), ...o.header }
  return sign(o.signer ?? from, header, { content: text, ...o.body })
}

export function command (from: Identity, name: string, params?: unknown, o: EnvelopeOptions = {}): OutgoingFrame {
  const header = { id: o.id ?? randomUUID(), from: from.user_id, to: 'server', message_type: 'server', timestamp: new Date().toISOString(), ...o.header }
  return sign(from, header, { content: JSON.stringify({ command: name, params }) })
}

export const idOf = (frame: Frame | OutgoingFrame): string => frame.header.id as string

/**
 * `receiver` (user `to`) acknowledges a fresh direct message from `sender`; resolves with a matcher for the `delivered`
 * receipt `sender` then gets. The server handles a connection's frames in order and acks in order through the
 * store, so when that receipt comes, everything `receiver` sent before has had all its effects: a marker for
 * `noneBefore` on `sender`, and after it `noneSoFar` on `receiver`.
 */
export async function ackMarker (sender: TestClient, from: Identity, receiver: TestClient, to: string): Promise<(f: Frame) => boolean> {
  const marker = direct(from, to)
  sender.send(marker)
  await receiver.envelope(idOf(marker))
  receiver.send({ header: { message_type: 'ack', in_reply_to: idOf(marker) }, body: { from: from.user_id } })
  return (f) => f.header.message_type === 'receipt' && f.header.in_reply_to === idOf(marker) && f.body.status === 'delivered'
}

/** An app on a loopback port with alice and bob logged in and a generous message rate. */
export async function hubFixture (t: Test, config: ConfigOverrides = {}) {
  const app = await build(t, { config: { MESSAGE_RATE_LIMIT: 1000, MESSAGE_BURST_LIMIT: 1000, ...config } })
  const url = await listen(app)
  const alice = await registerAndLogin(app, 'alice')
  const bob = await registerAndLogin(app, 'bob')
  const connect = async (who: { token: string }): Promise<TestClient> => {
    const client = await TestClient.connect(url, who.token)
    t.teardown(() => client.close())
    return client
  }
  return { app, url, alice, bob, connect }
}
