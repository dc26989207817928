// The bars under the top bar: connection trouble, refusals, changed keys, a saved file.
import { byId, h } from '../dom.js'

export interface NoticeAction {
  label: string
  onClick: () => void
  tone?: 'primary' | 'secondary' | 'danger'
}

export interface NoticeOptions {
  tone?: 'info' | 'warn' | 'error'
  actions?: NoticeAction[]
  timeoutMs?: number
  dismissible?: boolean
}

export class Notices {
  readonly #box = byId('notices', HTMLDivElement)
  #closed = false

  /** Shows a notice; one of each `kind` at a time. */
  show (kind: string, text: string, options: NoticeOptions = {}): void {
    if (this.#closed) return
    this.dismiss(kind)
    const { tone = 'info', actions = [], timeoutMs, dismissible = true } = options
    const box = h('div', { class: `notice-bar ${tone}`, role: tone === 'info' ? 'status' : 'alert', 'data-kind': kind },
      h('p', {}, text),
      actions.length === 0 ? null : h('div', { class: 'actions' }, ...actions.map((a) => h('button', { type: 'button', class: `${a.tone ?? 'secondary'} small`, onclick: a.onClick }, a.label))),
      dismissible ? h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Dismiss this notice', onclick: () => box.remove() }, '×') : null
    )
    this.#box.append(box)
    if (timeoutMs !== undefined) setTimeout(() => box.remove(), timeoutMs)
  }

  dismiss (kind: string): void {
    this.#box.querySelectorAll(`[data-kind="${CSS.escape(kind)}"]`).forEach((box) => { box.remove() })
  }

  clear (): void {
    this.#box.replaceChildren()
  }

  /** The session ended: nothing more is shown. */
  close (): void {
    this.#closed = true
    this.clear()
  }
}
