// The signed-in screen: conversations, presence, direct messages, broadcasts, server commands, safety numbers.
import {
  exportIdentity, KeyChangedError, publicKeys, safetyNumber,
  type BroadcastMessage, type DirectMessage, type HistoryEntry, type JsonValue, type RejectedMessage, type SealwireClient
} from '../index.js'
import { describeError, describeRejection, seconds } from './describe.js'
import { announce, byId, download, formatTime, h, show, sleep, utf8Length } from './dom.js'
import type { BrowserClientStore, ConversationRecord, SavedIdentity, Storage } from './storage.js'

/** `*` is the broadcast channel. */
const EVERYONE = '*'
/** the server closes a connection on a frame over MAX_MESSAGE_BYTES (64 KiB by default); base64 and headers need room */
const MAX_TEXT_BYTES = 40_000
const HISTORY_PAGE = 50

type State = 'sending' | 'accepted' | 'delivered' | 'failed' | 'received'

interface Entry {
  kind: 'message' | 'notice'
  /** the message id once known, else a local key */
  key: string
  id: string | undefined
  from: string
  text: string | undefined
  /** why a stored message cannot be shown */
  error: string | undefined
  at: number
  state: State
  failure: string | undefined
  retryAt: number | undefined
  el: HTMLLIElement | undefined
}

interface Conversation {
  peer: string
  entries: Map<string, Entry>
  unread: number
  history: 'none' | 'loading' | 'loaded' | 'failed'
  historyError: string | undefined
  nextBefore: number | null
  keyChanged: KeyChangedError | undefined
  lastAt: number
}

type View = { kind: 'empty' } | { kind: 'conversation', peer: string } | { kind: 'commands' }

interface Action {
  label: string
  onClick: () => void
  tone?: 'primary' | 'secondary' | 'danger'
}

export interface ExitReason {
  text: string
  code: string
}

export interface SessionOptions {
  client: SealwireClient
  storage: Storage
  store: BrowserClientStore
  saved: SavedIdentity
  /** the session ended: logged out (no reason) or the server will not let this identity in */
  onExit: (reason?: ExitReason) => void
}

const STATE_TEXT: Record<Exclude<State, 'received' | 'failed'>, { icon: string, text: string }> = {
  sending: { icon: '◌', text: 'Sending…' },
  accepted: { icon: '✓', text: 'Sent' },
  delivered: { icon: '✓✓', text: 'Delivered' }
}
const STATE_RANK: Record<State, number> = { failed: 0, sending: 1, accepted: 2, delivered: 3, received: 3 }

export class ChatSession {
  readonly #client: SealwireClient
  readonly #storage: Storage
  readonly #store: BrowserClientStore
  #saved: SavedIdentity
  readonly #onExit: SessionOptions['onExit']
  readonly #me: string
  readonly #myKey: string
  readonly #conversations = new Map<string, Conversation>()
  /** messages this user sent, by id: receipts update them */
  readonly #mine = new Map<string, Entry>()
  readonly #online = new Set<string>()
  readonly #abort = new AbortController()
  readonly #unsubscribe: Array<() => void> = []
  #view: View = { kind: 'empty' }
  #closed = false
  #connected = false
  #retryNow: AbortController | undefined
  #local = 0
  #commandsListed = false
  #safetyPeer: string | undefined
  #safetyReturnFocus: HTMLElement | null = null

