import type { ChildProcess } from 'node:child_process'

export type JsonEvent = Record<string, unknown> & { event: string }

/** The JSON lines a child process prints (the terminal client's --json mode), taken by tests as they come. */
export class JsonLines {
  readonly events: JsonEvent[] = []
  readonly #waiters: Array<{ match: (e: JsonEvent) => boolean, resolve: (e: JsonEvent) => void }> = []

  constructor (readonly proc: ChildProcess) {
    let buffer = ''
    proc.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        if (!line.startsWith('{')) continue
        const event = JSON.parse(line) as JsonEvent
        const i = this.#waiters.findIndex((w) => w.match(event))
        if (i >= 0) this.#waiters.splice(i, 1)[0]?.resolve(event)
        else this.events.push(event)
      }
    })
  }

  async next (match: (e: JsonEvent) => boolean, ms = 120_000): Promise<JsonEvent> {
    const i = this.events.findIndex(match)
    if (i >= 0) return this.events.splice(i, 1)[0] as JsonEvent
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching event within ${ms} ms; saw ${JSON.stringify(this.events)}`)), ms)
      this.#waiters.push({ match, resolve: (e) => { clearTimeout(timer); resolve(e) } })
    })
  }

  send (request: Record<string, unknown>): void {
    this.proc.stdin?.write(`${JSON.stringify(request)}\n`)
  }
}
