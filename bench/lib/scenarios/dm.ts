import WebSocket from 'ws'
import type { BenchOptions } from '../args.js'
import { openConnections } from '../connections.js'
import { ackFrame, directFrame, readFrame } from '../envelope.js'
import { CpuMeter } from '../meters.js'
import { Pacer } from '../pacer.js'
import { waitQuiet } from '../pool.js'
import { projectCommit } from '../proc.js'
import { mb, round, type Report } from '../report.js'
import { PROJECT_ROOT, sealwireServer, wsUrl, type ServerHandle } from '../server-process.js'
import { LatencyHistogram, Tally } from '../stats.js'
import { createUsers, type BenchUser } from '../users.js'
import { generatorNotes } from './notes.js'
import { Timeline } from './timeline.js'

// open loop: beyond this many unanswered messages a sender skips its turn instead of piling up memory
const OPEN_LOOP_CAP = 4096

interface Pending {
  sentAt: number
  measured: boolean
  accepted: boolean
}

interface Peer {
  user: BenchUser
  partner: string
  ws: WebSocket | undefined
  pending: Map<string, Pending>
}

export async function runDm (opts: BenchOptions): Promise<Report> {
  const server = await sealwireServer(opts)
  try {
    return await measureDm(opts, server)
  } finally {
    await server.stop()
  }
}