  readonly #el = {
    meName: byId('me-name', HTMLElement),
    meId: byId('me-id', HTMLElement),
    conn: byId('conn', HTMLElement),
    notices: byId('notices', HTMLDivElement),
    exportButton: byId('export-button', HTMLButtonElement),
    logoutButton: byId('logout-button', HTMLButtonElement),
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
    onlineCount: byId('online-count', HTMLElement),
    content: byId('content', HTMLElement),
    viewEmpty: byId('view-empty', HTMLElement),
    viewConversation: byId('view-conversation', HTMLElement),
    viewCommands: byId('view-commands', HTMLElement),
    backButton: byId('back-button', HTMLButtonElement),
    backButton2: byId('back-button-2', HTMLButtonElement),
    convAvatar: byId('conv-avatar', HTMLElement),
    convPeer: byId('conv-peer', HTMLElement),
    convSub: byId('conv-sub', HTMLElement),
    safetyButton: byId('safety-button', HTMLButtonElement),
    keyAlert: byId('key-alert', HTMLElement),
    keyAlertText: byId('key-alert-text', HTMLElement),
    keyAlertCompare: byId('key-alert-compare', HTMLButtonElement),
    scroller: byId('scroller', HTMLElement),
    loadOlder: byId('load-older', HTMLButtonElement),
    historyState: byId('history-state', HTMLElement),
    messages: byId('messages', HTMLOListElement),
    composer: byId('composer', HTMLFormElement),
    composerLabel: byId('composer-label', HTMLLabelElement),
    composerInput: byId('composer-input', HTMLTextAreaElement),
    composerError: byId('composer-error', HTMLElement),
    commandForm: byId('command-form', HTMLFormElement),
    commandName: byId('command-name', HTMLInputElement),
    commandNames: byId('command-names', HTMLDataListElement),
    commandParams: byId('command-params', HTMLTextAreaElement),
    commandParamsError: byId('command-params-error', HTMLElement),
    commandList: byId('command-list', HTMLElement),
    commandResults: byId('command-results', HTMLOListElement),
    safetyDialog: byId('safety-dialog', HTMLDialogElement),
    safetyTitle: byId('safety-title', HTMLElement),
    safetyIntro: byId('safety-intro', HTMLElement),
    safetyNumbers: byId('safety-numbers', HTMLElement),
    safetyError: byId('safety-error', HTMLElement),
    safetyTrust: byId('safety-trust', HTMLButtonElement),
    safetyClose: byId('safety-close', HTMLButtonElement)
  }

  constructor (options: SessionOptions) {
    this.#client = options.client
    this.#storage = options.storage
    this.#store = options.store
    this.#saved = options.saved
    this.#onExit = options.onExit
    this.#me = options.client.userId
    this.#myKey = publicKeys(options.client.identity).public_key
  }

  // ---- life cycle ----------------------------------------------------------------------------------

  /** Shows the screen and connects (retrying while the server cannot be reached). */
  async start (): Promise<void> {
    this.#wireClient()
    this.#wireDom()
    this.#el.meName.textContent = this.#saved.username
    this.#el.meId.textContent = this.#saved.username === this.#me ? '' : `@${this.#me}`
    const records = await this.#storage.list<ConversationRecord>('conversations', `${this.#me}\n`)
    for (const r of records) this.#conversation(r.peer).lastAt = r.last_at
    this.#el.notices.replaceChildren()
    this.#showView({ kind: 'empty' })
    this.#renderSidebar()
    // the screen changed under the keyboard's focus: start at "Message someone" (no keyboard pop-up on phones)
    if (matchMedia('(pointer: coarse)').matches) this.#el.navBroadcast.focus()
    else this.#el.newPeer.focus()
    await this.#connectLoop()
  }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#retryNow?.abort()
    this.#abort.abort()
    for (const off of this.#unsubscribe) off()
    this.#client.close()
    if (this.#el.safetyDialog.open) this.#el.safetyDialog.close()
    this.#el.notices.replaceChildren()
    this.#el.messages.replaceChildren()
    this.#el.commandResults.replaceChildren()
    this.#el.composerInput.value = ''
    document.title = 'Sealwire'
  }

  async #connectLoop (): Promise<void> {
    let delay = 1000
    while (!this.#closed) {
      this.#setConnection('connecting')
      try {
        await this.#client.connect()
        return
      } catch (err) {
        if (this.#closed) return
        const d = describeError(err)
        if (d.code === 'unknown_user' || d.code === 'unauthorized') {
          this.close()
          this.#onExit({ code: d.code, text: d.code === 'unknown_user' ? `${this.#me} is not registered on this server.` : d.text })
          return
        }
        const wait = d.retryAfterMs ?? delay
        delay = Math.min(delay * 2, 15_000)
        const retry = new AbortController()
        this.#retryNow = retry
        this.#setConnection('offline')
        this.#notice('connection', `${d.text} Trying again in ${seconds(wait)}.`, { tone: 'error', actions: [{ label: 'Try now', onClick: () => retry.abort() }], dismissible: false })
        await sleep(wait, retry.signal)
      }
    }
  }

  #setConnection (state: 'connecting' | 'online' | 'reconnecting' | 'offline'): void {
    this.#connected = state === 'online'
    const text = { connecting: 'Connecting…', online: 'Connected', reconnecting: 'Reconnecting…', offline: 'Offline' }[state]
    this.#el.conn.dataset.state = state
    this.#el.conn.textContent = text
    // "Sending…" or "Waiting for the connection…"
    for (const conv of this.#conversations.values()) {
      for (const entry of conv.entries.values()) if (entry.state === 'sending' && entry.el !== undefined) this.#renderEntry(entry)
    }
  }

  #wireClient (): void {
    const c = this.#client
    this.#unsubscribe.push(
      c.on('connected', ({ reconnected }) => {
        this.#setConnection('online')
        this.#dismiss('connection')
        if (reconnected) announce('Reconnected to the server.')
        void this.#refreshPresence()
        // a conversation whose history could not be loaded gets another try
        if (this.#view.kind === 'conversation') {
          const conv = this.#conversations.get(this.#view.peer)
          if (conv !== undefined && conv.history === 'failed') void this.#loadHistory(conv)
        }
      }),
      c.on('disconnected', ({ code, reason, willReconnect }) => {
        this.#setConnection(willReconnect ? 'reconnecting' : 'offline')
        this.#online.clear()
        this.#renderSidebar()
        this.#renderHeader()
        const why = code === 1001
          ? 'The server is restarting.'
          : code === 1008
            ? `The server closed the connection${reason === '' ? '' : ` (${reason})`}: too many refused messages.`
            : code === 1013 ? 'The server closed the connection: this device was not reading fast enough.' : 'The connection to the server was lost.'
        this.#notice('connection', willReconnect
          ? `${why} Reconnecting… Messages you send meanwhile go out once the connection is back.`
          : `${why} Log in again to reconnect.`, { tone: 'warn', dismissible: false })
      }),
      c.on('message', async (m) => { await this.#onMessage(m) }),
      c.on('broadcast', (b) => { this.#onBroadcast(b) }),
      c.on('presence', ({ userId, status }) => {
        if (status === 'online') this.#online.add(userId)
        else this.#online.delete(userId)
        this.#renderSidebar()
        this.#renderHeader()
      }),
      c.on('receipt', ({ id, status }) => {
        const entry = this.#mine.get(id)
        if (entry !== undefined && (status === 'delivered' || status === 'accepted' || status === 'duplicate')) {
          this.#advance(entry, status === 'delivered' ? 'delivered' : 'accepted')
        }
      }),
      c.on('rejected', (r) => { this.#onRejected(r) }),
      c.on('key-changed', (err) => { this.#onKeyChanged(err) }),
      // the SDK replaces the encryption key now and then: the stored identity must follow, or a reload loses it
      c.on('identity-changed', async (identity) => {
        this.#saved = { ...this.#saved, file: exportIdentity(identity) }
        await this.#storage.put('identities', this.#me, this.#saved)
      }),
      c.on('error', (err) => {
        const d = describeError(err)
        if (d.code === 'rate_limited') this.#rateLimited(d.retryAfterMs)
        else this.#notice('error', `The server reported a problem: ${d.text}`, { tone: 'error' })
      })
    )
  }

  #wireDom (): void {
    const signal = this.#abort.signal
    const on = <E extends Event>(target: EventTarget, type: string, fn: (e: E) => void): void => {
      target.addEventListener(type, fn as EventListener, { signal })
    }
    const el = this.#el
    on(el.logoutButton, 'click', () => { void this.#logout() })
    on(el.exportButton, 'click', () => {
      const name = `sealwire-${this.#me}.json`
      download(name, `${JSON.stringify(exportIdentity(this.#client.identity), null, 2)}\n`)
      this.#notice('export', `Saved ${name}. It holds your secret keys: anyone with it can read your messages and write as you. Keep it private.`, { tone: 'info', timeoutMs: 15_000 })
    })
    on(el.newForm, 'submit', (e) => { e.preventDefault(); void this.#startConversation() })
    on(el.newPeer, 'input', () => { this.#fieldError(el.newPeer, el.newPeerError, undefined) })
    on(el.navBroadcast, 'click', () => { this.#openConversation(EVERYONE) })
    on(el.navCommands, 'click', () => { this.#openCommands() })
    on(el.backButton, 'click', () => { this.#back() })
    on(el.backButton2, 'click', () => { this.#back() })
    on(el.safetyButton, 'click', () => {
      if (this.#view.kind === 'conversation') void this.#showSafety(this.#view.peer)
    })
    on(el.keyAlertCompare, 'click', () => {
      if (this.#view.kind === 'conversation') void this.#showSafety(this.#view.peer)
    })
    on(el.loadOlder, 'click', () => {
      const conv = this.#currentConversation()
      if (conv !== undefined) void this.#loadHistory(conv, true)
    })
    on(el.composer, 'submit', (e) => { e.preventDefault(); this.#submitComposer() })
    on(el.composerInput, 'keydown', (e: KeyboardEvent) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault()
        this.#submitComposer()
      }
    })
    on(el.composerInput, 'input', () => {
      this.#fieldError(el.composerInput, el.composerError, undefined)
      this.#autosize()
    })
    on(el.commandForm, 'submit', (e) => { e.preventDefault(); void this.#runCommand() })
    on(el.commandParams, 'input', () => { this.#fieldError(el.commandParams, el.commandParamsError, undefined) })
    on(el.commandParams, 'keydown', (e: KeyboardEvent) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); el.commandForm.requestSubmit() }
    })
    on(el.safetyClose, 'click', () => { el.safetyDialog.close() })
    on(el.safetyTrust, 'click', () => { void this.#trustNewKey() })
    on(el.safetyDialog, 'close', () => {
      this.#safetyPeer = undefined
      this.#safetyReturnFocus?.focus()
    })
    on(window, 'online', () => { this.#retryNow?.abort() })
    on(document, 'visibilitychange', () => {
      const conv = this.#currentConversation()
      if (document.visibilityState === 'visible' && conv !== undefined && conv.unread > 0) {
        conv.unread = 0
        this.#renderSidebar()
      }
    })
  }

  async #logout (): Promise<void> {
    // revokes the session token on the server; a server that cannot be reached gets 3 s, then the page logs out anyway
    await Promise.race([this.#client.logout().catch(() => {}), sleep(3000)])
    this.close()
    await this.#storage.delete('settings', 'session')
    this.#onExit()
  }

  // ---- notices ------------------------------------------------------------------------------------

  #notice (kind: string, text: string, options: { tone?: 'info' | 'warn' | 'error', actions?: Action[], timeoutMs?: number, dismissible?: boolean } = {}): void {
    if (this.#closed) return
    this.#dismiss(kind)
    const { tone = 'info', actions = [], timeoutMs, dismissible = true } = options
    const box = h('div', { class: `notice-bar ${tone}`, role: tone === 'info' ? 'status' : 'alert', 'data-kind': kind },
      h('p', {}, text),
      actions.length === 0 ? null : h('div', { class: 'actions' }, ...actions.map((a) => h('button', { type: 'button', class: `${a.tone ?? 'secondary'} small`, onclick: a.onClick }, a.label))),
      dismissible ? h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Dismiss this notice', onclick: () => box.remove() }, '×') : null
    )
    this.#el.notices.append(box)
    if (timeoutMs !== undefined) setTimeout(() => box.remove(), timeoutMs)
  }

  #dismiss (kind: string): void {
    this.#el.notices.querySelectorAll(`[data-kind="${CSS.escape(kind)}"]`).forEach((box) => { box.remove() })
  }

  #rateLimited (retryAfterMs: number | undefined): void {
    const wait = retryAfterMs ?? 1000
    this.#notice('rate', `You are sending too fast: the server refuses messages for ${seconds(wait)}.`, { tone: 'warn', timeoutMs: wait + 1500 })
  }

  #fieldError (input: HTMLElement, slot: HTMLElement, text: string | undefined): void {
    slot.textContent = text ?? ''
    show(slot, text !== undefined)
    if (text === undefined) input.removeAttribute('aria-invalid')
    else input.setAttribute('aria-invalid', 'true')
  }

  // ---- conversations --------------------------------------------------------------------------------

  #conversation (peer: string): Conversation {
    let conv = this.#conversations.get(peer)
    if (conv === undefined) {
      conv = { peer, entries: new Map(), unread: 0, history: peer === EVERYONE ? 'loaded' : 'none', historyError: undefined, nextBefore: null, keyChanged: undefined, lastAt: 0 }
      this.#conversations.set(peer, conv)
    }
    return conv
  }

  #currentConversation (): Conversation | undefined {
    return this.#view.kind === 'conversation' ? this.#conversations.get(this.#view.peer) : undefined
  }

  async #touch (conv: Conversation, at = Date.now()): Promise<void> {
    if (conv.peer === EVERYONE) return
    conv.lastAt = Math.max(conv.lastAt, at)
    await this.#storage.put('conversations', `${this.#me}\n${conv.peer}`, { peer: conv.peer, last_at: conv.lastAt } satisfies ConversationRecord)
  }

  async #startConversation (): Promise<void> {
    const { newPeer, newPeerError } = this.#el
    const peer = newPeer.value.trim()
    if (peer === '') {
      this.#fieldError(newPeer, newPeerError, 'Type the user id of the person to write to.')
      newPeer.focus()
      return
    }
    if (peer === this.#me) {
      this.#fieldError(newPeer, newPeerError, 'That is you. Type someone else\'s user id.')
      return
    }
    if (!this.#conversations.has(peer)) {
      // the user list is public: check that the id exists before opening an empty conversation
      try {
        const res = await fetch(`auth/check-userid/${encodeURIComponent(peer)}`)
        const body = await res.json() as { available?: boolean, message?: string }
        if (!res.ok) {
          this.#fieldError(newPeer, newPeerError, res.status === 400 ? 'That is not a valid user id.' : body.message ?? `The server answered ${res.status}.`)
          return
        }
        if (body.available === true) {
          this.#fieldError(newPeer, newPeerError, `There is no user ${peer} on this server.`)
          return
        }
      } catch {
        this.#fieldError(newPeer, newPeerError, 'Cannot reach the server to look that user up.')
        return
      }
    }
    newPeer.value = ''
    const conv = this.#conversation(peer)
    await this.#touch(conv)
    this.#openConversation(peer)
  }

  #openConversation (peer: string): void {
    const conv = this.#conversation(peer)
    conv.unread = 0
    this.#showView({ kind: 'conversation', peer })
    this.#renderHeader()
    this.#renderAllEntries(conv)
    this.#renderSidebar()
    const broadcast = peer === EVERYONE
    this.#el.composerLabel.textContent = broadcast ? 'Message to everyone online' : `Message to ${peer}`
    this.#el.composerInput.placeholder = broadcast ? 'Write to everyone online (not encrypted)' : `Write to ${peer}`
    this.#fieldError(this.#el.composerInput, this.#el.composerError, undefined)
    if (conv.history === 'none' || conv.history === 'failed') void this.#loadHistory(conv)
    // fetching the peer's key checks it against the pin: a changed key is flagged before anything is written
    if (!broadcast) this.#client.safetyNumber(peer).catch(() => {})
    // on touch screens focusing would pop the keyboard up over the conversation
    if (!matchMedia('(pointer: coarse)').matches) this.#el.composerInput.focus()
  }

  #openCommands (): void {
    this.#showView({ kind: 'commands' })
    this.#renderSidebar()
    if (!this.#commandsListed) void this.#listCommands()
    this.#el.commandName.focus()
  }

  #showView (view: View): void {
    this.#view = view
    show(this.#el.viewEmpty, view.kind === 'empty')
    show(this.#el.viewConversation, view.kind === 'conversation')
    show(this.#el.viewCommands, view.kind === 'commands')
    document.body.dataset.pane = view.kind === 'empty' ? 'list' : 'main'
  }

  #back (): void {
    const from = this.#view
    this.#showView({ kind: 'empty' })
    this.#renderSidebar()
    const target = from.kind === 'commands'
      ? this.#el.navCommands
      : from.kind === 'conversation' && from.peer === EVERYONE
        ? this.#el.navBroadcast
        : this.#el.convList.querySelector<HTMLButtonElement>(`[data-peer="${CSS.escape(from.kind === 'conversation' ? from.peer : '')}"]`)
    target?.focus()
  }

  // ---- sidebar & header ---------------------------------------------------------------------------------

  #renderSidebar (): void {
    if (this.#closed) return
    const { convList, convEmpty, onlineList, onlineEmpty, onlineCount, navBroadcast, navCommands, broadcastUnread } = this.#el
    const current = this.#view.kind === 'conversation' ? this.#view.peer : this.#view.kind
    const conversations = [...this.#conversations.values()].filter((c) => c.peer !== EVERYONE).sort((a, b) => b.lastAt - a.lastAt || a.peer.localeCompare(b.peer))
    convList.replaceChildren(...conversations.map((c) => {
      const online = this.#online.has(c.peer)
      const sub = c.keyChanged !== undefined ? '⚠ key changed: verify' : online ? 'online' : 'offline'
      return h('li', {}, h('button', {
        type: 'button',
        class: `nav-item${c.keyChanged === undefined ? '' : ' warn'}`,
        'data-peer': c.peer,
        'aria-current': current === c.peer ? 'page' : undefined,
        onclick: () => { this.#openConversation(c.peer) }
      },
      avatar(c.peer, online),
      h('span', { class: 'nav-text' }, h('span', { class: 'nav-name' }, c.peer), h('span', { class: 'nav-sub' }, sub)),
      c.unread > 0 ? h('span', { class: 'badge' }, String(c.unread), h('span', { class: 'sr-only' }, ' unread')) : null))
    }))
    show(convEmpty, conversations.length === 0)

    const others = [...this.#online].filter((u) => u !== this.#me).sort()
    onlineList.replaceChildren(...others.map((u) => h('li', {}, h('button', {
      type: 'button', class: 'nav-item compact', 'data-online': u, onclick: () => { void this.#touch(this.#conversation(u)).then(() => { this.#openConversation(u) }) }
    }, avatar(u, true), h('span', { class: 'nav-text' }, h('span', { class: 'nav-name' }, u), h('span', { class: 'sr-only' }, ', online'))))))
    onlineEmpty.textContent = this.#connected ? 'Nobody else is online.' : 'Not known while not connected.'
    show(onlineEmpty, others.length === 0)
    onlineCount.textContent = this.#connected ? `(${others.length})` : ''

    navBroadcast.toggleAttribute('aria-current', current === EVERYONE)
    if (current === EVERYONE) navBroadcast.setAttribute('aria-current', 'page')
    navCommands.toggleAttribute('aria-current', current === 'commands')
    if (current === 'commands') navCommands.setAttribute('aria-current', 'page')
    const everyone = this.#conversations.get(EVERYONE)?.unread ?? 0
    broadcastUnread.textContent = everyone > 0 ? String(everyone) : ''
    show(broadcastUnread, everyone > 0)

    const unread = [...this.#conversations.values()].reduce((n, c) => n + c.unread, 0)
    document.title = unread > 0 ? `(${unread}) Sealwire` : 'Sealwire'
  }

  #renderHeader (): void {
    const conv = this.#currentConversation()
    if (conv === undefined) return
    const broadcast = conv.peer === EVERYONE
    const { convAvatar, convPeer, convSub, safetyButton, keyAlert, keyAlertText } = this.#el
    convAvatar.textContent = broadcast ? '#' : initial(conv.peer)
    convAvatar.className = broadcast ? 'avatar channel' : `avatar ${hueClass(conv.peer)}`
    convPeer.textContent = broadcast ? 'Everyone' : conv.peer
    convSub.replaceChildren(...(broadcast
      ? ['Broadcasts are signed but not encrypted: everyone online reads them.']
      : [this.#online.has(conv.peer) ? 'Online' : 'Offline: messages wait on the server', h('span', { class: 'wide-only' }, ' · end-to-end encrypted')]))
    show(safetyButton, !broadcast)
    show(keyAlert, conv.keyChanged !== undefined)
    if (conv.keyChanged !== undefined) {
      keyAlertText.textContent = `The identity key of ${conv.peer} changed. This happens when they reinstall or use a new device, but it can also mean someone is intercepting. Messages to and from ${conv.peer} are blocked until you compare safety numbers with them.`
    }
  }

  // ---- entries -----------------------------------------------------------------------------------

  #addEntry (conv: Conversation, entry: Entry): void {
    conv.entries.set(entry.key, entry)
    if (this.#currentConversation() !== conv) return
    this.#placeEntry(entry, entry.from === this.#me)
    this.#renderHistoryState(conv)
  }

  #renderAllEntries (conv: Conversation): void {
    const { messages } = this.#el
    // opening a conversation must not read all of it aloud: the live region is muted while it fills
    messages.setAttribute('aria-live', 'off')
    messages.replaceChildren()
    for (const entry of [...conv.entries.values()].sort((a, b) => a.at - b.at)) {
      entry.el = undefined
      messages.append(this.#renderEntry(entry))
    }
    this.#renderHistoryState(conv)
    this.#scrollToEnd()
    setTimeout(() => { messages.setAttribute('aria-live', 'polite') }, 200)
  }

  /** Inserts the entry's element at its place in time; scrolls down when the reader was at the end. */
  #placeEntry (entry: Entry, scroll: boolean): void {
    const { messages, scroller } = this.#el
    const atEnd = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80
    const li = this.#renderEntry(entry)
    if (!li.isConnected) {
      let before: Element | null = null
      for (const child of Array.from(messages.children)) {
        if (Number((child as HTMLElement).dataset.at) > entry.at) { before = child; break }
      }
      messages.insertBefore(li, before)
    }
    if (scroll || atEnd) this.#scrollToEnd()
  }

  #scrollToEnd (): void {
    const { scroller } = this.#el
    scroller.scrollTop = scroller.scrollHeight
  }

  #renderEntry (entry: Entry): HTMLLIElement {
    if (entry.kind === 'notice') {
      entry.el ??= h('li', { class: 'msg notice', 'data-at': entry.at }, h('p', {}, entry.text ?? ''))
      return entry.el
    }
    const mine = entry.from === this.#me
    const broadcast = this.#view.kind === 'conversation' && this.#view.peer === EVERYONE
    if (entry.el !== undefined) {
      // only the delivery state changes: the rest stays, so the live region does not read the message again
      const li = entry.el
      li.dataset.state = entry.state
      if (entry.id !== undefined) li.dataset.id = entry.id
      if (mine) li.querySelector('.msg-state')?.replaceWith(this.#stateLabel(entry, broadcast))
      return li
    }
    const li = h('li', { class: `msg ${mine ? 'mine' : 'theirs'}`, 'data-at': entry.at, 'data-state': entry.state, 'data-id': entry.id })
    entry.el = li
    const body = entry.text !== undefined
      ? h('p', { class: 'msg-text' }, entry.text)
      : h('p', { class: 'msg-text unreadable' }, `This message cannot be shown: ${entry.error ?? 'it could not be verified and decrypted'}.`)
    const who = mine ? 'You' : entry.from
    li.replaceChildren(...[
      broadcast && !mine ? h('p', { class: 'msg-from', 'aria-hidden': 'true' }, entry.from) : undefined,
      h('span', { class: 'sr-only' }, `${who}: `),
      h('div', { class: 'bubble' }, body),
      h('p', { class: 'msg-meta' },
        h('time', { datetime: new Date(entry.at).toISOString(), title: new Date(entry.at).toLocaleString() }, formatTime(entry.at)),
        mine ? this.#stateLabel(entry, broadcast) : null)
    ].filter((child) => child !== undefined))
    return li
  }

  #stateLabel (entry: Entry, broadcast: boolean): HTMLElement {
    if (entry.state === 'failed') {
      const retry = h('button', { type: 'button', class: 'link-button', onclick: () => { this.#retry(entry) } }, 'Retry')
      const wait = entry.retryAt === undefined ? 0 : entry.retryAt - Date.now()
      if (wait > 0) {
        retry.setAttribute('disabled', '')
        setTimeout(() => { retry.removeAttribute('disabled') }, wait)
      }
      return h('span', { class: 'msg-state failed' }, h('span', { 'aria-hidden': 'true' }, '! '), `Not sent: ${entry.failure ?? 'failed'} `, retry)
    }
    if (entry.state === 'received') return h('span', { class: 'msg-state' })
    let { icon, text } = STATE_TEXT[entry.state]
    if (entry.state === 'sending' && !this.#connected) text = 'Waiting for the connection…'
    if (broadcast && entry.state !== 'sending') text = 'Sent to everyone online'
    return h('span', { class: `msg-state ${entry.state}`, title: text }, h('span', { class: 'state-icon', 'aria-hidden': 'true' }, icon), ` ${text}`)
  }

  /** Moves a sent message forward (never back): sending → accepted → delivered. */
  #advance (entry: Entry, state: 'accepted' | 'delivered'): void {
    if (STATE_RANK[entry.state] >= STATE_RANK[state] && entry.state !== 'failed') return
    entry.state = state
    entry.failure = undefined
    if (entry.el !== undefined) this.#renderEntry(entry)
    if (state === 'delivered' && entry.el?.isConnected === true) announce('Delivered.')
  }

  #newEntry (fields: Partial<Entry> & Pick<Entry, 'from' | 'at' | 'state'>): Entry {
    return { kind: 'message', key: `local:${++this.#local}`, id: undefined, text: undefined, error: undefined, failure: undefined, retryAt: undefined, el: undefined, ...fields }
  }

  #notify (conv: Conversation, text: string): void {
    const here = this.#currentConversation() === conv && document.visibilityState === 'visible'
    if (!here) {
      conv.unread++
      announce(text)
    }
    this.#renderSidebar()
  }

  // ---- incoming ------------------------------------------------------------------------------------

  async #onMessage (m: DirectMessage): Promise<void> {
    const conv = this.#conversation(m.from)
    if (!conv.entries.has(m.id)) {
      this.#addEntry(conv, this.#newEntry({ key: m.id, id: m.id, from: m.from, text: m.text, at: Date.parse(m.timestamp) || Date.now(), state: 'received' }))
    }
    // written before the SDK acknowledges the message, so the conversation is listed after a reload
    await this.#touch(conv)
    this.#notify(conv, `New message from ${m.from}.`)
  }

  #onBroadcast (b: BroadcastMessage): void {
    const conv = this.#conversation(EVERYONE)
    if (conv.entries.has(b.id)) return
    this.#addEntry(conv, this.#newEntry({ key: b.id, id: b.id, from: b.from, text: b.text, at: Date.parse(b.timestamp) || Date.now(), state: b.from === this.#me ? 'accepted' : 'received' }))
    if (b.from !== this.#me) this.#notify(conv, `New broadcast from ${b.from}.`)
  }

  #onRejected (r: RejectedMessage): void {
    // a changed key has its own warning
    if (r.reason === 'key_changed') return
    const text = `A message${r.from === undefined ? '' : ` from ${r.from}`} was refused and not shown: ${describeRejection(r.reason)}.`
    const conv = r.from === undefined ? undefined : this.#conversations.get(r.from)
    if (conv !== undefined) this.#addEntry(conv, this.#newEntry({ kind: 'notice', from: 'server', text, at: Date.now(), state: 'received' }))
    this.#notice(`rejected:${r.from ?? ''}`, text, { tone: 'warn' })
  }

  #onKeyChanged (err: KeyChangedError): void {
    const conv = this.#conversation(err.userId)
    if (conv.keyChanged?.presentedKey === err.presentedKey) return
    conv.keyChanged = err
    void this.#touch(conv)
    // the open conversation shows its own warning
    if (this.#currentConversation() !== conv) {
      this.#notice(`key:${err.userId}`, `Warning: the identity key of ${err.userId} changed. Compare safety numbers before you trust it.`, {
        tone: 'error',
        actions: [{ label: `Open ${err.userId}`, tone: 'danger', onClick: () => { this.#dismiss(`key:${err.userId}`); this.#openConversation(err.userId) } }]
      })
    }
    this.#renderSidebar()
    this.#renderHeader()
  }

  async #refreshPresence (): Promise<void> {
    try {
      const users = await this.#client.activeUsers()
      this.#online.clear()
      for (const u of users) this.#online.add(u)
      this.#renderSidebar()
      this.#renderHeader()
    } catch {
      // presence frames keep the list right from here on; a failed first fetch only leaves it short
    }
  }

  // ---- history -----------------------------------------------------------------------------------

  async #loadHistory (conv: Conversation, older = false): Promise<void> {
    if (conv.peer === EVERYONE || conv.history === 'loading') return
    conv.history = 'loading'
    this.#renderHistoryState(conv)
    try {
      const before = older && conv.nextBefore !== null ? conv.nextBefore : undefined
      const page = await this.#client.history(conv.peer, { limit: HISTORY_PAGE, before })
      for (const m of page.messages) this.#mergeHistory(conv, m)
      if (!older || page.nextBefore === null || conv.nextBefore === null || page.nextBefore < conv.nextBefore) conv.nextBefore = page.nextBefore
      conv.history = 'loaded'
      conv.historyError = undefined
    } catch (err) {
      conv.history = 'failed'
      conv.historyError = describeError(err, { peer: conv.peer }).text
    }
    if (this.#currentConversation() !== conv) return
    const { scroller } = this.#el
    const fromEnd = scroller.scrollHeight - scroller.scrollTop
    this.#renderAllEntries(conv)
    // older messages go above what the reader looks at: keep it in place
    if (older) scroller.scrollTop = scroller.scrollHeight - fromEnd
  }

  #mergeHistory (conv: Conversation, m: HistoryEntry): void {
    const mine = m.from === this.#me
    const existing = conv.entries.get(m.id)
    if (existing !== undefined) {
      if (mine) this.#advance(existing, m.status === 'delivered' ? 'delivered' : 'accepted')
      return
    }
    const entry = this.#newEntry({
      key: m.id, id: m.id, from: m.from, text: m.text, error: m.error, at: Date.parse(m.timestamp) || Date.now(),
      state: mine ? (m.status === 'delivered' ? 'delivered' : 'accepted') : 'received'
    })
    conv.entries.set(m.id, entry)
    if (mine) this.#mine.set(m.id, entry)
  }

  #renderHistoryState (conv: Conversation): void {
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

  // ---- sending -------------------------------------------------------------------------------------

  #submitComposer (): void {
    const conv = this.#currentConversation()
    const { composerInput, composerError } = this.#el
    if (conv === undefined) return
    const text = composerInput.value
    if (text.trim() === '') return
    if (utf8Length(text) > MAX_TEXT_BYTES) {
      this.#fieldError(composerInput, composerError, `This message is too long (${Math.ceil(utf8Length(text) / 1000)} kB; at most ${MAX_TEXT_BYTES / 1000} kB).`)
      return
    }
    if (conv.keyChanged !== undefined) {
      this.#fieldError(composerInput, composerError, `Not sent: compare safety numbers with ${conv.peer} first (their key changed).`)
      return
    }
    composerInput.value = ''
    this.#autosize()
    void this.#send(conv, text)
  }

  async #send (conv: Conversation, text: string): Promise<void> {
    const entry = this.#newEntry({ from: this.#me, text, at: Date.now(), state: 'sending' })
    this.#addEntry(conv, entry)
    void this.#touch(conv)
    this.#renderSidebar()
    try {
      if (conv.peer === EVERYONE) {
        const { id } = await this.#client.broadcast(text)
        this.#rekey(conv, entry, id)
        this.#advance(entry, 'accepted')
        return
      }
      const sent = await this.#client.sendDirect(conv.peer, text)
      this.#rekey(conv, entry, sent.id)
      this.#mine.set(sent.id, entry)
      this.#advance(entry, 'accepted')
      sent.delivered.then(() => { this.#advance(entry, 'delivered') }, () => {})
    } catch (err) {
      const d = describeError(err, { peer: conv.peer })
      entry.state = 'failed'
      entry.failure = d.code === 'rate_limited' ? `too many messages, wait ${seconds(d.retryAfterMs ?? 1000)}` : d.text.replace(/\.$/, '')
      entry.retryAt = d.retryAfterMs === undefined ? undefined : Date.now() + d.retryAfterMs
      if (entry.el !== undefined) this.#renderEntry(entry)
      if (d.code === 'rate_limited') this.#rateLimited(d.retryAfterMs)
      else if (!(err instanceof KeyChangedError)) announce(`Message not sent: ${d.text}`)
    }
  }

  #rekey (conv: Conversation, entry: Entry, id: string): void {
    conv.entries.delete(entry.key)
    const twin = conv.entries.get(id)
    // the history may have brought the stored copy first: keep one
    if (twin !== undefined && twin !== entry) {
      twin.el?.remove()
      if (twin.state === 'delivered') entry.state = 'delivered'
    }
    entry.key = id
    entry.id = id
    conv.entries.set(id, entry)
    if (entry.el !== undefined) entry.el.dataset.id = id
  }

  #retry (entry: Entry): void {
    const conv = [...this.#conversations.values()].find((c) => c.entries.get(entry.key) === entry)
    if (conv === undefined || entry.text === undefined) return
    conv.entries.delete(entry.key)
    entry.el?.remove()
    if (conv.keyChanged !== undefined) {
      this.#fieldError(this.#el.composerInput, this.#el.composerError, `Not sent: compare safety numbers with ${conv.peer} first (their key changed).`)
      return
    }
    void this.#send(conv, entry.text)
    this.#el.composerInput.focus()
  }

  #autosize (): void {
    const input = this.#el.composerInput
    input.style.height = 'auto'
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`
  }

  // ---- commands -------------------------------------------------------------------------------------

  async #listCommands (): Promise<void> {
    try {
      const list = await this.#client.command('list_commands')
      if (!Array.isArray(list)) return
      this.#commandsListed = true
      const commands = list.filter((c): c is { name: string, description: string } =>
        typeof c === 'object' && c !== null && !Array.isArray(c) && typeof c.name === 'string' && typeof c.description === 'string')
      this.#el.commandNames.replaceChildren(...commands.map((c) => h('option', { value: c.name }, c.description)))
      this.#el.commandList.replaceChildren(
        h('h3', { class: 'results-title' }, 'Available commands'),
        h('ul', { class: 'chips' }, ...commands.map((c) => h('li', {}, h('button', {
          type: 'button',
          class: 'chip',
          title: c.description,
          onclick: () => {
            this.#el.commandName.value = c.name
            this.#el.commandParams.focus()
          }
        }, h('code', {}, c.name), h('span', { class: 'chip-desc' }, c.description)))))
      )
    } catch {
      // the list is a convenience: the form works without it
    }
  }

  async #runCommand (): Promise<void> {
    const { commandName, commandParams, commandParamsError, commandResults } = this.#el
    const name = commandName.value.trim()
    if (name === '') {
      commandName.setAttribute('aria-invalid', 'true')
      commandName.focus()
      return
    }
    commandName.removeAttribute('aria-invalid')
    let params: JsonValue | undefined
    const raw = commandParams.value.trim()
    if (raw !== '') {
      try {
        params = JSON.parse(raw) as JsonValue
      } catch (err) {
        this.#fieldError(commandParams, commandParamsError, `Not valid JSON: ${(err as Error).message}`)
        commandParams.focus()
        return
      }
    }
    const status = h('span', { class: 'result-status' }, 'running…')
    const output = h('pre', { class: 'result-output' })
    const item = h('li', { class: 'result pending' },
      h('p', { class: 'result-head' }, h('code', {}, `${name}${params === undefined ? '' : ` ${JSON.stringify(params)}`}`), ' ', status),
      output)
    commandResults.prepend(item)
    try {
      const result = await this.#client.command(name, params)
      item.className = 'result ok'
      status.textContent = 'ok'
      output.textContent = JSON.stringify(result, null, 2)
    } catch (err) {
      const d = describeError(err)
      item.className = 'result error'
      status.textContent = d.code
      output.textContent = d.text
      if (d.code === 'rate_limited') this.#rateLimited(d.retryAfterMs)
    }
  }

  // ---- safety numbers --------------------------------------------------------------------------------

  async #showSafety (peer: string): Promise<void> {
    const { safetyDialog, safetyTitle, safetyIntro, safetyNumbers, safetyError, safetyTrust } = this.#el
    this.#safetyPeer = peer
    this.#safetyReturnFocus = document.activeElement instanceof HTMLElement ? document.activeElement : null
    safetyTitle.textContent = `Safety number with ${peer}`
    safetyIntro.textContent = 'Computing…'
    safetyNumbers.replaceChildren()
    show(safetyError, false)
    show(safetyTrust, false)
    if (!safetyDialog.open) safetyDialog.showModal()
    const conv = this.#conversation(peer)
    if (conv.keyChanged === undefined) {
      try {
        const number = await this.#client.safetyNumber(peer)
        if (this.#safetyPeer !== peer) return
        safetyIntro.textContent = `Compare this number with the one ${peer} sees for you, in person or over a call. If they match, your messages are encrypted for ${peer}'s key and no one else's.`
        safetyNumbers.replaceChildren(numberBlock(number, undefined))
        this.#el.safetyClose.focus()
        return
      } catch (err) {
        if (!(err instanceof KeyChangedError)) {
          safetyIntro.textContent = ''
          safetyError.textContent = describeError(err, { peer }).text
          show(safetyError, true)
          return
        }
        // the key-changed event has marked the conversation: fall through
      }
    }
    const change = conv.keyChanged
    if (change === undefined || this.#safetyPeer !== peer) return
    const me = { userId: this.#me, publicKey: this.#myKey }
    const before = safetyNumber(me, { userId: peer, publicKey: change.pinnedKey })
    const after = safetyNumber(me, { userId: peer, publicKey: change.presentedKey })
    safetyTitle.textContent = `${peer}'s key changed`
    safetyIntro.textContent = `Ask ${peer}, in person or over a call, which safety number they see now. Trust the new key only if it matches the new number below.`
    safetyNumbers.replaceChildren(numberBlock(after, 'New number (compare this one)'), numberBlock(before, 'Number with the key you trusted before'))
    show(safetyTrust, true)
    safetyTrust.focus()
  }

  async #trustNewKey (): Promise<void> {
    const peer = this.#safetyPeer
    const conv = peer === undefined ? undefined : this.#conversations.get(peer)
    const change = conv?.keyChanged
    if (conv === undefined || change === undefined) return
    await this.#store.setPin(change.userId, change.presentedKey)
    conv.keyChanged = undefined
    this.#dismiss(`key:${change.userId}`)
    this.#el.safetyDialog.close()
    this.#renderHeader()
    this.#renderSidebar()
    announce(`You now trust the new key of ${change.userId}.`)
    conv.history = 'none'
    if (this.#currentConversation() === conv) {
      void this.#loadHistory(conv)
      this.#el.composerInput.focus()
    }
  }
}

function initial (name: string): string {
  return (name.codePointAt(0) === undefined ? '?' : String.fromCodePoint(name.codePointAt(0) as number)).toUpperCase()
}

/** A colour picked from the name, so each person keeps theirs. */
function hue (name: string): number {
  let n = 0
  for (const ch of name) n = (n * 31 + (ch.codePointAt(0) ?? 0)) % 360
  return n
}

function hueClass (name: string): string {
  return `hue-${Math.floor(hue(name) / 30)}`
}

function avatar (name: string, online: boolean): HTMLElement {
  return h('span', { class: `avatar ${hueClass(name)}`, 'aria-hidden': 'true' }, initial(name), online ? h('span', { class: 'dot' }) : null)
}

function numberBlock (number: string, label: string | undefined): HTMLElement {
  const groups = number.split(' ')
  return h('figure', { class: 'safety' },
    label === undefined ? null : h('figcaption', {}, label),
    h('p', { class: 'safety-number', 'aria-label': groups.join(', ') }, ...groups.map((g) => h('span', {}, g))))
}

