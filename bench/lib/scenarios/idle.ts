import type { BenchOptions } from '../args.js'
import { openConnections } from '../connections.js'
import { CpuMeter } from '../meters.js'
import { sleep } from '../pool.js'
import { projectCommit } from '../proc.js'
import { mb, round, type Report } from '../report.js'
import { PROJECT_ROOT, sealwireServer, wsUrl, type ServerHandle } from '../server-process.js'
import { createUsers } from '../users.js'
import { generatorNotes } from './notes.js'

const SETTLE_BEFORE_MS = 2000
const SETTLE_AFTER_MS = 5000

export async function runIdle (opts: BenchOptions): Promise<Report> {
  const server = await sealwireServer(opts)
  try {
    return await measureIdle(opts, server)
  } finally {
    await server.stop()
  }
}

async function measureIdle (opts: BenchOptions, server: ServerHandle): Promise<Report> {
  const n = opts.connections
  console.error(`registering ${n} users`)
  const registerStart = performance.now()
  const users = await createUsers(server.baseUrl, n, opts.registerConcurrency)
  const registerS = (performance.now() - registerStart) / 1000

  await sleep(SETTLE_BEFORE_MS)
  const rssBefore = server.rssBytes()

  const frames = { presence: 0, other: 0 }
  const cpu = new CpuMeter(server)
  cpu.start()
  console.error(`opening ${n} connections`)
  const openStart = performance.now()
  const urls = users.map((u) => wsUrl(server.baseUrl, `/ws?token=${encodeURIComponent(u.token)}`))
  // presence frames are the only traffic expected, possibly millions of them: count without parsing
  const conns = await openConnections(urls, opts.openConcurrency, () => (data) => {
    if (data.indexOf('"presence"') >= 0) frames.presence++
    else frames.other++
  })
  const openS = (performance.now() - openStart) / 1000
  console.error(`opened ${conns.openCount()} in ${openS.toFixed(1)} s; settling ${SETTLE_AFTER_MS / 1000} s`)
  await sleep(SETTLE_AFTER_MS)
  const cpuFigures = cpu.stop()

  const rssAfter = server.rssBytes()
  const open = conns.openCount()
  const unexpectedCloses = conns.unexpectedCloses.toJSON()
  await conns.closeAll()

  const perConnectionKb = rssBefore === undefined || rssAfter === undefined || open === 0
    ? undefined
    : round((rssAfter - rssBefore) / 1024 / open, 2)
  const notes = generatorNotes(cpuFigures, false)
  if (open < n) notes.push(`only ${open} of ${n} connections were open at the end: see connection_errors`)
  if (frames.presence > 10 * n) {
    notes.push(`${frames.presence} presence frames reached the ${n} clients while they connected ` +
      '(each new connection is announced to the users already online)')
  }
  if (perConnectionKb === undefined) notes.push('server RSS not measured (attached to a running server, or not Linux)')

  return {
    scenario: 'idle',
    server: server.pid === undefined ? server.baseUrl : `child pid ${server.pid} at ${server.baseUrl}`,
    server_commit: projectCommit(PROJECT_ROOT) ?? null,
    params: { connections: n, register_concurrency: opts.registerConcurrency, open_concurrency: opts.openConcurrency },
    duration_s: undefined,
    messages_sent: undefined,
    delivered: undefined,
    delivered_per_s: undefined,
    latency_accepted: undefined,
    latency_delivered: undefined,
    error_frames: {},
    connection_errors: { ...conns.openErrors.toJSON(), ...unexpectedCloses },
    server_rss_mb: mb(rssAfter),
    server_cpu_pct: cpuFigures.server_cpu_pct,
    generator_cpu_pct: cpuFigures.generator_cpu_pct,
    generator_event_loop_p99_ms: cpuFigures.generator_event_loop_p99_ms,
    details: {
      connections_open: open,
      register_s: round(registerS),
      logins_per_s: round(n / registerS),
      open_s: round(openS),
      server_rss_before_mb: mb(rssBefore),
      server_rss_after_mb: mb(rssAfter),
      server_rss_per_connection_kb: perConnectionKb,
      frames_received: frames
    },
    notes
  }
}
