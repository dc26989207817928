// The message field under the open conversation: Enter sends, Shift+Enter starts a new line.
import { byId, fieldError, listen, utf8Length } from '../dom.js'
import { EVERYONE } from '../model.js'

/** the server closes a connection on a frame over MAX_MESSAGE_BYTES (64 KiB by default); base64 and headers need room */
export const MAX_TEXT_BYTES = 40_000

/** `onSend` takes a message to send, or returns why not (shown under the field, which keeps the text). */
export type SendHandler = (text: string) => string | undefined

export class Composer {
  readonly #el = {
    composer: byId('composer', HTMLFormElement),
    label: byId('composer-label', HTMLLabelElement),
    input: byId('composer-input', HTMLTextAreaElement),
    error: byId('composer-error', HTMLElement)
  }

  readonly #onSend: SendHandler

  constructor (onSend: SendHandler, signal: AbortSignal) {
    this.#onSend = onSend
    const on = listen(signal)
    const { composer, input } = this.#el
    on(composer, 'submit', (e) => { e.preventDefault(); this.#submit() })
    on(input, 'keydown', (e: KeyboardEvent) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault()
        this.#submit()
      }
    })
    on(input, 'input', () => {
      this.error(undefined)
      this.#autosize()
    })
  }

  /** Addressed to `peer` (or everyone online). */
  target (peer: string): void {
    const broadcast = peer === EVERYONE
    this.#el.label.textContent = broadcast ? 'Message to everyone online' : `Message to ${peer}`
    this.#el.input.placeholder = broadcast ? 'Write to everyone online (not encrypted)' : `Write to ${peer}`
    this.error(undefined)
  }

  error (text: string | undefined): void {
    fieldError(this.#el.input, this.#el.error, text)
  }

  focus (): void {
    this.#el.input.focus()
  }

  clear (): void {
    this.#el.input.value = ''
  }

  #submit (): void {
    const { input } = this.#el
    const text = input.value
    if (text.trim() === '') return
    const bytes = utf8Length(text)
    const refused = bytes > MAX_TEXT_BYTES
      ? `This message is too long (${Math.ceil(bytes / 1000)} kB; at most ${MAX_TEXT_BYTES / 1000} kB).`
      : this.#onSend(text)
    if (refused !== undefined) {
      this.error(refused)
      return
    }
    input.value = ''
    this.#autosize()
  }

  #autosize (): void {
    const { input } = this.#el
    input.style.height = 'auto'
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`
  }
}
