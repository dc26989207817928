import WebSocket from 'ws'
import type { BenchOptions } from '../args.js'
import { startBareServer } from '../bare-server-process.js'
import { openConnections } from '../connections.js'
import { broadcastFrame, broadcastId, plainText, readFrame } from '../envelope.js'
import { CpuMeter, type CpuFigures } from '../meters.js'
import { Pacer } from '../pacer.js'
import { waitQuiet } from '../pool.js'
import { projectCommit } from '../proc.js'
import { mb, round, type Report, type ReportSection } from '../report.js'
import { PROJECT_ROOT, sealwireServer, wsUrl, type ServerHandle } from '../server-process.js'
import { LatencyHistogram, Tally, type LatencySummary } from '../stats.js'
import { createUsers, localUser, type BenchUser } from '../users.js'
import { generatorNotes } from './notes.js'
import { Timeline } from './timeline.js'

interface FanOutTarget {
  label: string
  server: ServerHandle
  /** one per receiver; the first senders.length of them send */
  urls: string[]
  senders: BenchUser[]
}

interface FanOutResult {
  measuredS: number
  sent: number
  deliveries: number
  deliveredPerS: number
  deliveriesPerMessage: number
  connectionsOpen: number
  missingDeliveries: number
  latencyArrival: LatencySummary
  latencyAccepted: LatencySummary
  errorFrames: Record<string, number>
  connectionErrors: Record<string, number>
  receipts: Record<string, number>
  cpu: CpuFigures
  rssBytes: number | undefined
  details: ReportSection
  notes: string[]
}

interface Sent {
  sentAt: number
  measured: boolean
}

