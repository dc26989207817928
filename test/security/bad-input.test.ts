// The bad-input suite (issue 5): thousands of generated malformed WebSocket frames and HTTP bodies against a
// running server, while a valid client keeps messaging alongside. Every frame must get a clear refusal (an
// error frame with a PROTOCOL.md code, or a close with the code the protocol names), every request a 4xx with
// {statusCode, code, error, message}; frames that happen to be valid must be accepted. The valid client must
// lose nothing, the server must stay up and its heap bounded.
//
// `npm test` runs a fixed-seed sample of the cases (every category among them); `npm run test:fuzz`
// (FUZZ_FULL=1) runs them all. Replay a run with FUZZ_SEED=<seed> (printed below); FUZZ_FRAMES and FUZZ_HTTP
// change the number of cases generated, FUZZ_SAMPLE the share the sample keeps.
import http from 'node:http'
import v8 from 'node:v8'
import vm from 'node:vm'
import fc from 'fast-check'
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { build, makeIdentity, registerAndLogin, registrationBody } from '../helper.js'
import { direct, hubFixture, idOf } from '../ws-client.js'
import { baseFrame, burstCases, type Case, type Ctx, frameCases, signFrame, type Step } from './frame-cases.js'
import { until, within } from '../until.js'
import { FrameRunner, newFrameStats } from './frame-runner.js'
import { check, type HttpCtx, httpCases, newHttpStats, send } from './http-cases.js'
import { categoryCounts, FUZZ_FULL, SAMPLE_SHARE, sampleCases } from './sample.js'
import { leak, Rand, UUID } from './util.js'
import { ValidPair, type PairReport } from './valid-pair.js'

const SEED = Number(process.env.FUZZ_SEED ?? 20261125)
const FRAME_CASES = Number(process.env.FUZZ_FRAMES ?? 5400)
const HTTP_CASES = Number(process.env.FUZZ_HTTP ?? 1200)
const BATCH = 40
const HTTP_CONCURRENCY = 8
const MAX_MESSAGE_BYTES = 65536
const CLOCK_SKEW_MS = 300_000

/** global.gc, or one got through V8 flags when the process was started without --expose-gc. */
function findGc (): (() => void) | undefined {
  const g = globalThis as { gc?: () => void }
  if (typeof g.gc === 'function') return g.gc
  try {
    v8.setFlagsFromString('--expose-gc')
    const gc = vm.runInNewContext('gc') as unknown
    return typeof gc === 'function' ? gc as () => void : undefined
  } catch {
    return undefined
  }
}

async function settledHeap (gc: (() => void) | undefined): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc?.()
    await new Promise((resolve) => setImmediate(resolve))
  }
  return process.memoryUsage().heapUsed
}

const MB = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MB`
const table = (o: Record<string, number>): string => Object.entries(o).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(' ')

function pairComment (t: Test, r: PairReport): void {
  t.comment(`valid client: sent ${r.sent}, accepted ${r.accepted}, delivered to bob ${r.bobReceived}, delivered receipts ${r.delivered}, ` +
    `in order: accepted ${r.acceptedInOrder} / bob ${r.bobInOrder} / delivered ${r.deliveredInOrder}, duplicates at bob ${r.bobDuplicates}, ` +
    `delivered before bob's ack ${r.deliveredBeforeAck}, errors ${r.errors.length}, closes ${r.closes.length}`)
  t.comment(`valid client also saw (ignored): ${table(r.otherFrames)}`)
}

function pairAsserts (t: Test, r: PairReport, minimum: number): void {
  t.ok(r.sent >= minimum, `the valid client sent ${r.sent} messages (at least ${minimum})`)
  t.equal(r.accepted, r.sent, 'every message of the valid client was accepted')
  t.equal(r.bobReceived, r.sent, 'every message reached bob')
  t.equal(r.delivered, r.sent, 'every message was reported delivered')
  t.ok(r.acceptedInOrder, 'accepted receipts came in the order sent')
  t.ok(r.bobInOrder, 'bob got the messages in the order sent')
  t.ok(r.deliveredInOrder, 'delivered receipts came in the order sent')
  t.equal(r.bobDuplicates, 0, 'bob got no message twice')
  t.equal(r.deliveredBeforeAck, 0, 'no message was reported delivered before bob acknowledged it (acks of others change nothing)')
  t.same(r.errors, [], 'the valid client got no error frame')
  t.same(r.closes, [], 'the valid client\'s connections stayed open')
}

