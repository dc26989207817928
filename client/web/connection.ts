// Getting (and staying) connected: the first connection is retried with a growing delay while the server cannot
// be reached; after that the SDK reconnects by itself and says why the connection went.
import type { SealwireClient } from '../index.js'
import { describeError, seconds, type Described } from './describe.js'
import { sleep } from './dom.js'

export interface ExitReason {
  text: string
  code: string
}

export interface ConnectHooks {
  connecting: () => void
  /** the attempt failed; another comes after `text`'s wait, or at once on `tryNow` */
  waiting: (text: string, tryNow: () => void) => void
  /** the server will not let this identity in: no use trying again */
  refused: (reason: ExitReason) => void
}

export class Connector {
  readonly #client: Pick<SealwireClient, 'connect' | 'userId'>
  #closed = false
  #retryNow: AbortController | undefined

  constructor (client: Pick<SealwireClient, 'connect' | 'userId'>) {
    this.#client = client
  }

  /** Connects, retrying while the server cannot be reached, until connected, refused or closed. */
  async run (hooks: ConnectHooks): Promise<void> {
    let delay = 1000
    while (!this.#closed) {
      hooks.connecting()
      try {
        await this.#client.connect()
        return
      } catch (err) {
        if (this.#closed) return
        const d: Described = describeError(err)
        if (d.code === 'unknown_user' || d.code === 'unauthorized') {
          hooks.refused({ code: d.code, text: d.code === 'unknown_user' ? `${this.#client.userId} is not registered on this server.` : d.text })
          return
        }
        const wait = d.retryAfterMs ?? delay
        delay = Math.min(delay * 2, 15_000)
        const retry = new AbortController()
        this.#retryNow = retry
        hooks.waiting(`${d.text} Trying again in ${seconds(wait)}.`, () => { retry.abort() })
        await sleep(wait, retry.signal)
      }
    }
  }

  /** Ends a wait between attempts (the browser says it is back online, say). */
  tryNow (): void {
    this.#retryNow?.abort()
  }

  close (): void {
    this.#closed = true
    this.tryNow()
  }
}

/** Why the connection went, and what happens next, in words. */
export function disconnectText ({ code, reason, willReconnect }: { code: number, reason: string, willReconnect: boolean }): string {
  const why = code === 1001
    ? 'The server is restarting.'
    : code === 1008
      ? `The server closed the connection${reason === '' ? '' : ` (${reason})`}: too many refused messages.`
      : code === 1013 ? 'The server closed the connection: this device was not reading fast enough.' : 'The connection to the server was lost.'
  return willReconnect
    ? `${why} Reconnecting… Messages you send meanwhile go out once the connection is back.`
    : `${why} Log in again to reconnect.`
}
