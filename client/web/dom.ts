// Small DOM helpers. Text from the network only ever goes in through textContent / text nodes.

type Child = Node | string | null | undefined | false
type AttrValue = string | number | boolean | undefined | null | ((event: Event) => void)

/** `h('button', { class: 'x', onclick: … }, 'text')`: an element with attributes, listeners and children. */
export function h<K extends keyof HTMLElementTagNameMap> (tag: K, attrs: Record<string, AttrValue> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue
    if (typeof value === 'function') el.addEventListener(name.slice(2), value)
    else if (name === 'class') el.className = String(value)
    else el.setAttribute(name, value === true ? '' : String(value))
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) el.append(child)
  return el
}

/** The element with this id, checked to be of the expected kind. */
export function byId<T extends HTMLElement> (id: string, type: { new (): T, prototype: T }): T {
  const el = document.getElementById(id)
  if (!(el instanceof type)) throw new Error(`#${id} is missing or not a ${type.name}`)
  return el
}

export function show (el: HTMLElement, visible = true): void {
  el.hidden = !visible
}

let announceTimer: ReturnType<typeof setTimeout> | undefined

/** Says something to screen readers (the polite live region). */
export function announce (text: string): void {
  const region = document.getElementById('announcer')
  if (region === null) return
  region.textContent = ''
  clearTimeout(announceTimer)
  // a short pause makes the same text announced twice in a row be read twice
  announceTimer = setTimeout(() => { region.textContent = text }, 50)
}

export function formatTime (ms: number): string {
  const date = new Date(ms)
  const today = new Date()
  const sameDay = date.toDateString() === today.toDateString()
  return sameDay
    ? date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
    : date.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' })
}

/** Offers `text` as a file download (no network involved). */
export function download (filename: string, text: string, type = 'application/json'): void {
  const url = URL.createObjectURL(new Blob([text], { type }))
  const a = h('a', { href: url, download: filename, hidden: true })
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

export function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => { clearTimeout(timer); resolve() }, { once: true })
  })
}

export function utf8Length (text: string): number {
  return new TextEncoder().encode(text).length
}

/** Shows or clears the error of a form field, and marks the field for assistive technology. */
export function fieldError (input: HTMLElement | undefined, slot: HTMLElement, text: string | undefined): void {
  slot.textContent = text ?? ''
  show(slot, text !== undefined)
  if (input === undefined) return
  if (text === undefined) input.removeAttribute('aria-invalid')
  else input.setAttribute('aria-invalid', 'true')
}

/** A touch screen: focusing a text field there pops the keyboard up over the page. */
export function coarsePointer (): boolean {
  return matchMedia('(pointer: coarse)').matches
}

/** Adds listeners that all go when `signal` aborts. */
export function listen (signal: AbortSignal): <E extends Event>(target: EventTarget, type: string, fn: (e: E) => void) => void {
  return (target, type, fn) => { target.addEventListener(type, fn as EventListener, { signal }) }
}