t.test('reproductions of what the generated input found: each of these must be refused', async (t) => {
  const { app, alice, connect } = await hubFixture(t)
  const a = await connect(alice)
  const leapSecond = `${new Date().toISOString().slice(0, 17)}60.000Z`
  const cases: Array<[string, ReturnType<typeof direct>]> = [
    // Date.parse gives NaN, and NaN > CLOCK_SKEW_MS is false: the clock check lets any such timestamp through
    ['timestamp 2026-13-45T99:99:99.999Z (no such instant)', direct(alice.id, 'bob', { timestamp: '2026-13-45T99:99:99.999Z' })],
    [`timestamp ${leapSecond} (toISOString never prints second 60)`, direct(alice.id, 'bob', { timestamp: leapSecond })],
    // body.content is checked against a base64 pattern without the canonical-trailing-bits rule of the other fields
    ['body.content "AB==" (non-canonical trailing bits: the SDK\'s strict decoder refuses it)', direct(alice.id, 'bob', { content: 'AB==' })]
  ]
  for (const [name, frame] of cases) {
    a.send(frame)
    const answer = await a.reply(idOf(frame))
    t.equal(answer.header.message_type, 'error', `${name}: refused (got ${answer.header.message_type} ${JSON.stringify(answer.body)})`)
  }
  const overHttp = await app.inject({
    method: 'POST',
    url: '/direct-message/',
    headers: { authorization: `Bearer ${alice.token}` },
    payload: direct(alice.id, 'bob', { timestamp: '2026-13-45T99:99:99.999Z' })
  })
  t.equal(overHttp.statusCode, 400, `POST /direct-message/ with timestamp 2026-13-45T99:99:99.999Z: 400 (got ${overHttp.statusCode} ${overHttp.body})`)

  // PROTOCOL.md: a username is 1 to 64 Unicode characters; a lone surrogate is none, and SQLite keeps it as invalid UTF-8
  const loner = makeIdentity('loner')
  const reg = await app.inject({ method: 'POST', url: '/auth/register', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ ...registrationBody(loner), username: 'lone\ud800' }) })
  t.equal(reg.statusCode, 400, `username "lone\\ud800": 400 (got ${reg.statusCode})`)
  if (reg.statusCode === 201) {
    const stored = await app.inject({ url: '/auth/users/loner', headers: { authorization: `Bearer ${alice.token}` } })
    t.comment(`registered as ${JSON.stringify(reg.json().username)}, read back as ${JSON.stringify(stored.json().username)}`)
  }
})