/** Connects every receiver to one server, runs the broadcast load and counts arrivals at every socket. */
async function fanOut (target: FanOutTarget, opts: BenchOptions): Promise<FanOutResult> {
  const closedLoop = opts.rate === 0
  const nSenders = target.senders.length
  const timeline = new Timeline()
  const arrival = new LatencyHistogram()
  const accepted = new LatencyHistogram()
  const errorFrames = new Tally()
  const receipts = new Tally()
  const otherFrames = new Tally()
  const skipped = new Tally()
  const sentMap = new Map<string, Sent>()
  const pending: Set<string>[] = target.senders.map(() => new Set())
  const content = plainText(opts.size)
  const c = { frames: 0, sent: 0, deliveriesMeasured: 0, deliveriesInWindow: 0, unknownDeliveries: 0, acceptedInWindow: 0, failed: 0, unparsable: 0 }
  let lastDeliveryAt = 0
  let sending = false
  let sockets: (WebSocket | undefined)[] = []

  function send (i: number): void {
    if (!sending) return
    const ws = sockets[i]
    const sender = target.senders[i]
    if (ws?.readyState !== WebSocket.OPEN || sender === undefined) {
      skipped.add('socket not open')
      return
    }
    const frame = broadcastFrame(sender, content)
    const measured = timeline.phase === 'measure'
    sentMap.set(frame.id, { sentAt: performance.now(), measured })
    pending[i]?.add(frame.id)
    ws.send(frame.text)
    if (measured) c.sent++
  }

  function delivery (id: string): void {
    const now = performance.now()
    lastDeliveryAt = now
    if (timeline.phase === 'measure') c.deliveriesInWindow++
    const sent = sentMap.get(id)
    if (sent === undefined) {
      c.unknownDeliveries++
    } else if (sent.measured) {
      c.deliveriesMeasured++
      arrival.record(now - sent.sentAt)
    }
  }

  function settle (i: number, id: string, ok: boolean, retryAfterMs?: number): void {
    if (pending[i]?.delete(id) !== true) return
    const sent = sentMap.get(id)
    if (ok) {
      if (timeline.phase === 'measure') c.acceptedInWindow++
      if (sent?.measured === true) accepted.record(performance.now() - sent.sentAt)
    } else if (sent?.measured === true) {
      c.failed++
    }
    if (!closedLoop) return
    if (retryAfterMs !== undefined && retryAfterMs > 0) setTimeout(() => send(i), retryAfterMs)
    else send(i)
  }

  function onText (i: number, data: Buffer): void {
    c.frames++
    const id = broadcastId(data)
    if (id !== undefined) {
      delivery(id)
      return
    }
    // receivers that do not send only need to notice errors; presence and the like are not parsed
    if (i >= nSenders && data.indexOf('"error"') < 0) return
    const frame = readFrame(data.toString())
    if (frame === undefined) {
      c.unparsable++
    } else if (frame.type === 'receipt') {
      receipts.add(frame.status ?? '(no status)')
      if (frame.status === 'accepted' && frame.inReplyTo !== undefined) settle(i, frame.inReplyTo, true)
    } else if (frame.type === 'error') {
      errorFrames.add(frame.code ?? '(no code)')
      if (frame.inReplyTo !== undefined) settle(i, frame.inReplyTo, false, frame.retryAfterMs)
    } else {
      otherFrames.add(frame.type)
    }
  }

  console.error(`${target.label}: opening ${target.urls.length} connections`)
  const conns = await openConnections(target.urls, opts.openConcurrency, (i) => (data) => onText(i, data))
  sockets = conns.sockets
  await waitQuiet(() => c.frames, 300, 10_000)
  const connectionsOpen = conns.openCount()

  const cpu = new CpuMeter(target.server)
  let next = 0
  const pacer = closedLoop ? undefined : new Pacer(opts.rate, () => send(next++ % nSenders))
  const pendingTotal = (): number => pending.reduce((n, p) => n + p.size, 0)

  const result = await timeline.run(opts.warmupS, opts.durationS, {
    begin: () => {
      sending = true
      if (pacer !== undefined) pacer.start()
      else for (let i = 0; i < nSenders; i++) for (let w = 0; w < opts.window; w++) send(i)
    },
    measureStart: () => cpu.start(),
    measureEnd: () => {
      sending = false
      pacer?.stop()
      cpu.stop()
    },
    drained: () => pendingTotal() === 0 && performance.now() - lastDeliveryAt > 250,
    progress: () => `sent ${c.sent}, arrivals ${c.deliveriesInWindow}, awaiting accepted ${pendingTotal()}`
  }, target.label)

  const rssBytes = target.server.rssBytes()
  const unexpectedCloses = conns.unexpectedCloses.toJSON()
  await conns.closeAll()

  const cpuFigures = cpu.figures
  const notes = generatorNotes(cpuFigures).map((n) => `${target.label}: ${n}`)
  const perMessage = c.sent === 0 ? 0 : c.deliveriesMeasured / c.sent
  const missing = Math.max(0, c.sent * (connectionsOpen - 1) - c.deliveriesMeasured)
  if (pacer !== undefined && c.sent < 0.97 * opts.rate * result.measuredS) {
    notes.push(`${target.label}: asked for ${opts.rate}/s but sent ${round(c.sent / result.measuredS)}/s`)
  }
  if (closedLoop && receipts.total === 0) {
    notes.push(`${target.label}: no accepted receipt came back for a broadcast, so the window never reopened`)
  }
  if (missing > 0) notes.push(`${target.label}: ${missing} arrivals missing (expected at least ${connectionsOpen - 1} per message)`)

  return {
    measuredS: result.measuredS,
    sent: c.sent,
    deliveries: c.deliveriesMeasured,
    deliveredPerS: round(c.deliveriesInWindow / result.measuredS),
    deliveriesPerMessage: round(perMessage, 2),
    connectionsOpen,
    missingDeliveries: missing,
    latencyArrival: arrival.summary(),
    latencyAccepted: accepted.summary(),
    errorFrames: errorFrames.toJSON(),
    connectionErrors: { ...conns.openErrors.toJSON(), ...unexpectedCloses },
    receipts: receipts.toJSON(),
    cpu: cpuFigures,
    rssBytes,
    details: {
      connections_open: connectionsOpen,
      send_rate_per_s: round(c.sent / result.measuredS),
      accepted_per_s: round(c.acceptedInWindow / result.measuredS),
      arrivals_per_message: round(perMessage, 2),
      missing_arrivals: missing,
      failed: c.failed,
      unknown_arrivals: c.unknownDeliveries,
      unparsable_frames: c.unparsable,
      receipts: receipts.toJSON(),
      other_frames: otherFrames.toJSON(),
      skipped_sends: skipped.toJSON(),
      drain_ms: result.drainMs,
      pacer_max_catch_up: pacer?.maxBehind
    },
    notes
  }
}

