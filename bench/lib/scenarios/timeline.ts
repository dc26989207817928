import { sleep, waitFor } from '../pool.js'

export type Phase = 'setup' | 'warmup' | 'measure' | 'drain' | 'done'

export interface TimelineHooks {
  /** start sending (warm-up begins) */
  begin: () => void
  /** the measured window opens: start meters */
  measureStart: () => void
  /** the measured window closes: stop sending, stop meters */
  measureEnd: () => void
  /** true when nothing more is expected */
  drained: () => boolean
  /** one progress line for stderr */
  progress?: () => string
}

export interface TimelineResult {
  measuredS: number
  drainMs: number
  drainedFully: boolean
}

const DRAIN_MS = 5000
const PROGRESS_EVERY_MS = 5000

/** Warm-up, measured window, then up to 5 s for outstanding answers. Scenarios read `phase` to tag messages. */
export class Timeline {
  phase: Phase = 'setup'

  async run (warmupS: number, durationS: number, hooks: TimelineHooks, label: string): Promise<TimelineResult> {
    this.phase = 'warmup'
    console.error(`${label}: warm-up ${warmupS} s, then measuring ${durationS} s`)
    hooks.begin()
    await sleep(warmupS * 1000)

    this.phase = 'measure'
    hooks.measureStart()
    const start = performance.now()
    const progress = hooks.progress === undefined
      ? undefined
      : setInterval(() => console.error(`${label}: ${Math.round((performance.now() - start) / 1000)} s  ${hooks.progress?.() ?? ''}`), PROGRESS_EVERY_MS)
    await sleep(durationS * 1000)
    const measuredS = (performance.now() - start) / 1000
    clearInterval(progress)
    this.phase = 'drain'
    hooks.measureEnd()

    const drainStart = performance.now()
    const drainedFully = await waitFor(hooks.drained, DRAIN_MS)
    this.phase = 'done'
    return { measuredS, drainMs: Math.round(performance.now() - drainStart), drainedFully }
  }
}