t.test('bad input: generated malformed frames and HTTP bodies get clear refusals; a valid client loses nothing', async (t) => {
  const crashes: string[] = []
  const onRejection = (err: unknown): void => { crashes.push(`unhandledRejection: ${err instanceof Error ? err.stack ?? err.message : String(err)}`) }
  const onException = (err: Error): void => { crashes.push(`uncaughtException: ${err.stack ?? err.message}`) }
  // recorded instead of crashing the test process, so that the run finishes and reports them
  process.on('unhandledRejection', onRejection)
  process.on('uncaughtException', onException)
  t.teardown(() => {
    process.off('unhandledRejection', onRejection)
    process.off('uncaughtException', onException)
  })
  const started = Date.now()

  const app = await build(t, {
    config: {
      // limits high enough that rate_limited hides no other refusal (the next test runs with the defaults)
      MESSAGE_RATE_LIMIT: 1_000_000,
      MESSAGE_BURST_LIMIT: 1_000_000,
      AUTH_RATE_LIMIT_MAX: 1_000_000,
      ABUSE_MAX_FAILURES: 1_000_000,
      MAX_MESSAGE_BYTES,
      CLOCK_SKEW_MS
    }
  })
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const url = address.replace(/^http/, 'ws')
  const alice = await registerAndLogin(app, 'alice')
  const bob = await registerAndLogin(app, 'bob')
  const sink = await registerAndLogin(app, 'sink')
  const mallory = await registerAndLogin(app, 'mallory')
  const registered = new Set(['alice', 'bob', 'sink', 'mallory'])
  const commands = new Set(app.commands.list().map((c) => c.name))

  const pair = new ValidPair(url, alice, bob, new Rand(`${SEED}:pair`), { intervalMs: 8, window: 8, ackDelayMs: 25 })
  await pair.start()
  t.teardown(async () => { await pair.stop(0) })

  const frameCtx = (seed: string): Ctx => ({
    maxBytes: MAX_MESSAGE_BYTES,
    me: mallory.id,
    alice: alice.id,
    bob: bob.id,
    sink: sink.id,
    stranger: makeIdentity('stranger'),
    registered,
    commands,
    clockSkewMs: CLOCK_SKEW_MS,
    rand: new Rand(seed),
    now: Date.now,
    accepted: [],
    validFrames: () => pair.recentFrames()
  })
  const ctx = frameCtx(`${SEED}:frames`)
  const frames = newFrameStats()
  const runner = new FrameRunner(url, mallory.token, ctx, frames)
  await runner.connect()
  t.teardown(async () => { await runner.close() })

  const allBuilders = fc.sample(frameCases(), { seed: SEED, numRuns: FRAME_CASES })
  const allHttp = fc.sample(httpCases(), { seed: SEED + 1, numRuns: HTTP_CASES })
  const builders = FUZZ_FULL ? allBuilders : sampleCases(allBuilders, `${SEED}:frames`)
  const httpBuilders = FUZZ_FULL ? allHttp : sampleCases(allHttp, `${SEED}:http`)
  t.comment(`seed ${SEED} (replay with FUZZ_SEED=${SEED}); ` + (FUZZ_FULL
    ? `full run: ${FRAME_CASES} frame cases, ${HTTP_CASES} HTTP cases`
    : `sample (share ${SAMPLE_SHARE}, at least one of each category): ${builders.length} of ${FRAME_CASES} frame cases, ` +
      `${httpBuilders.length} of ${HTTP_CASES} HTTP cases; the full run is npm run test:fuzz`))
  t.comment(`frame cases by category: ${categoryCounts(builders)}`)
  t.comment(`HTTP cases by route: ${categoryCounts(httpBuilders)}`)
  const gc = findGc()
  // warm up (JIT, caches, the first statements), then take the baseline
  await runner.run(builders.slice(0, BATCH).map((b) => b(ctx)))
  const heapBefore = await settledHeap(gc)
  const rssBefore = process.memoryUsage().rss

  // ---- WebSocket frames and HTTP requests, at the same time -----------------------------------------
  let heapMiddle = 0
  const wsFuzz = async (): Promise<void> => {
    for (let i = BATCH; i < builders.length; i += BATCH) {
      const cases: Case[] = builders.slice(i, i + BATCH).map((b) => b(ctx))
      await runner.run(cases)
      // halfway: a leak grows as much again in the second half, a bounded heap does not
      if (heapMiddle === 0 && i >= builders.length / 2) heapMiddle = await settledHeap(gc)
    }
  }

  const httpStats = newHttpStats()
  let userNumber = 0
  const hctx: HttpCtx = {
    frames: frameCtx(`${SEED}:http`),
    token: mallory.token,
    existing: ['alice', 'bob', 'sink', 'mallory'],
    freshUserId: () => `zz-fuzz-${SEED % 10_000}-${userNumber++}`,
    registered: (userId) => registered.add(userId)
  }
  const base = new URL(address)
  const agent = new http.Agent({ keepAlive: true, maxSockets: HTTP_CONCURRENCY })
  t.teardown(() => agent.destroy())
  const httpFuzz = async (): Promise<void> => {
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < httpBuilders.length) {
        const build = httpBuilders[next++]
        if (build === undefined) break
        const c = build(hctx)
        try {
          check(c, await send(base, agent, c), hctx, httpStats)
        } catch (err) {
          httpStats.tried++
          httpStats.failures.push({ kind: c.kind, note: c.note, request: `POST ${c.path}`, expected: 'an answer', got: String(err) })
        }
      }
    }
    await Promise.all(Array.from({ length: HTTP_CONCURRENCY }, worker))
  }
  const fuzzStart = Date.now()
  await Promise.all([wsFuzz(), httpFuzz()])
  const fuzzMs = Date.now() - fuzzStart

  // ---- afterwards: the valid client, the server, the heap ----------------------------------------------
  // a shorter run (the sample) still lets the valid client send its hundred alongside the fuzzing
  await until(() => pair.sent.length >= 100, 'the valid client has sent 100 messages')
  const report = await pair.stop(30_000)
  await runner.close()

  const health = await fetch(`${address}/health`)
  const healthBody = await health.json() as { status?: string }
  const probe = new WebSocket(`${url}/ws?token=${mallory.token}`)
  const pong = await new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve('no answer'), 30_000)
    probe.on('open', () => {
      const c = frameCtx(`${SEED}:probe`)
      const signed = signFrame(c, baseFrame(c, 'server')) as { header: Record<string, unknown>, body: Record<string, unknown> }
      probe.on('message', (data) => {
        const f = JSON.parse(data.toString()) as { header: { message_type: string, in_reply_to?: string } }
        if (f.header.in_reply_to === signed.header.id) { clearTimeout(timer); resolve(f.header.message_type) }
      })
      probe.send(JSON.stringify(signed))
    })
    probe.on('error', () => resolve('connection failed'))
  })
  probe.close()

  const heapAfter = await settledHeap(gc)
  const rssAfter = process.memoryUsage().rss
  const growth = heapAfter - heapBefore
  const slack = gc === undefined ? 160 * 1024 * 1024 : 40 * 1024 * 1024

  // ---- the counts ----------------------------------------------------------------------------------------
  const refused = Object.values(frames.refusedByCode).reduce((a, b) => a + b, 0)
  const acceptedValid = frames.accepted.accepted + frames.accepted.duplicate + frames.accepted.server_response + frames.accepted.silent_ack
  const closes = Object.values(frames.closesByCode).reduce((a, b) => a + b, 0)
  t.comment(`frames tried: ${frames.framesTried} (plus ${frames.barriers} barrier frames) in ${fuzzMs} ms, alongside ${httpStats.tried} HTTP requests`)
  t.comment(`frames by category: ${table(frames.byKind)}`)
  t.comment(`refused by code (${refused}): ${table(frames.refusedByCode)}`)
  t.comment(`accepted-valid (${acceptedValid}): accepted=${frames.accepted.accepted} duplicate=${frames.accepted.duplicate} server_response=${frames.accepted.server_response} silent valid acks=${frames.accepted.silent_ack}`)
  t.comment(`closes by code (${closes}): ${table(frames.closesByCode)}; unexpected closes ${frames.unexpectedCloses}`)
  t.comment(`frames not asked for but harmless: ${table(frames.ignored)}`)
  t.comment(`HTTP requests tried: ${httpStats.tried}; by status: ${table(httpStats.byStatus)}; by code: ${table(httpStats.byCode)}; accepted-valid ${httpStats.acceptedValid}`)
  t.comment(`HTTP by route: ${table(httpStats.byKind)}`)
  pairComment(t, report)
  t.comment(`server alive: GET /health ${health.status} ${JSON.stringify(healthBody)}; a new connection's ping: ${pong}`)
  t.comment(`heap (process.memoryUsage().heapUsed, server and test share the process; ${gc === undefined ? 'no gc available' : 'after gc'}): ` +
    `before ${MB(heapBefore)}, halfway through the frames ${MB(heapMiddle)}, after ${MB(heapAfter)}, growth ${MB(growth)} (bound ${MB(slack)}); ` +
    `rss ${MB(rssBefore)} → ${MB(rssAfter)} (rss includes SQLite's page cache and is not asserted)`)
  t.comment(`whole test ${Date.now() - started} ms`)

  // failures: a count per kind of case, then one example of each
  const pattern = (kind: string, note: string): string => `${kind}: ${note.replace(/\(.*\)|"[^"]*"?|[0-9a-f]{8}-[0-9a-f-]{27}|\d+/g, '#')}`
  const groups = new Map<string, { n: number, example: string }>()
  for (const f of frames.failures) {
    const key = pattern(`frame ${f.kind}`, f.note)
    const g = groups.get(key) ?? { n: 0, example: `${f.note}\n  sent: ${f.frame}\n  expected: ${f.expected}\n  got: ${f.got}` }
    g.n++
    groups.set(key, g)
  }
  for (const f of httpStats.failures) {
    const key = pattern(f.kind, f.note)
    const g = groups.get(key) ?? { n: 0, example: `${f.note}\n  request: ${f.request}\n  expected: ${f.expected}\n  got: ${f.got}` }
    g.n++
    groups.set(key, g)
  }
  for (const [key, g] of [...groups].slice(0, 40)) t.comment(`FAILURE × ${g.n} [${key}]\n  ${g.example}`)
  for (const c of crashes.slice(0, 5)) t.comment(`CRASH ${c}`)

  // ---- the assertions ---------------------------------------------------------------------------------
  t.ok(frames.framesTried >= builders.length, `${frames.framesTried} frames tried (at least ${builders.length})`)
  t.ok(httpStats.tried >= httpBuilders.length, `${httpStats.tried} HTTP requests tried (at least ${httpBuilders.length})`)
  t.equal(frames.failures.length, 0, `every frame got the answer PROTOCOL.md gives it (${frames.failures.length} did not)`)
  t.equal(httpStats.failures.length, 0, `every HTTP request got a 4xx {statusCode, code, error, message} or, when valid, its 2xx (${httpStats.failures.length} did not)`)
  t.notOk(Object.keys(httpStats.byStatus).some((s) => Number(s) >= 500), 'no 5xx')
  t.equal(frames.unexpectedCloses, 0, 'no connection closed unless a frame asked for it')
  for (const code of ['invalid_json', 'invalid_frame', 'bad_signature', 'forbidden', 'unknown_recipient', 'clock_skew', 'unknown_command']) {
    t.ok((frames.refusedByCode[code] ?? 0) > 0, `the run exercised ${code}`)
  }
  for (const code of ['1009', '1003', '1007']) t.ok((frames.closesByCode[code] ?? 0) > 0, `the run exercised close ${code}`)
  t.ok(frames.accepted.accepted > 0 && frames.accepted.duplicate > 0 && frames.accepted.server_response > 0 && frames.accepted.silent_ack > 0, 'valid frames among the generated ones were accepted')
  t.same(crashes, [], 'no uncaught exception or unhandled rejection')
  t.equal(health.status, 200, 'GET /health answers 200 after the run')
  t.equal(pong, 'server_response', 'a new connection is served after the run')
  t.ok(growth < slack, `heap growth ${MB(growth)} is below ${MB(slack)}`)
  pairAsserts(t, report, 100)
})

