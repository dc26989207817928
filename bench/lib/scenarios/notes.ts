import type { CpuFigures } from '../meters.js'

/** Warnings that keep a figure from being misread. */
export function generatorNotes (cpu: CpuFigures, latencies = true): string[] {
  const notes: string[] = []
  if (cpu.generator_cpu_pct >= 90) {
    notes.push(`the generator used ${cpu.generator_cpu_pct}% of a core (its JavaScript runs on one): it is probably the ` +
      'bottleneck, so throughput is a lower bound of what the server can do and latencies include generator queueing')
  } else if (latencies && cpu.generator_event_loop_p99_ms > 20) {
    notes.push(`the generator's event loop lagged (p99 ${cpu.generator_event_loop_p99_ms} ms): latencies include that lag`)
  }
  return notes
}
