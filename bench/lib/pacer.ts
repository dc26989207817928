const TICK_MS = 2

/**
 * Open-loop sending: every 2 ms (a real population of clients does not send in lock-step bursts), calls send() as many times as needed to stay at `rate` per second since
 * start, whatever the answers. Counting from the start (not per tick) absorbs timer drift.
 */
export class Pacer {
  readonly #rate: number
  readonly #send: () => void
  #timer: NodeJS.Timeout | undefined
  #start = 0
  #calls = 0
  #maxBehind = 0

  constructor (rate: number, send: () => void) {
    this.#rate = rate
    this.#send = send
  }

  start (): void {
    this.#start = performance.now()
    this.#timer = setInterval(() => this.#tick(), TICK_MS)
  }

  #tick (): void {
    const due = Math.floor(((performance.now() - this.#start) / 1000) * this.#rate)
    const behind = due - this.#calls
    if (behind > this.#maxBehind) this.#maxBehind = behind
    while (this.#calls < due) {
      this.#calls++
      this.#send()
    }
  }

  stop (): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** the largest number of sends one tick had to catch up on; far above rate/500 means the generator lagged */
  get maxBehind (): number {
    return this.#maxBehind
  }
}
