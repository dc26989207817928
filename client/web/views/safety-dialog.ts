// The safety number dialog: one number to compare and "Mark as verified", or after a key change the new and the
// old number and "Accept the new key".
import type { TrustState } from '../../index.js'
import { byId, h, listen, show } from '../dom.js'

export interface SafetyActions {
  /** the user compared the new number and accepts the new key of `peer` */
  onTrust: (peer: string) => void
  /** the user compared `number` with `peer` and says it matches */
  onVerify: (peer: string, number: string) => void
}

export class SafetyDialog {
  readonly #el = {
    dialog: byId('safety-dialog', HTMLDialogElement),
    title: byId('safety-title', HTMLElement),
    intro: byId('safety-intro', HTMLElement),
    numbers: byId('safety-numbers', HTMLElement),
    error: byId('safety-error', HTMLElement),
    trust: byId('safety-trust', HTMLButtonElement),
    verify: byId('safety-verify', HTMLButtonElement),
    close: byId('safety-close', HTMLButtonElement)
  }

  /** whose number the dialog shows (undefined once closed): an answer for someone else is dropped */
  #peer: string | undefined
  /** the number shown, for "Mark as verified": only that number's key is marked */
  #number: string | undefined
  #returnFocus: HTMLElement | null = null

  constructor (actions: SafetyActions, signal: AbortSignal) {
    const on = listen(signal)
    const { dialog, close, trust, verify } = this.#el
    on(close, 'click', () => { dialog.close() })
    on(trust, 'click', () => { if (this.#peer !== undefined) actions.onTrust(this.#peer) })
    on(verify, 'click', () => { if (this.#peer !== undefined && this.#number !== undefined) actions.onVerify(this.#peer, this.#number) })
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
    const { dialog, title, intro, numbers, error, trust, verify } = this.#el
    this.#peer = peer
    this.#number = undefined
    this.#returnFocus = document.activeElement instanceof HTMLElement ? document.activeElement : null
    title.textContent = `Safety number with ${peer}`
    intro.textContent = 'Computing…'
    numbers.replaceChildren()
    show(error, false)
    show(trust, false)
    show(verify, false)
    if (!dialog.open) dialog.showModal()
  }

  /** The number to compare, and how far the key is trusted (undefined: not pinned yet). */
  number (peer: string, number: string, trust: TrustState | undefined): void {
    this.#number = number
    this.#el.intro.textContent = `Compare this number with the one ${peer} sees for you, in person or over a call. If they match, your messages are encrypted for ${peer}'s key and no one else's.`
    this.#el.numbers.replaceChildren(numberBlock(number, undefined), trustLine(peer, trust))
    show(this.#el.verify, trust !== 'verified')
    if (trust === 'verified') this.#el.close.focus()
    else this.#el.verify.focus()
  }

  /** The key was marked verified. */
  verified (peer: string): void {
    this.#el.numbers.querySelector('.trust-state')?.replaceWith(trustLine(peer, 'verified'))
    show(this.#el.verify, false)
    this.#el.close.focus()
  }

  error (text: string): void {
    if (this.#number === undefined) this.#el.intro.textContent = ''
    this.#el.error.textContent = text
    show(this.#el.error, true)
  }

  /** The key of `peer` changed: the number with the new key and the one with the key trusted before. */
  changed (peer: string, after: string, before: string): void {
    const { title, intro, numbers, trust, verify } = this.#el
    this.#number = undefined
    show(verify, false)
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

function trustLine (peer: string, trust: TrustState | undefined): HTMLElement {
  const text = trust === 'verified'
    ? `Verified: you compared safety numbers with ${peer}.`
    : trust === 'unverified' ? `Unverified: ${peer}'s key was trusted on first use, not compared yet.` : `Not verified: nothing was sent to ${peer} yet.`
  return h('p', { class: 'trust-state', id: 'safety-trust-state', 'data-trust': trust ?? 'none' }, text)
}

function numberBlock (number: string, label: string | undefined): HTMLElement {
  const groups = number.split(' ')
  return h('figure', { class: 'safety' },
    label === undefined ? null : h('figcaption', {}, label),
    h('p', { class: 'safety-number', 'aria-label': groups.join(', ') }, ...groups.map((g) => h('span', {}, g))))
}