async function sealwirePhase (opts: BenchOptions): Promise<FanOutResult & { server: string }> {
  const server = await sealwireServer(opts)
  try {
    console.error(`registering ${opts.receivers} users`)
    const users = await createUsers(server.baseUrl, opts.receivers, opts.registerConcurrency)
    const urls = users.map((u) => wsUrl(server.baseUrl, `/ws?token=${encodeURIComponent(u.token)}`))
    const result = await fanOut({ label: 'sealwire', server, urls, senders: users.slice(0, opts.senders) }, opts)
    return { ...result, server: server.pid === undefined ? server.baseUrl : `child pid ${server.pid} at ${server.baseUrl}` }
  } finally {
    await server.stop()
  }
}

async function barePhase (opts: BenchOptions): Promise<FanOutResult> {
  const server = await startBareServer()
  try {
    const senders = Array.from({ length: opts.senders }, (_, i) => localUser(`bare-${i}`))
    const urls = Array.from({ length: opts.receivers }, () => wsUrl(server.baseUrl, '/'))
    return await fanOut({ label: 'bare-ws', server, urls, senders }, opts)
  } finally {
    await server.stop()
  }
}

function section (r: FanOutResult): ReportSection {
  return {
    messages_sent: r.sent,
    arrivals: r.deliveries,
    delivered_per_s: r.deliveredPerS,
    latency_arrival: r.latencyArrival,
    latency_accepted: r.latencyAccepted,
    server_rss_mb: mb(r.rssBytes),
    server_cpu_pct: r.cpu.server_cpu_pct,
    generator_cpu_pct: r.cpu.generator_cpu_pct,
    error_frames: r.errorFrames,
    connection_errors: r.connectionErrors,
    details: r.details
  }
}

export async function runBroadcast (opts: BenchOptions): Promise<Report> {
  // one after the other, so that the two servers never share the CPU
  const sealwire = await sealwirePhase(opts)
  const bare = await barePhase(opts)
  const ratio = bare.deliveredPerS === 0 ? 0 : round(sealwire.deliveredPerS / bare.deliveredPerS, 3)
  const notes = [...sealwire.notes, ...bare.notes]
  if (opts.rate > 0) {
    notes.push('at a fixed --rate both servers deliver what is asked, so the ratio says little; use --rate 0 to compare capacity')
  }
  return {
    scenario: 'broadcast',
    server: sealwire.server,
    server_commit: projectCommit(PROJECT_ROOT) ?? null,
    params: {
      receivers: opts.receivers,
      senders: opts.senders,
      mode: opts.rate === 0 ? `closed loop, window ${opts.window} per sender until accepted` : `open loop, ${opts.rate} msgs/s total`,
      size_bytes: opts.size,
      warmup_s: opts.warmupS,
      duration_s: opts.durationS
    },
    duration_s: round(sealwire.measuredS, 2),
    messages_sent: sealwire.sent,
    delivered: sealwire.deliveries,
    delivered_per_s: sealwire.deliveredPerS,
    latency_accepted: sealwire.latencyAccepted,
    latency_delivered: sealwire.latencyArrival,
    error_frames: sealwire.errorFrames,
    connection_errors: sealwire.connectionErrors,
    server_rss_mb: mb(sealwire.rssBytes),
    server_cpu_pct: sealwire.cpu.server_cpu_pct,
    generator_cpu_pct: sealwire.cpu.generator_cpu_pct,
    generator_event_loop_p99_ms: sealwire.cpu.generator_event_loop_p99_ms,
    details: sealwire.details,
    baseline_bare_ws: section(bare),
    ratio_sealwire_to_bare: ratio,
    notes
  }
}
