// The list side: "Message someone", the channels, the conversations and who is online.
import { byId, fieldError, h, listen, show } from '../dom.js'
import { EVERYONE, type ChatModel, type View } from '../model.js'
import { avatar } from './avatar.js'

export interface SidebarActions {
  /** the "Message someone" form was sent with this (trimmed) user id */
  onNewPeer: (peer: string) => void
  onOpen: (peer: string) => void
  /** a person in the online list was picked */
  onOnline: (peer: string) => void
  onCommands: () => void
}

export class Sidebar {
  readonly #el = {
    newForm: byId('new-form', HTMLFormElement),
    newPeer: byId('new-peer', HTMLInputElement),
    newPeerError: byId('new-peer-error', HTMLElement),
    navBroadcast: byId('nav-broadcast', HTMLButtonElement),
    broadcastUnread: byId('broadcast-unread', HTMLElement),
    navCommands: byId('nav-commands', HTMLButtonElement),
    convList: byId('conv-list', HTMLUListElement),
    convEmpty: byId('conv-empty', HTMLElement),
    onlineList: byId('online-list', HTMLUListElement),
    onlineEmpty: byId('online-empty', HTMLElement),
    onlineCount: byId('online-count', HTMLElement)
  }

  readonly #actions: SidebarActions

  constructor (actions: SidebarActions, signal: AbortSignal) {
    this.#actions = actions
    const on = listen(signal)
    const el = this.#el
    on(el.newForm, 'submit', (e) => { e.preventDefault(); actions.onNewPeer(el.newPeer.value.trim()) })
    on(el.newPeer, 'input', () => { this.newPeerError(undefined) })
    on(el.navBroadcast, 'click', () => { actions.onOpen(EVERYONE) })
    on(el.navCommands, 'click', () => { actions.onCommands() })
  }

  newPeerError (text: string | undefined, focus = false): void {
    fieldError(this.#el.newPeer, this.#el.newPeerError, text)
    if (focus) this.#el.newPeer.focus()
  }

  clearNewPeer (): void {
    this.#el.newPeer.value = ''
  }

  /** Where the keyboard starts: "Message someone", or on touch screens the broadcast channel (no keyboard pop-up). */
  focusStart (coarse: boolean): void {
    if (coarse) this.#el.navBroadcast.focus()
    else this.#el.newPeer.focus()
  }

  /** Back in the list: the item of the pane that was left gets the focus. */
  focusItem (left: View): void {
    const target = left.kind === 'commands'
      ? this.#el.navCommands
      : left.kind === 'conversation' && left.peer === EVERYONE
        ? this.#el.navBroadcast
        : this.#el.convList.querySelector<HTMLButtonElement>(`[data-peer="${CSS.escape(left.kind === 'conversation' ? left.peer : '')}"]`)
    target?.focus()
  }

  render (model: ChatModel): void {
    const { convList, convEmpty, onlineList, onlineEmpty, onlineCount, navBroadcast, navCommands, broadcastUnread } = this.#el
    const view = model.view
    const current = view.kind === 'conversation' ? view.peer : view.kind
    const conversations = model.list()
    convList.replaceChildren(...conversations.map((c) => {
      const online = model.isOnline(c.peer)
      const sub = c.keyChanged !== undefined ? '⚠ key changed: verify' : online ? 'online' : 'offline'
      return h('li', {}, h('button', {
        type: 'button',
        class: `nav-item${c.keyChanged === undefined ? '' : ' warn'}`,
        'data-peer': c.peer,
        'aria-current': current === c.peer ? 'page' : undefined,
        onclick: () => { this.#actions.onOpen(c.peer) }
      },
      avatar(c.peer, online),
      h('span', { class: 'nav-text' }, h('span', { class: 'nav-name' }, c.peer), h('span', { class: 'nav-sub' }, sub)),
      c.unread > 0 ? h('span', { class: 'badge' }, String(c.unread), h('span', { class: 'sr-only' }, ' unread')) : null))
    }))
    show(convEmpty, conversations.length === 0)

    const others = model.others()
    onlineList.replaceChildren(...others.map((u) => h('li', {}, h('button', {
      type: 'button', class: 'nav-item compact', 'data-online': u, onclick: () => { this.#actions.onOnline(u) }
    }, avatar(u, true), h('span', { class: 'nav-text' }, h('span', { class: 'nav-name' }, u), h('span', { class: 'sr-only' }, ', online'))))))
    onlineEmpty.textContent = model.connected ? 'Nobody else is online.' : 'Not known while not connected.'
    show(onlineEmpty, others.length === 0)
    onlineCount.textContent = model.connected ? `(${others.length})` : ''

    navBroadcast.toggleAttribute('aria-current', current === EVERYONE)
    if (current === EVERYONE) navBroadcast.setAttribute('aria-current', 'page')
    navCommands.toggleAttribute('aria-current', current === 'commands')
    if (current === 'commands') navCommands.setAttribute('aria-current', 'page')
    const everyone = model.find(EVERYONE)?.unread ?? 0
    broadcastUnread.textContent = everyone > 0 ? String(everyone) : ''
    show(broadcastUnread, everyone > 0)

    const unread = model.unreadTotal()
    document.title = unread > 0 ? `(${unread}) Sealwire` : 'Sealwire'
  }
}
