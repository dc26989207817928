import { randomUUID } from 'node:crypto'

/** What the hub needs of a WebSocket. `send` sends a text frame. */
export interface HubSocket {
  send: (data: string | Buffer) => void
  close: (code: number, reason: string) => void
  terminate: () => void
  ping: () => void
  readonly bufferedAmount: number
}

export interface HubUser {
  user_id: string
  public_key: string
  /** the id of the token the connection was opened with, so that revoking it closes the connection */
  jti?: string
}

export interface ConnectionInfo {
  remoteAddress?: string
  userAgent?: string
}

/** WebSocket close codes the hub uses */
export const CLOSE = {
  goingAway: 1001,
  unsupported: 1003,
  policy: 1008,
  tryAgainLater: 1013
} as const

/** refused frames are counted over this window */
const STRIKE_WINDOW_MS = 10_000

/** One open WebSocket of a user. */
export class Connection {
  readonly id = randomUUID()
  /** answered the last ping */
  alive = true
  /** sending the stored queue; live direct messages wait in `held` meanwhile */
  syncing = true
  held: Array<{ seq: number, frame: string }> = []
  /** a sync is running or waiting its turn */
  syncRunning = true
  /** another pass over the queue was asked for while one ran */
  resyncWanted = false
  /** frames are stored in the order they arrived: each waits for the one before it to be queued */
  tail: Promise<void> = Promise.resolve()
  closed = false
  #strikes: number[] = []

  constructor (readonly user: HubUser, readonly socket: HubSocket, readonly remoteAddress: string | null) {}

  /** Counts a refused frame; true when there were too many lately. */
  strike (now: number, max: number): boolean {
    this.#strikes.push(now)
    while (this.#strikes.length > 0 && (this.#strikes[0] as number) < now - STRIKE_WINDOW_MS) this.#strikes.shift()
    return this.#strikes.length > max
  }
}
