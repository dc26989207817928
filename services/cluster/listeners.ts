/** Calls every listener in turn; one that throws is reported and does not keep the call from the others. */
export class Listeners<A extends unknown[]> {
  readonly #listeners: Array<(...args: A) => void> = []

  constructor (private readonly onError: (err: unknown) => void) {}

  add (listener: (...args: A) => void): void {
    this.#listeners.push(listener)
  }

  emit (...args: A): void {
    for (const listener of this.#listeners) {
      try {
        listener(...args)
      } catch (err) {
        this.onError(err)
      }
    }
  }
}
