// The valid client that runs alongside the bad input: alice keeps sending signed direct messages to bob, bob
// acknowledges each one (a little later, so that a forged ack from someone else would show). At the end every
// message must have been accepted, delivered to bob once and in order, and reported delivered to alice, in
// order, never before bob's own ack.
import WebSocket from 'ws'
import type { Identity } from '../helper.js'
import { until } from '../until.js'
import { b64, type Obj, put, type Rand, signBytes, signingInput, sleep } from './util.js'

interface Who { id: Identity, token: string }

export interface PairReport {
  sent: number
  accepted: number
  delivered: number
  bobReceived: number
  acceptedInOrder: boolean
  deliveredInOrder: boolean
  bobInOrder: boolean
  bobDuplicates: number
  deliveredBeforeAck: number
  errors: string[]
  closes: string[]
  otherFrames: Record<string, number>
}

export class ValidPair {
  readonly sent: string[] = []
  readonly #sentIds = new Set<string>()
  readonly frames: Obj[] = []
  readonly acceptedOrder: string[] = []
  readonly deliveredOrder: string[] = []
  readonly bobOrder: string[] = []
  readonly bobAckAt = new Map<string, number>()
  readonly errors: string[] = []
  readonly closes: string[] = []
  readonly otherFrames: Record<string, number> = {}
  #accepted = new Set<string>()
  #delivered = new Set<string>()
  #bobSeen = new Set<string>()
  #deliveredBeforeAck = 0
  #bobDuplicates = 0
  #running = false
  #loop: Promise<void> = Promise.resolve()
  #alice: WebSocket | undefined
  #bob: WebSocket | undefined
  #stopping = false

  constructor (
    readonly url: string,
    readonly alice: Who,
    readonly bob: Who,
    readonly rand: Rand,
    readonly options: { intervalMs: number, window: number, ackDelayMs: number }
  ) {}

  async #open (who: Who, onFrame: (f: { header: Obj, body: Obj }) => void): Promise<WebSocket> {
    const ws = new WebSocket(`${this.url}/ws?token=${who.token}`)
    ws.on('message', (data) => onFrame(JSON.parse(data.toString()) as { header: Obj, body: Obj }))
    ws.on('close', (code) => { if (!this.#stopping) this.closes.push(`${who.id.user_id} closed with ${code}`) })
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    return ws
  }

  #other (who: string, type: unknown): void {
    const key = `${who}: ${String(type)}`
    this.otherFrames[key] = (this.otherFrames[key] ?? 0) + 1
  }

  async start (): Promise<void> {
    this.#bob = await this.#open(this.bob, (f) => {
      const h = f.header
      if (h.from === this.alice.id.user_id && h.message_type === 'direct') {
        const id = h.id as string
        if (this.#bobSeen.has(id)) this.#bobDuplicates++
        this.#bobSeen.add(id)
        this.bobOrder.push(id)
        setTimeout(() => {
          this.bobAckAt.set(id, performance.now())
          this.#bob?.send(JSON.stringify({ header: { message_type: 'ack', in_reply_to: id } }))
        }, this.options.ackDelayMs)
      } else if (h.message_type === 'error') {
        this.errors.push(`bob got ${JSON.stringify(f)}`)
      } else {
        this.#other('bob', h.message_type)
      }
    })
    this.#alice = await this.#open(this.alice, (f) => {
      const h = f.header
      const id = h.in_reply_to as string
      if (h.message_type === 'receipt' && f.body.status === 'accepted') {
        if (this.#accepted.has(id) || !this.#sentIds.has(id)) this.errors.push(`alice: unexpected accepted receipt ${id}`)
        this.#accepted.add(id)
        this.acceptedOrder.push(id)
      } else if (h.message_type === 'receipt' && f.body.status === 'delivered') {
        const ackedAt = this.bobAckAt.get(id)
        if (ackedAt === undefined || ackedAt > performance.now()) this.#deliveredBeforeAck++
        if (this.#delivered.has(id)) this.errors.push(`alice: a second delivered receipt for ${id}`)
        this.#delivered.add(id)
        this.deliveredOrder.push(id)
      } else if (h.message_type === 'error' || h.message_type === 'receipt') {
        this.errors.push(`alice got ${JSON.stringify(f)}`)
      } else {
        this.#other('alice', h.message_type)
      }
    })
    this.#running = true
    this.#loop = this.#send()
  }

  async #send (): Promise<void> {
    while (this.#running) {
      if (this.sent.length - this.#accepted.size < this.options.window) {
        const header: Obj = {
          id: this.rand.uuid(),
          from: this.alice.id.user_id,
          to: this.bob.id.user_id,
          message_type: 'direct',
          timestamp: new Date().toISOString(),
          encrypted_key: this.rand.b64(80),
          encryption_nonce: this.rand.b64(12)
        }
        const body = { content: this.rand.b64(64) }
        put(header, 'signature', b64(signBytes(this.alice.id.secretKey, signingInput(header, body))))
        const frame = { header, body }
        this.sent.push(header.id as string)
        this.#sentIds.add(header.id as string)
        this.frames.push(frame)
        if (this.frames.length > 20) this.frames.shift()
        this.#alice?.send(JSON.stringify(frame))
      }
      // the pace of a client (below the default rate limit in one test), not a wait for an outcome
      await sleep(this.options.intervalMs)
    }
  }

  /** The valid client's latest frames, for replays on other connections. */
  recentFrames (): Obj[] {
    return [...this.frames]
  }

  /** Stops sending, waits (bounded) until everything sent was delivered, and reports. */
  async stop (timeoutMs: number): Promise<PairReport> {
    if (this.#stopping) timeoutMs = 0
    this.#running = false
    await this.#loop
    // the report says what is missing if it does not all come
    await until(() => this.#delivered.size >= this.sent.length && this.#accepted.size >= this.sent.length, 'every message delivered', timeoutMs, 20).catch(() => {})
    this.#stopping = true
    this.#alice?.close()
    this.#bob?.close()
    const inOrder = (got: string[]): boolean => got.length === this.sent.length && got.every((id, i) => id === this.sent[i])
    return {
      sent: this.sent.length,
      accepted: this.#accepted.size,
      delivered: this.#delivered.size,
      bobReceived: this.#bobSeen.size,
      acceptedInOrder: inOrder(this.acceptedOrder),
      deliveredInOrder: inOrder(this.deliveredOrder),
      bobInOrder: inOrder(this.bobOrder),
      bobDuplicates: this.#bobDuplicates,
      deliveredBeforeAck: this.#deliveredBeforeAck,
      errors: this.errors,
      closes: this.closes,
      otherFrames: this.otherFrames
    }
  }
}
