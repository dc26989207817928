// Sends generated cases over a real WebSocket and matches every answer to the frame it belongs to.
//
// Answers that carry in_reply_to are matched by id. Refusals without one (the frame had no valid id) are
// made synchronously, in the order the frames arrive, so they are matched first in, first out; after each
// segment a "barrier" frame (an unknown message_type with a fresh id) is sent, and once its refusal is back,
// every refusal owed for the frames before it must have arrived too. A frame that gets nothing, a wrong code,
// or an answer nobody asked for is a failure; so is a close that was not expected.
import WebSocket from 'ws'
import { type Case, type Code, type Ctx, describeOutcomes, FRAME_CODES, type Outcome, type Step } from './frame-cases.js'
import { count, leak, truncate, UUID } from './util.js'

export interface Failure {
  kind: string
  note: string
  frame: string
  expected: string
  got: string
}

export interface FrameStats {
  framesTried: number
  barriers: number
  refusedByCode: Record<string, number>
  accepted: { accepted: number, duplicate: number, server_response: number, silent_ack: number }
  closesByCode: Record<string, number>
  unexpectedCloses: number
  byKind: Record<string, number>
  ignored: Record<string, number>
  failures: Failure[]
}

export function newFrameStats (): FrameStats {
  return {
    framesTried: 0,
    barriers: 0,
    refusedByCode: {},
    accepted: { accepted: 0, duplicate: 0, server_response: 0, silent_ack: 0 },
    closesByCode: {},
    unexpectedCloses: 0,
    byKind: {},
    ignored: {},
    failures: []
  }
}

interface ServerFrame {
  header: Record<string, unknown>
  body: Record<string, unknown>
}

interface Pending {
  c: Case
  step: Step
  allowed: Outcome[]
  replyTo: string | null
  done: boolean
  settle: () => void
}

const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

function frameText (step: Step): string {
  return typeof step.data === 'string' ? step.data : `<${step.binary === true ? 'binary' : 'text'} ${step.data.toString('hex').slice(0, 80)}>`
}

export class FrameRunner {
  #ws: WebSocket | undefined
  #closed: Promise<number> = Promise.resolve(0)
  #byId = new Map<string, Pending[]>()
  #noId: Pending[] = []

  constructor (
    readonly url: string,
    readonly token: string,
    readonly ctx: Ctx,
    readonly stats: FrameStats,
    /** bounds a failure only: answers are waited for as events, and a missing one is found by a barrier */
    readonly answerTimeoutMs = 30_000
  ) {}

