// The safety number dialog: one number to compare, or after a key change the new and the old, and "trust".
import { byId, h, listen, show } from '../dom.js'

export class SafetyDialog {
  readonly #el = {
    dialog: byId('safety-dialog', HTMLDialogElement),
    title: byId('safety-title', HTMLElement),
    intro: byId('safety-intro', HTMLElement),
    numbers: byId('safety-numbers', HTMLElement),
    error: byId('safety-error', HTMLElement),
    trust: byId('safety-trust', HTMLButtonElement),
    close: byId('safety-close', HTMLButtonElement)
  }

  /** whose number the dialog shows (undefined once closed): an answer for someone else is dropped */
  #peer: string | undefined
  #returnFocus: HTMLElement | null = null

  /** `onTrust`: the user compared the new number and trusts the new key of `peer` */
  constructor (onTrust: (peer: string) => void, signal: AbortSignal) {
    const on = listen(signal)
    const { dialog, close, trust } = this.#el
    on(close, 'click', () => { dialog.close() })
    on(trust, 'click', () => { if (this.#peer !== undefined) onTrust(this.#peer) })
    on(dialog, 'close', () => {
      this.#peer = undefined
      this.#returnFocus?.focus()
    })
  }

  /** Whether the dialog still shows `peer`. */
  shows (peer: string): boolean {
    return this.#peer === peer
  }

  /** Opens the dialog for `peer` while the number is computed. */
  open (peer: string): void {
    const { dialog, title, intro, numbers, error, trust } = this.#el
    this.#peer = peer
    this.#returnFocus = document.activeElement instanceof HTMLElement ? document.activeElement : null
    title.textContent = `Safety number with ${peer}`
    intro.textContent = 'Computing…'
    numbers.replaceChildren()
    show(error, false)
    show(trust, false)
    if (!dialog.open) dialog.showModal()
  }

  number (peer: string, number: string): void {
    this.#el.intro.textContent = `Compare this number with the one ${peer} sees for you, in person or over a call. If they match, your messages are encrypted for ${peer}'s key and no one else's.`
    this.#el.numbers.replaceChildren(numberBlock(number, undefined))
    this.#el.close.focus()
  }

  error (text: string): void {
    this.#el.intro.textContent = ''
    this.#el.error.textContent = text
    show(this.#el.error, true)
  }

  /** The key of `peer` changed: the number with the new key and the one with the key trusted before. */
  changed (peer: string, after: string, before: string): void {
    const { title, intro, numbers, trust } = this.#el
    title.textContent = `${peer}'s key changed`
    intro.textContent = `Ask ${peer}, in person or over a call, which safety number they see now. Trust the new key only if it matches the new number below.`
    numbers.replaceChildren(numberBlock(after, 'New number (compare this one)'), numberBlock(before, 'Number with the key you trusted before'))
    show(trust, true)
    trust.focus()
  }

  close (): void {
    if (this.#el.dialog.open) this.#el.dialog.close()
  }
}

function numberBlock (number: string, label: string | undefined): HTMLElement {
  const groups = number.split(' ')
  return h('figure', { class: 'safety' },
    label === undefined ? null : h('figcaption', {}, label),
    h('p', { class: 'safety-number', 'aria-label': groups.join(', ') }, ...groups.map((g) => h('span', {}, g))))
}
