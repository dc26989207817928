// Sealwire load generator. See bench/README.md.
import { availableParallelism, loadavg } from 'node:os'
import { parseOptions, UsageError, USAGE, type BenchOptions } from './lib/args.js'
import { installCleanupHandlers, runCleanup } from './lib/cleanup.js'
import { printReport, type Report } from './lib/report.js'
import { runBroadcast } from './lib/scenarios/broadcast.js'
import { runDm } from './lib/scenarios/dm.js'
import { runIdle } from './lib/scenarios/idle.js'

async function runScenario (opts: BenchOptions): Promise<Report> {
  switch (opts.scenario) {
    case 'dm': return await runDm(opts)
    case 'broadcast': return await runBroadcast(opts)
    case 'idle': return await runIdle(opts)
  }
}

async function main (): Promise<number> {
  let opts
  try {
    opts = parseOptions(process.argv.slice(2))
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    console.error(`${err.message}\n\n${USAGE}`)
    return 2
  }
  if (opts === 'help') {
    console.log(USAGE)
    return 0
  }
  installCleanupHandlers()
  // other work on the machine skews every figure: keep a trace of it in the report
  const loadAtStart = Math.round((loadavg()[0] ?? 0) * 100) / 100
  try {
    const report = await runScenario(opts)
    report.host = { cpus: availableParallelism(), load_avg_1m_at_start: loadAtStart, node: process.version }
    if (loadAtStart > 1) report.notes.push(`the 1-minute load average was ${loadAtStart} at start: other work may have shared the CPUs`)
    printReport(report, opts.json)
    return 0
  } catch (err) {
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
    return 1
  } finally {
    runCleanup()
  }
}

process.exitCode = await main()
// exit once stdout is flushed: keep-alive sockets of fetch would otherwise hold the process open a while
process.stdout.write('', () => process.exit())