  async connect (): Promise<void> {
    const ws = new WebSocket(`${this.url}/ws?token=${this.token}`)
    this.#closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)))
    ws.on('message', (data, isBinary) => this.#onMessage(isBinary ? '<binary>' : data.toString()))
    ws.on('error', () => {})
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)))
      ws.once('error', reject)
    })
    this.#ws = ws
  }

  async close (): Promise<void> {
    const ws = this.#ws
    if (ws === undefined) return
    if (ws.readyState === WebSocket.OPEN) ws.close()
    await this.#closed
  }

  #fail (c: { kind: string, note: string }, frame: string, expected: string, got: string): void {
    this.stats.failures.push({ kind: c.kind, note: c.note, frame: truncate(frame), expected, got: truncate(got, 400) })
  }

  #onMessage (text: string): void {
    let frame: ServerFrame
    try {
      frame = JSON.parse(text) as ServerFrame
    } catch {
      this.#fail({ kind: 'server', note: 'a frame from the server' }, '', 'JSON', text)
      return
    }
    const h = frame.header ?? {}
    if (h.from !== 'server') {
      // a message to us (a valid direct message we sent ourselves, a broadcast of the valid client): ack and go on
      count(this.stats.ignored, typeof h.message_type === 'string' ? `${h.message_type} envelope` : 'envelope')
      if (h.message_type === 'direct' && typeof h.id === 'string') this.#ws?.send(JSON.stringify({ header: { message_type: 'ack', in_reply_to: h.id } }))
      return
    }
    if (h.message_type === 'presence' || (h.message_type === 'receipt' && frame.body?.status === 'delivered')) {
      count(this.stats.ignored, h.message_type === 'presence' ? 'presence' : 'delivered receipt')
      return
    }
    const problems: string[] = []
    if (typeof h.id !== 'string' || !UUID.test(h.id)) problems.push('header.id is not a UUID')
    if (h.to !== this.ctx.me.user_id) problems.push(`header.to is ${JSON.stringify(h.to)}`)
    if (typeof h.timestamp !== 'string' || !TIMESTAMP.test(h.timestamp)) problems.push('header.timestamp')
    const irt = h.in_reply_to
    let pending: Pending | undefined
    if (typeof irt === 'string') {
      pending = this.#byId.get(irt)?.find((p) => !p.done)
    } else if (h.message_type === 'error') {
      pending = this.#noId.find((p) => !p.done)
    }
    if (pending === undefined) {
      this.#fail({ kind: 'unexpected', note: 'an answer to no frame we sent (or one answer too many)' }, '', 'nothing', text)
      return
    }
    pending.done = true
    pending.settle()
    const got = this.#outcome(frame)
    const ok = pending.allowed.some((o) => o.t === got.t && (o.t !== 'error' || (got.t === 'error' && o.code === got.code)) &&
      (o.t !== 'receipt' || (got.t === 'receipt' && o.status === got.status)))
    if (got.t === 'error') {
      const body = frame.body
      if (typeof body.message !== 'string' || body.message.trim() === '') problems.push('the error has no message')
      const leaked = typeof body.message === 'string' ? leak(body.message, frameText(pending.step)) : undefined
      if (leaked !== undefined) problems.push(`the error message shows internals (${leaked})`)
      if (!(FRAME_CODES as readonly string[]).includes(String(body.code))) problems.push(`code ${String(body.code)} is not one of PROTOCOL.md`)
      if ((body.code === 'rate_limited') !== (typeof body.retry_after_ms === 'number' && body.retry_after_ms > 0)) problems.push('retry_after_ms goes with rate_limited only')
      if (pending.c.kind !== 'barrier') count(this.stats.refusedByCode, String(body.code))
    } else if (got.t === 'receipt') {
      this.stats.accepted[got.status]++
      if (got.status === 'accepted' && pending.step.replayable === true && typeof pending.step.data === 'string') {
        this.ctx.accepted.push(pending.step.data)
        if (this.ctx.accepted.length > 200) this.ctx.accepted.shift()
      }
    } else if (got.t === 'response') {
      this.stats.accepted.server_response++
    }
    if (pending.replyTo === null && irt !== undefined) problems.push('in_reply_to on a refusal of a frame without a valid id')
    if (!ok || problems.length > 0) {
      this.#fail(pending.c, frameText(pending.step), describeOutcomes({ t: 'answer', replyTo: pending.replyTo, allowed: pending.allowed }),
        `${problems.length > 0 ? `[${problems.join('; ')}] ` : ''}${text}`)
    }
  }

  #outcome (frame: ServerFrame): Outcome | { t: 'other' } {
    const type = frame.header.message_type
    if (type === 'error') return { t: 'error', code: frame.body.code as Code }
    if (type === 'receipt' && (frame.body.status === 'accepted' || frame.body.status === 'duplicate')) return { t: 'receipt', status: frame.body.status }
    if (type === 'server_response') return { t: 'response' }
    return { t: 'other' }
  }

  /** Sends one batch of cases and waits for every answer (or the timeout). */
  async run (cases: Case[]): Promise<void> {
    let segment: Array<{ c: Case, step: Step }> = []
    for (const c of cases) {
      count(this.stats.byKind, c.kind)
      for (const step of c.steps) {
        if (step.expect.t === 'close') {
          await this.#segment(segment)
          segment = []
          await this.#closing(c, step)
        } else {
          segment.push({ c, step })
        }
      }
    }
    await this.#segment(segment)
  }

  async #segment (items: Array<{ c: Case, step: Step }>): Promise<void> {
    if (items.length === 0) return
    const ws = this.#ws as WebSocket
    const waits: Array<Promise<void>> = []
    const mine: Pending[] = []
    const register = (c: Case, step: Step, replyTo: string | null, allowed: Outcome[]): void => {
      let settle!: () => void
      waits.push(new Promise<void>((resolve) => { settle = resolve }))
      const p: Pending = { c, step, allowed, replyTo, done: false, settle }
      mine.push(p)
      if (replyTo === null) this.#noId.push(p)
      else this.#byId.set(replyTo, [...(this.#byId.get(replyTo) ?? []), p])
    }
    let silent = 0
    for (const { c, step } of items) {
      const e = step.expect
      if (e.t === 'answer') register(c, step, e.replyTo, e.allowed)
      else silent++
      this.stats.framesTried++
      ws.send(step.data, { binary: step.binary === true })
    }
    const barrierId = this.ctx.rand.uuid()
    const barrierCase: Case = { kind: 'barrier', note: 'end of a segment', steps: [] }
    const barrierText = JSON.stringify({ header: { id: barrierId, message_type: 'barrier' } })
    register(barrierCase, { data: barrierText, expect: { t: 'answer', replyTo: barrierId, allowed: [{ t: 'error', code: 'invalid_frame' }] } }, barrierId, [{ t: 'error', code: 'invalid_frame' }])
    const barrier = mine[mine.length - 1] as Pending
    this.stats.barriers++
    ws.send(barrierText)

    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), this.answerTimeoutMs) })
    const closed = this.#closed.then((code) => ({ code }))
    const barrierBack = new Promise<void>((resolve) => {
      const old = barrier.settle
      barrier.settle = () => { old(); resolve() }
    })
    const first = await Promise.race([barrierBack.then(() => 'barrier' as const), timeout, closed])
    if (first === 'barrier') {
      // every refusal without in_reply_to was sent before the barrier's: what is missing now will not come
      for (const p of mine) {
        if (p.replyTo === null && !p.done) {
          p.done = true
          p.settle()
          this.#fail(p.c, frameText(p.step), describeOutcomes({ t: 'answer', replyTo: null, allowed: p.allowed }), 'no refusal before the barrier\'s')
        }
      }
    }
    const end = await Promise.race([Promise.all(waits).then(() => 'all' as const), timeout, closed])
    clearTimeout(timer)
    for (const p of mine) {
      if (p.done) continue
      p.done = true
      this.#fail(p.c, frameText(p.step), describeOutcomes({ t: 'answer', replyTo: p.replyTo, allowed: p.allowed }),
        typeof end === 'object' ? `the connection closed (${end.code}) first` : `no answer within ${this.answerTimeoutMs} ms`)
    }
    this.#noId = this.#noId.filter((p) => !p.done)
    for (const p of mine) {
      if (p.replyTo === null) continue
      const left = (this.#byId.get(p.replyTo) ?? []).filter((q) => !q.done)
      if (left.length === 0) this.#byId.delete(p.replyTo)
      else this.#byId.set(p.replyTo, left)
    }
    if (typeof end === 'object') {
      count(this.stats.closesByCode, end.code)
      this.stats.unexpectedCloses++
      this.#fail({ kind: 'close', note: 'the connection closed while answers were owed' }, '', 'no close', String(end.code))
      await this.connect()
    } else if (silent > 0) {
      this.stats.accepted.silent_ack += silent
    }
  }

  async #closing (c: Case, step: Step): Promise<void> {
    const ws = this.#ws as WebSocket
    const expected = step.expect.t === 'close' ? step.expect.codes : []
    this.stats.framesTried++
    ws.send(step.data, { binary: step.binary === true })
    // a barrier after it: the server reads frames in order, so an answer to the barrier proves it kept the
    // connection open past the frame that should have closed it
    const barrierId = this.ctx.rand.uuid()
    const barrierText = JSON.stringify({ header: { id: barrierId, message_type: 'barrier' } })
    const barrierCase: Case = { kind: 'barrier', note: 'after a frame that closes', steps: [] }
    const refused: Outcome[] = [{ t: 'error', code: 'invalid_frame' }]
    const answered = new Promise<'answered'>((resolve) => {
      this.#byId.set(barrierId, [{ c: barrierCase, step: { data: barrierText, expect: { t: 'answer', replyTo: barrierId, allowed: refused } }, allowed: refused, replyTo: barrierId, done: false, settle: () => resolve('answered') }])
    })
    this.stats.barriers++
    ws.send(barrierText, () => {})
    let timer: NodeJS.Timeout | undefined
    const code = await Promise.race([this.#closed, answered, new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), this.answerTimeoutMs) })])
    clearTimeout(timer)
    this.#byId.delete(barrierId)
    if (typeof code === 'string') {
      this.#fail(c, frameText(step), `close ${expected.join('/')}`, code === 'answered' ? 'still open: a frame sent after it was answered' : `still open after ${this.answerTimeoutMs} ms`)
      ws.terminate()
      await this.#closed
    } else {
      count(this.stats.closesByCode, code)
      if (!expected.includes(code)) this.#fail(c, frameText(step), `close ${expected.join('/')}`, `close ${code}`)
    }
    await this.connect()
  }
}
