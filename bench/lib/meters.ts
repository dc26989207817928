import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { ServerHandle } from './server-process.js'

export interface CpuFigures {
  /** this process, 100 = one core busy all the time */
  generator_cpu_pct: number
  generator_event_loop_p99_ms: number
  /** the server child, when we started it */
  server_cpu_pct: number | undefined
}

/** CPU use of the generator and the server over one measured window. */
export class CpuMeter {
  readonly #server: ServerHandle | { cpuSeconds: () => number | undefined }
  readonly #loop = monitorEventLoopDelay({ resolution: 10 })
  #startWall = 0
  #startCpu = process.cpuUsage()
  #startServer: number | undefined
  #figures: CpuFigures | undefined

  constructor (server: ServerHandle | { cpuSeconds: () => number | undefined }) {
    this.#server = server
  }

  start (): void {
    this.#startWall = performance.now()
    this.#startCpu = process.cpuUsage()
    this.#startServer = this.#server.cpuSeconds()
    this.#loop.reset()
    this.#loop.enable()
  }

  stop (): CpuFigures {
    const wallS = (performance.now() - this.#startWall) / 1000
    const cpu = process.cpuUsage(this.#startCpu)
    const serverNow = this.#server.cpuSeconds()
    this.#loop.disable()
    const pct = (seconds: number): number => Math.round((seconds / wallS) * 1000) / 10
    this.#figures = {
      generator_cpu_pct: pct((cpu.user + cpu.system) / 1e6),
      generator_event_loop_p99_ms: Math.round(this.#loop.percentile(99) / 1e4) / 100,
      server_cpu_pct: serverNow === undefined || this.#startServer === undefined ? undefined : pct(serverNow - this.#startServer)
    }
    return this.#figures
  }

  /** what the last stop() measured */
  get figures (): CpuFigures {
    if (this.#figures === undefined) throw new Error('CpuMeter: stop() was never called')
    return this.#figures
  }
}
