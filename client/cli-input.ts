// The terminal client's input: standard input read ahead and kept in order, and lines read as commands.
import type { Interface } from 'node:readline'
import { SealwireError } from './errors.js'

/** A command, from a JSON line or a slash line. */
export type Request = Record<string, unknown>

/** lines read ahead of the commands that run them; past this, reading pauses until they catch up */
const MAX_WAITING_LINES = 1000

/**
 * Standard input, line by line, from the moment chat starts: lines that come while the client registers and
 * connects wait here in order instead of being lost.
 */
export class InputLines implements AsyncIterable<string> {
  readonly #rl: Interface
  readonly #waiting: string[] = []
  #paused = false
  #ended = false
  #wake: (() => void) | undefined

  constructor (rl: Interface) {
    this.#rl = rl
    rl.on('line', (line) => {
      this.#waiting.push(line)
      if (this.#waiting.length >= MAX_WAITING_LINES && !this.#paused) {
        this.#paused = true
        rl.pause()
      }
      this.#wake?.()
    })
    rl.on('close', () => {
      this.#ended = true
      this.#wake?.()
    })
  }

  /** Takes every line read so far and not yet run. */
  take (): string[] {
    return this.#waiting.splice(0)
  }

  async * [Symbol.asyncIterator] (): AsyncGenerator<string> {
    for (;;) {
      const line = this.#waiting.shift()
      if (line !== undefined) {
        if (this.#paused && !this.#ended && this.#waiting.length < MAX_WAITING_LINES / 2) {
          this.#paused = false
          this.#rl.resume()
        }
        yield line
      } else if (this.#ended) {
        return
      } else {
        await new Promise<void>((resolve) => { this.#wake = resolve })
        this.#wake = undefined
      }
    }
  }
}

export function parseJsonLine (line: string): Request | undefined {
  if (line.trim() === '') return undefined
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {}
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Request
  throw new SealwireError('invalid_json', 'each line must be a JSON object such as {"cmd": "dm", "to": "bob", "text": "hi"}')
}

/**
 * `/dm bob hello there` → {cmd: 'dm', to: 'bob', text: 'hello there'}. A line without a slash is
 * {cmd: 'say', text}: a direct message to the open conversation, never a broadcast.
 */
export function parseSlash (line: string): Request | undefined {
  const trimmed = line.trim()
  if (trimmed === '') return undefined
  if (!trimmed.startsWith('/')) return { cmd: 'say', text: trimmed }
  const [word = '', ...rest] = trimmed.slice(1).split(/\s+/)
  const arg = (n: number): string => rest.slice(n).join(' ')
  switch (word) {
    case 'dm': return arg(1) === '' ? { cmd: 'dm', to: rest[0] } : { cmd: 'dm', to: rest[0], text: arg(1) }
    case 'open': return { cmd: 'open', peer: rest[0] }
    case 'close': return { cmd: 'close' }
    case 'all': return { cmd: 'all', text: arg(0) }
    case 'cmd': {
      const raw = arg(1)
      let params: unknown
      try {
        params = raw === '' ? undefined : JSON.parse(raw)
      } catch {
        params = raw
      }
      return { cmd: 'command', name: rest[0], params }
    }
    case 'users': return { cmd: 'users' }
    case 'safety': return { cmd: 'safety', user: rest[0] }
    case 'verify': return { cmd: 'verify', user: rest[0] }
    case 'accept': return { cmd: 'accept', user: rest[0] }
    case 'history': return { cmd: 'history', peer: rest[0] }
    case 'quit': case 'exit': return { cmd: 'quit' }
    default: return { cmd: 'help' }
  }
}