t.test('with the default limits: rate_limited with retry_after_ms, 1008 for a client that keeps being refused, 429 over HTTP', async (t) => {
  const app = await build(t, { config: { MAX_MESSAGE_BYTES, CLOCK_SKEW_MS } })
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const url = address.replace(/^http/, 'ws')
  const alice = await registerAndLogin(app, 'alice')
  const bob = await registerAndLogin(app, 'bob')
  const sink = await registerAndLogin(app, 'sink')
  const mallory = await registerAndLogin(app, 'mallory')
  // the valid client stays below the default 5 messages per second
  const pair = new ValidPair(url, alice, bob, new Rand(`${SEED}:pair-default`), { intervalMs: 250, window: 2, ackDelayMs: 25 })
  await pair.start()
  t.teardown(async () => { await pair.stop(0) })
  const ctx: Ctx = {
    maxBytes: MAX_MESSAGE_BYTES,
    me: mallory.id,
    alice: alice.id,
    bob: bob.id,
    sink: sink.id,
    stranger: makeIdentity('stranger'),
    registered: new Set(['alice', 'bob', 'sink', 'mallory']),
    commands: new Set(app.commands.list().map((c) => c.name)),
    clockSkewMs: CLOCK_SKEW_MS,
    rand: new Rand(`${SEED}:default`),
    now: Date.now,
    accepted: [],
    validFrames: () => pair.recentFrames()
  }

  // one burst of 60 generated frames, as fast as the socket takes them
  const steps: Array<{ c: Case, step: Step }> = []
  for (const b of fc.sample(burstCases(), { seed: SEED + 2, numRuns: 60 })) {
    const c = b(ctx)
    for (const step of c.steps) if (step.expect.t === 'answer' && typeof step.data === 'string') steps.push({ c, step })
  }
  const ws = new WebSocket(`${url}/ws?token=${mallory.token}`)
  const answers: Array<{ header: Record<string, unknown>, body: Record<string, unknown> }> = []
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)))
  ws.on('message', (data) => {
    const f = JSON.parse(data.toString()) as { header: Record<string, unknown>, body: Record<string, unknown> }
    // the server's answers; a valid direct message to ourselves also comes back as an envelope
    if (f.header.from === 'server' && f.header.message_type !== 'presence') answers.push(f)
  })
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject) })
  for (const { step } of steps) ws.send(step.data)
  const code = await within(closed, 'the server closes the connection').catch(() => 'still open')

  const errors = answers.filter((f) => f.header.message_type === 'error')
  const limited = errors.filter((f) => f.body.code === 'rate_limited')
  const byCode: Record<string, number> = {}
  for (const f of answers) {
    const key = f.header.message_type === 'error' ? String(f.body.code) : `${String(f.header.message_type)} ${String(f.body.status ?? '')}`.trim()
    byCode[key] = (byCode[key] ?? 0) + 1
  }
  // every answer belongs to a frame sent and is one it may get, or rate_limited once the frame reached the bucket
  const problems: string[] = []
  for (const f of answers) {
    const irt = f.header.in_reply_to
    const sent = steps.find(({ step }) => step.expect.t === 'answer' && step.expect.replyTo === irt && irt !== undefined)
    if (f.header.message_type === 'error' && (typeof f.body.message !== 'string' || f.body.message === '' || leak(f.body.message, JSON.stringify(steps.map(({ step }) => step.data))) !== undefined)) problems.push(`bad message ${JSON.stringify(f.body)}`)
    if (irt === undefined) {
      if (f.header.message_type !== 'error' || !['invalid_json', 'invalid_frame'].includes(String(f.body.code))) problems.push(`no in_reply_to on ${JSON.stringify(f)}`)
      continue
    }
    if (sent === undefined || sent.step.expect.t !== 'answer') { problems.push(`answer to nothing sent: ${JSON.stringify(f)}`); continue }
    const allowed = sent.step.expect.allowed
    const reachesBucket = allowed.some((o) => o.t !== 'error' || !['invalid_json', 'invalid_frame', 'forbidden'].includes(o.code))
    const fits = allowed.some((o) => (o.t === 'error' && f.header.message_type === 'error' && o.code === f.body.code) ||
      (o.t === 'receipt' && f.header.message_type === 'receipt' && o.status === f.body.status) ||
      (o.t === 'response' && f.header.message_type === 'server_response')) ||
      (reachesBucket && f.body.code === 'rate_limited')
    if (!fits) problems.push(`[${sent.c.kind}] ${sent.c.note}: got ${JSON.stringify(f.body)}`)
  }
  for (const f of limited) {
    const wait = f.body.retry_after_ms
    if (typeof wait !== 'number' || wait < 1 || wait > 200) problems.push(`retry_after_ms ${String(wait)} (one token comes every 200 ms)`)
    if (typeof f.header.in_reply_to !== 'string' || !UUID.test(f.header.in_reply_to)) problems.push('rate_limited without in_reply_to')
  }
  t.comment(`default limits: ${steps.length} frames sent in one burst, ${answers.length} answers before the close: ${table(byCode)}; close ${String(code)}`)
  t.equal(code, 1008, 'the connection that kept being refused was closed with 1008')
  t.equal(errors.length, 21, 'the 21st refused frame within 10 s closed it: more than max(20, 2 × burst 10)')
  t.ok(limited.length > 0, `${limited.length} frames were refused with rate_limited`)
  t.same(problems, [], 'every answer fits its frame')

  // the same user can come back, and once the bucket has refilled its messages are accepted again: a valid
  // message is sent until one is answered other than rate_limited (the bucket refills by the clock)
  const again = new WebSocket(`${url}/ws?token=${mallory.token}`)
  await new Promise<void>((resolve, reject) => { again.once('open', () => resolve()); again.once('error', reject) })
  const waiting = new Map<string, (answer: string) => void>()
  again.on('message', (data) => {
    const f = JSON.parse(data.toString()) as { header: Record<string, unknown>, body: Record<string, unknown> }
    waiting.get(String(f.header.in_reply_to))?.(`${String(f.header.message_type)} ${String(f.body.status ?? f.body.code)}`)
  })
  let receipt = 'no answer'
  await until(async () => {
    const ok = signFrame(ctx, baseFrame(ctx, 'direct'))
    const answer = new Promise<string>((resolve) => waiting.set(String((ok.header as Record<string, unknown>).id), resolve))
    again.send(JSON.stringify(ok))
    receipt = await within(answer, 'an answer to a valid message')
    return receipt !== 'error rate_limited'
  }, 'the bucket refills', 30_000, 200)
  t.equal(receipt, 'receipt accepted', 'after the refill a valid message is accepted on a new connection')
  again.close()

  // HTTP shares the message bucket: a quick series ends in 429 rate_limited with Retry-After
  const statuses: number[] = []
  const bodies: string[] = []
  for (let i = 0; i < 14; i++) {
    const frame = signFrame(ctx, baseFrame(ctx, 'direct'))
    const res = await fetch(`${address}/direct-message/`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${mallory.token}` }, body: JSON.stringify(frame) })
    statuses.push(res.status)
    const text = await res.text()
    if (res.status === 429) bodies.push(`${text} retry-after=${String(res.headers.get('retry-after'))}`)
  }
  t.comment(`POST /direct-message/ × 14 right after: ${statuses.join(' ')}`)
  t.ok(statuses.every((s) => s === 200 || s === 429), 'each is stored or refused with 429')
  t.ok(statuses.includes(429), 'the bucket ran out')
  for (const b of bodies) t.match(b, /^\{"statusCode":429,"code":"rate_limited","error":"Too Many Requests","message":"[^"]+"\} retry-after=[1-9]/, 'a 429 body and Retry-After')

  // the /auth limiter: AUTH_RATE_LIMIT_MAX (30) requests per IP per minute, then 429
  const authStats = newHttpStats()
  const hctx: HttpCtx = {
    frames: ctx,
    token: mallory.token,
    existing: ['alice', 'bob', 'sink', 'mallory'],
    freshUserId: (() => { let n = 0; return () => `zz-limit-${n++}` })(),
    registered: () => {}
  }
  const base = new URL(address)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  let limitedAuth = 0
  for (const b of fc.sample(httpCases(frameCases(), true), { seed: SEED + 3, numRuns: 45 })) {
    const c = b(hctx)
    const res = await send(base, agent, c)
    if (res.status === 429) {
      limitedAuth++
      count429(t, res)
    } else {
      check(c, res, hctx, authStats)
    }
  }
  t.comment(`POST /auth/register × 45 (after the 4 registrations of the setup): ${limitedAuth} × 429, the others ${table(authStats.byStatus)}`)
  t.ok(limitedAuth >= 45 + 4 - 30, `${limitedAuth} requests over the limit of 30 were refused with 429`)
  for (const f of authStats.failures) t.comment(`HTTP FAILURE ${f.note}\n  request: ${f.request}\n  expected: ${f.expected}\n  got: ${f.got}`)
  t.same(authStats.failures.length, 0, 'the requests below the limit got their own answers')

  // the valid client's traffic beside the abuse is what the asserts below judge: on a fast machine the abuse may be
  // over before it has sent enough, so it goes on until it has (a condition, not a time)
  await until(() => pair.sent.length >= 5, 'the valid client sent five messages')
  const report = await pair.stop(10_000)
  pairComment(t, report)
  pairAsserts(t, report, 5)
})

function count429 (t: Test, res: { status: number, headers: http.IncomingHttpHeaders, body: string }): void {
  const body = JSON.parse(res.body) as Record<string, unknown>
  if (body.code !== 'rate_limited' || body.statusCode !== 429 || Number(res.headers['retry-after']) < 1) {
    t.fail(`a 429 without rate_limited or Retry-After: ${res.body} ${String(res.headers['retry-after'])}`)
  }
}

t.test('the harness notices a missing answer, a wrong answer, an answer nobody asked for and a close that did not come', async (t) => {
  const { app, url, alice, bob } = await hubFixture(t)
  const sink = await registerAndLogin(app, 'sink')
  const ctx: Ctx = {
    maxBytes: MAX_MESSAGE_BYTES,
    me: alice.id,
    alice: alice.id,
    bob: bob.id,
    sink: sink.id,
    stranger: makeIdentity('stranger'),
    registered: new Set(['alice', 'bob', 'sink']),
    commands: new Set(app.commands.list().map((c) => c.name)),
    clockSkewMs: CLOCK_SKEW_MS,
    rand: new Rand(`${SEED}:harness`),
    now: Date.now,
    accepted: [],
    validFrames: () => []
  }
  const stats = newFrameStats()
  const runner = new FrameRunner(url, alice.token, ctx, stats)
  await runner.connect()
  t.teardown(async () => { await runner.close() })
  const valid = JSON.stringify(signFrame(ctx, baseFrame(ctx, 'direct')))
  const ack = JSON.stringify({ header: { message_type: 'ack', in_reply_to: ctx.rand.uuid() } })
  const wrongly = (note: string, step: Step): Case => ({ kind: 'harness', note, steps: [step] })
  const id = (text: string): string => (JSON.parse(text) as { header: { id: string } }).header.id
  const tries: Array<[string, Case, RegExp]> = [
    ['a valid ack said to be refused', wrongly('missing', { data: ack, expect: { t: 'answer', replyTo: null, allowed: [{ t: 'error', code: 'invalid_frame' }] } }), /no refusal before the barrier/],
    ['a valid frame said to be a bad signature', wrongly('wrong', { data: valid, expect: { t: 'answer', replyTo: id(valid), allowed: [{ t: 'error', code: 'bad_signature' }] } }), /"status":"accepted"/],
    ['broken JSON said to be silent', wrongly('unasked', { data: '{"header":', expect: { t: 'silent' } }), /invalid_json/],
    ['a valid frame said to close the socket', wrongly('no close', { data: JSON.stringify(signFrame(ctx, baseFrame(ctx, 'direct'))), expect: { t: 'close', codes: [1009] } }), /still open/]
  ]
  for (const [name, c, got] of tries) {
    const before = stats.failures.length
    await runner.run([c])
    const found = stats.failures.slice(before)
    t.ok(found.some((f) => got.test(f.got)), `${name}: noticed (${found.map((f) => f.got.slice(0, 80)).join(' / ')})`)
  }
})
