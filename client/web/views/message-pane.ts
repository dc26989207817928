// The messages of the open conversation, with their delivery states, and its history's state.
import { byId, formatTime, h, listen, show } from '../dom.js'
import { EVERYONE, type Conversation, type Entry, type EntryState } from '../model.js'

const STATE_TEXT: Record<Exclude<EntryState, 'received' | 'failed' | 'rejected'>, { icon: string, text: string }> = {
  sending: { icon: '◌', text: 'Sending…' },
  accepted: { icon: '✓', text: 'Sent' },
  delivered: { icon: '✓✓', text: 'Delivered' }
}

export interface MessagePaneOptions {
  me: string
  /** "Sending…" or "Waiting for the connection…" */
  connected: () => boolean
  onRetry: (entry: Entry) => void
  onLoadOlder: () => void
}

export class MessagePane {
  readonly #el = {
    scroller: byId('scroller', HTMLElement),
    loadOlder: byId('load-older', HTMLButtonElement),
    historyState: byId('history-state', HTMLElement),
    messages: byId('messages', HTMLOListElement)
  }

  readonly #options: MessagePaneOptions
  /** the elements of the shown conversation's entries */
  #shown = new Map<Entry, HTMLLIElement>()
  #broadcast = false

  constructor (options: MessagePaneOptions, signal: AbortSignal) {
    this.#options = options
    listen(signal)(this.#el.loadOlder, 'click', () => { options.onLoadOlder() })
  }

  /** Draws a conversation afresh, `entries` in time order. */
  renderAll (conv: Conversation, entries: readonly Entry[]): void {
    const { messages } = this.#el
    this.#broadcast = conv.peer === EVERYONE
    this.#shown = new Map()
    // opening a conversation must not read all of it aloud: the live region is muted while it fills
    messages.setAttribute('aria-live', 'off')
    messages.replaceChildren(...entries.map((entry) => this.#render(entry)))
    this.renderHistoryState(conv)
    this.#scrollToEnd()
    setTimeout(() => { messages.setAttribute('aria-live', 'polite') }, 200)
  }

  /** More history arrived: drawn again, and older messages go above what the reader looks at without moving it. */
  renderHistory (conv: Conversation, entries: readonly Entry[], older: boolean): void {
    const { scroller } = this.#el
    const fromEnd = scroller.scrollHeight - scroller.scrollTop
    this.renderAll(conv, entries)
    if (older) scroller.scrollTop = scroller.scrollHeight - fromEnd
  }

  /** A new entry of the shown conversation, put at its place in time. */
  add (conv: Conversation, entry: Entry): void {
    const { messages, scroller } = this.#el
    const atEnd = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80
    const li = this.#render(entry)
    if (!li.isConnected) {
      const before = Array.from(messages.children).find((child) => Number((child as HTMLElement).dataset.at) > entry.at) ?? null
      messages.insertBefore(li, before)
    }
    if (entry.from === this.#options.me || atEnd) this.#scrollToEnd()
    this.renderHistoryState(conv)
  }

  /** The entry's state changed; whether it is on screen. */
  update (entry: Entry): boolean {
    if (!this.#shown.has(entry)) return false
    return this.#render(entry).isConnected
  }

  remove (entry: Entry): void {
    this.#shown.get(entry)?.remove()
    this.#shown.delete(entry)
  }

  /** The connection came or went: messages still on their way say whether they wait for it. */
  refreshSending (): void {
    for (const entry of this.#shown.keys()) if (entry.state === 'sending') this.#render(entry)
  }

  renderHistoryState (conv: Conversation): void {
    const { historyState, loadOlder } = this.#el
    const text = conv.history === 'loading'
      ? 'Loading messages…'
      : conv.history === 'failed'
        ? `Could not load earlier messages: ${conv.historyError ?? 'unknown error'}`
        : conv.history === 'loaded' && conv.entries.size === 0
          ? conv.peer === EVERYONE ? 'Broadcasts you send and receive while online appear here.' : `No messages with ${conv.peer} yet. Say hello: only ${conv.peer} can read it.`
          : undefined
    historyState.textContent = text ?? ''
    historyState.classList.toggle('error', conv.history === 'failed')
    show(historyState, text !== undefined)
    show(loadOlder, conv.history === 'loaded' && conv.nextBefore !== null)
  }

  clear (): void {
    this.#el.messages.replaceChildren()
    this.#shown = new Map()
  }

  #scrollToEnd (): void {
    const { scroller } = this.#el
    scroller.scrollTop = scroller.scrollHeight
  }

  #render (entry: Entry): HTMLLIElement {
    const existing = this.#shown.get(entry)
    if (entry.kind === 'notice') {
      const li = existing ?? h('li', { class: 'msg notice', 'data-at': entry.at }, h('p', {}, entry.text ?? ''))
      this.#shown.set(entry, li)
      return li
    }
    const mine = entry.from === this.#options.me
    if (existing !== undefined) {
      // only the delivery state changes: the rest stays, so the live region does not read the message again
      existing.dataset.state = entry.state
      if (entry.id !== undefined) existing.dataset.id = entry.id
      if (mine) existing.querySelector('.msg-state')?.replaceWith(this.#stateLabel(entry))
      return existing
    }
    const li = h('li', { class: `msg ${mine ? 'mine' : 'theirs'}`, 'data-at': entry.at, 'data-state': entry.state, 'data-id': entry.id })
    this.#shown.set(entry, li)
    const body = entry.text !== undefined
      ? h('p', { class: 'msg-text' }, entry.text)
      : h('p', { class: 'msg-text unreadable' }, `This message cannot be shown: ${entry.error ?? 'it could not be verified and decrypted'}.`)
    li.append(...[
      this.#broadcast && !mine ? h('p', { class: 'msg-from', 'aria-hidden': 'true' }, entry.from) : undefined,
      h('span', { class: 'sr-only' }, `${mine ? 'You' : entry.from}: `),
      h('div', { class: 'bubble' }, body),
      h('p', { class: 'msg-meta' },
        h('time', { datetime: new Date(entry.at).toISOString(), title: new Date(entry.at).toLocaleString() }, formatTime(entry.at)),
        mine ? this.#stateLabel(entry) : null)
    ].filter((child) => child !== undefined))
    return li
  }

  #stateLabel (entry: Entry): HTMLElement {
    if (entry.state === 'failed') {
      const retry = h('button', { type: 'button', class: 'link-button', onclick: () => { this.#options.onRetry(entry) } }, 'Retry')
      const wait = entry.retryAt === undefined ? 0 : entry.retryAt - Date.now()
      if (wait > 0) {
        retry.setAttribute('disabled', '')
        setTimeout(() => { retry.removeAttribute('disabled') }, wait)
      }
      return h('span', { class: 'msg-state failed' }, h('span', { 'aria-hidden': 'true' }, '! '), `Not sent: ${entry.failure ?? 'failed'} `, retry)
    }
    if (entry.state === 'rejected') {
      return h('span', { class: 'msg-state rejected' }, h('span', { 'aria-hidden': 'true' }, '✕ '), entry.failure ?? 'Refused')
    }
    if (entry.state === 'received') return h('span', { class: 'msg-state' })
    let { icon, text } = STATE_TEXT[entry.state]
    if (entry.state === 'sending' && !this.#options.connected()) text = 'Waiting for the connection…'
    if (this.#broadcast && entry.state !== 'sending') text = 'Sent to everyone online'
    return h('span', { class: `msg-state ${entry.state}`, title: text }, h('span', { class: 'state-icon', 'aria-hidden': 'true' }, icon), ` ${text}`)
  }
}