async function measureDm (opts: BenchOptions, server: ServerHandle): Promise<Report> {
  const closedLoop = opts.rate === 0
  console.error(`registering ${opts.users} users`)
  const users = await createUsers(server.baseUrl, opts.users, opts.registerConcurrency)
  const peers: Peer[] = users.map((user, i) => ({
    user,
    partner: (users[i % 2 === 0 ? i + 1 : i - 1] as BenchUser).userId,
    ws: undefined,
    pending: new Map()
  }))

  const timeline = new Timeline()
  const accepted = new LatencyHistogram()
  const delivered = new LatencyHistogram()
  const errorFrames = new Tally()
  const otherFrames = new Tally()
  const skipped = new Tally()
  const seenIds = new Set<string>()
  const c = {
    frames: 0,
    sent: 0,
    deliveredMeasured: 0,
    deliveredInWindow: 0,
    acceptedInWindow: 0,
    failedMeasured: 0,
    duplicates: 0,
    unknownReceipts: 0,
    envelopes: 0,
    repeatedEnvelopes: 0,
    unparsable: 0
  }
  let sending = false

  function send (peer: Peer): void {
    if (!sending) return
    if (peer.ws?.readyState !== WebSocket.OPEN) {
      skipped.add('socket not open')
      return
    }
    if (!closedLoop && peer.pending.size >= OPEN_LOOP_CAP) {
      skipped.add('backlog')
      return
    }
    const frame = directFrame(peer.user, peer.partner, opts.size)
    const measured = timeline.phase === 'measure'
    peer.pending.set(frame.id, { sentAt: performance.now(), measured, accepted: false })
    peer.ws.send(frame.text)
    if (measured) c.sent++
  }

  function settle (peer: Peer, id: string, status: 'delivered' | 'duplicate' | 'error', retryAfterMs?: number): void {
    const p = peer.pending.get(id)
    if (p === undefined) return
    peer.pending.delete(id)
    if (status === 'delivered') {
      if (timeline.phase === 'measure') c.deliveredInWindow++
      if (p.measured) {
        c.deliveredMeasured++
        delivered.record(performance.now() - p.sentAt)
      }
    } else if (p.measured) {
      c.failedMeasured++
    }
    if (closedLoop) {
      if (retryAfterMs !== undefined && retryAfterMs > 0) setTimeout(() => send(peer), retryAfterMs)
      else send(peer)
    }
  }

  function onText (peer: Peer, text: string): void {
    c.frames++
    const frame = readFrame(text)
    if (frame === undefined) {
      c.unparsable++
      return
    }
    switch (frame.type) {
      case 'direct':
        c.envelopes++
        if (frame.id === undefined || frame.from === undefined) return
        if (seenIds.has(frame.id)) c.repeatedEnvelopes++
        else seenIds.add(frame.id)
        peer.ws?.send(ackFrame(frame.id, frame.from))
        return
      case 'receipt': {
        const id = frame.inReplyTo ?? ''
        const p = peer.pending.get(id)
        if (p === undefined) {
          c.unknownReceipts++
        } else if (frame.status === 'accepted') {
          if (!p.accepted) {
            p.accepted = true
            if (timeline.phase === 'measure') c.acceptedInWindow++
            if (p.measured) accepted.record(performance.now() - p.sentAt)
          }
        } else if (frame.status === 'delivered') {
          settle(peer, id, 'delivered')
        } else if (frame.status === 'duplicate') {
          c.duplicates++
          settle(peer, id, 'duplicate')
        } else {
          otherFrames.add(`receipt ${frame.status ?? '?'}`)
        }
        return
      }
      case 'error':
        errorFrames.add(frame.code ?? '(no code)')
        if (frame.inReplyTo !== undefined) settle(peer, frame.inReplyTo, 'error', frame.retryAfterMs)
        return
      default:
        otherFrames.add(frame.type)
    }
  }

  console.error(`opening ${peers.length} connections`)
  // round-robin over the nodes: partners (2k, 2k + 1) are always on different nodes when there are several
  const urls = peers.map((p, i) => wsUrl(server.baseUrls[i % server.baseUrls.length] as string, `/ws?token=${encodeURIComponent(p.user.token)}`))
  const conns = await openConnections(urls, opts.openConcurrency, (i) => (data) => onText(peers[i] as Peer, data.toString()))
  conns.sockets.forEach((ws, i) => { (peers[i] as Peer).ws = ws })
  await waitQuiet(() => c.frames, 300, 10_000)
  c.frames = 0

  const cpu = new CpuMeter(server)
  const senders = peers.filter((p) => p.ws !== undefined)
  let next = 0
  const pacer = closedLoop
    ? undefined
    : new Pacer(opts.rate, () => {
      const peer = senders[next++ % senders.length]
      if (peer !== undefined) send(peer)
    })
  const pendingTotal = (): number => peers.reduce((n, p) => n + p.pending.size, 0)

  const result = await timeline.run(opts.warmupS, opts.durationS, {
    begin: () => {
      sending = true
      if (pacer !== undefined) pacer.start()
      else for (const peer of senders) for (let i = 0; i < opts.window; i++) send(peer)
    },
    measureStart: () => cpu.start(),
    measureEnd: () => {
      sending = false
      pacer?.stop()
      cpu.stop()
    },
    drained: () => pendingTotal() === 0,
    progress: () => `sent ${c.sent}, delivered ${c.deliveredInWindow}, in flight ${pendingTotal()}, errors ${errorFrames.total}`
  }, 'dm')

  const cpuFigures = cpu.figures
  const rss = server.rssBytes()
  let outstanding = 0
  for (const peer of peers) for (const p of peer.pending.values()) if (p.measured) outstanding++
  await conns.closeAll()

  const connectionErrors = { ...conns.openErrors.toJSON(), ...conns.unexpectedCloses.toJSON() }
  const notes = generatorNotes(cpuFigures)
  if (pacer !== undefined && c.sent < 0.97 * opts.rate * result.measuredS) {
    notes.push(`asked for ${opts.rate}/s but sent ${round(c.sent / result.measuredS)}/s: the generator or the senders' backlog limit held it back`)
  }
  if (outstanding > 0) notes.push(`${outstanding} measured messages had no delivered receipt ${result.drainMs} ms after sending stopped`)
  if (c.unknownReceipts > 0) notes.push(`${c.unknownReceipts} receipts named a message id not in flight (late accepted after delivered, or unknown)`)
  if (c.repeatedEnvelopes > 0) notes.push(`${c.repeatedEnvelopes} direct envelopes arrived a second time with an id already seen`)

  return {
    scenario: 'dm',
    server: server.baseUrls.length > 1
      ? `${server.baseUrls.length} nodes at ${server.baseUrls.join(', ')}`
      : server.pid === undefined ? server.baseUrl : `child pid ${server.pid} at ${server.baseUrl}`,
    server_commit: projectCommit(PROJECT_ROOT) ?? null,
    params: {
      users: opts.users,
      pairs: opts.users / 2,
      nodes: server.baseUrls.length,
      stores: server.stores,
      mode: closedLoop ? `closed loop, window ${opts.window} per sender until delivered` : `open loop, ${opts.rate} msgs/s total`,
      size_bytes: opts.size,
      warmup_s: opts.warmupS,
      duration_s: opts.durationS
    },
    duration_s: round(result.measuredS, 2),
    messages_sent: c.sent,
    delivered: c.deliveredMeasured,
    delivered_per_s: round(c.deliveredInWindow / result.measuredS),
    latency_accepted: accepted.summary(),
    latency_delivered: delivered.summary(),
    error_frames: errorFrames.toJSON(),
    connection_errors: connectionErrors,
    server_rss_mb: mb(rss),
    server_cpu_pct: cpuFigures.server_cpu_pct,
    generator_cpu_pct: cpuFigures.generator_cpu_pct,
    generator_event_loop_p99_ms: cpuFigures.generator_event_loop_p99_ms,
    details: {
      connections_open: senders.length,
      send_rate_per_s: round(c.sent / result.measuredS),
      accepted_per_s: round(c.acceptedInWindow / result.measuredS),
      failed: c.failedMeasured,
      duplicate_receipts: c.duplicates,
      outstanding_after_drain: outstanding,
      drain_ms: result.drainMs,
      envelopes_received: c.envelopes,
      unparsable_frames: c.unparsable,
      other_frames: otherFrames.toJSON(),
      skipped_sends: skipped.toJSON(),
      pacer_max_catch_up: pacer?.maxBehind
    },
    notes
  }
}
