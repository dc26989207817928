type Listener<T> = (payload: T) => void | Promise<void>

/** A small typed event emitter that works in browsers; emitAsync waits for listeners that return promises. */
export class Emitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>()

  on<K extends keyof Events> (event: K, listener: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(event)
    if (set === undefined) {
      set = new Set()
      this.#listeners.set(event, set)
    }
    set.add(listener as Listener<never>)
    return () => this.off(event, listener)
  }

  once<K extends keyof Events> (event: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(event, (payload) => {
      off()
      return listener(payload)
    })
    return off
  }

  off<K extends keyof Events> (event: K, listener: Listener<Events[K]>): void {
    this.#listeners.get(event)?.delete(listener as Listener<never>)
  }

  listenerCount (event: keyof Events): number {
    return this.#listeners.get(event)?.size ?? 0
  }

  protected emit<K extends keyof Events> (event: K, payload: Events[K]): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      try {
        const result = (listener as Listener<Events[K]>)(payload)
        if (result instanceof Promise) result.catch(() => {})
      } catch {
        // a listener's failure is the application's; it must not break the client
      }
    }
  }

  /** Calls every listener and waits for all of them; rejects when one of them fails. */
  protected async emitAsync<K extends keyof Events> (event: K, payload: Events[K]): Promise<void> {
    const pending: Array<void | Promise<void>> = []
    for (const listener of this.#listeners.get(event) ?? []) pending.push((listener as Listener<Events[K]>)(payload))
    await Promise.all(pending)
  }
}
