// The signed-in screen: the SDK client's events go into the model, and the views are drawn from it; what the
// user does in a view comes back here as a call to the client.
import { exportIdentity, type SealwireClient } from '../index.js'
import { Connector, disconnectText, type ExitReason } from './connection.js'
import { describeError, seconds } from './describe.js'
import { announce, coarsePointer, download, listen, sleep } from './dom.js'
import { MessageFlow } from './messages.js'
import { ChatModel, EVERYONE, type View } from './model.js'
import type { ConversationRecord, SavedIdentity, Storage } from './storage.js'
import { TrustFlow } from './trust.js'
import { CommandsPane } from './views/commands.js'
import { Composer } from './views/composer.js'
import { ConversationHead } from './views/conversation-head.js'
import { MessagePane } from './views/message-pane.js'
import { Notices } from './views/notices.js'
import { Panes } from './views/panes.js'
import { SafetyDialog } from './views/safety-dialog.js'
import { Sidebar } from './views/sidebar.js'
import { StatusBar, type ConnectionState } from './views/status-bar.js'

export type { ExitReason } from './connection.js'

export interface SessionOptions {
  client: SealwireClient
  storage: Storage
  saved: SavedIdentity
  /** the session ended: logged out (no reason) or the server will not let this identity in */
  onExit: (reason?: ExitReason) => void
}

export class ChatSession {
  readonly #client: SealwireClient
  readonly #storage: Storage
  readonly #saved: SavedIdentity
  readonly #onExit: SessionOptions['onExit']
  readonly #model: ChatModel
  readonly #connector: Connector
  readonly #abort = new AbortController()
  readonly #unsubscribe: Array<() => void> = []
  #closed = false

  readonly #statusBar: StatusBar
  readonly #notices = new Notices()
  readonly #sidebar: Sidebar
  readonly #panes: Panes
  readonly #head: ConversationHead
  readonly #pane: MessagePane
  readonly #composer: Composer
  readonly #commands: CommandsPane
  readonly #safety: SafetyDialog
  readonly #messages: MessageFlow
  readonly #trust: TrustFlow

  constructor (options: SessionOptions) {
    this.#client = options.client
    this.#storage = options.storage
    this.#saved = options.saved
    this.#onExit = options.onExit
    this.#model = new ChatModel(options.client.userId)
    this.#connector = new Connector(options.client)
    const signal = this.#abort.signal
    this.#statusBar = new StatusBar({ onExport: () => { this.#export() }, onLogout: () => { void this.#logout() } }, signal)
    this.#sidebar = new Sidebar({
      onNewPeer: (peer) => { void this.#startConversation(peer) },
      onOpen: (peer) => { this.#openConversation(peer) },
      onOnline: (peer) => { void this.#messages.touch(this.#model.conversation(peer)).then(() => { this.#openConversation(peer) }) },
      onCommands: () => { this.#openCommands() }
    }, signal)
    this.#panes = new Panes(() => { this.#back() }, signal)
    const openPeer = (): string | undefined => this.#model.view.kind === 'conversation' ? this.#model.view.peer : undefined
    this.#head = new ConversationHead({
      onSafety: () => { const peer = openPeer(); if (peer !== undefined) void this.#trust.showSafety(peer) },
      onAccept: () => { const peer = openPeer(); if (peer !== undefined) void this.#trust.acceptNewKey(peer) }
    }, signal)
    this.#pane = new MessagePane({
      me: this.#model.me,
      connected: () => this.#model.connected,
      onRetry: (entry) => { this.#messages.retry(entry) },
      onLoadOlder: () => {
        const conv = this.#model.current
        if (conv !== undefined) void this.#messages.loadHistory(conv, true)
      }
    }, signal)
    this.#composer = new Composer((text) => this.#messages.submit(text), signal)
    this.#commands = new CommandsPane({
      command: async (name, params) => await this.#client.command(name, params),
      onRateLimited: (ms) => { this.#rateLimited(ms) }
    }, signal)
    this.#safety = new SafetyDialog({
      onTrust: (peer) => { void this.#trust.acceptNewKey(peer) },
      onVerify: (peer, number) => { void this.#trust.markVerified(peer, number) }
    }, signal)
    this.#messages = new MessageFlow({
      client: this.#client,
      storage: this.#storage,
      model: this.#model,
      pane: this.#pane,
      composer: this.#composer,
      notices: this.#notices,
      changed: () => { this.#renderLists() },
      rateLimited: (ms) => { this.#rateLimited(ms) }
    })
    this.#trust = new TrustFlow({
      client: this.#client,
      model: this.#model,
      notices: this.#notices,
      safety: this.#safety,
      messages: this.#messages,
      composer: this.#composer,
      changed: () => { this.#renderLists() },
      open: (peer) => { this.#openConversation(peer) }
    })
  }

  /** Shows the screen and connects (retrying while the server cannot be reached). */
  async start (): Promise<void> {
    this.#wireClient()
    const on = listen(this.#abort.signal)
    on(window, 'online', () => { this.#connector.tryNow() })
    on(document, 'visibilitychange', () => {
      const conv = this.#model.current
      if (document.visibilityState === 'visible' && conv !== undefined && this.#model.markRead(conv)) this.#renderLists()
    })
    this.#statusBar.me(this.#saved.username, this.#model.me)
    const records = await this.#storage.list<ConversationRecord>('conversations', `${this.#model.me}\n`)
    for (const r of records) this.#model.conversation(r.peer).lastAt = r.last_at
    this.#notices.clear()
    this.#show({ kind: 'empty' })
    this.#renderLists()
    // the screen changed under the keyboard's focus
    this.#sidebar.focusStart(coarsePointer())
    await this.#connector.run({
      connecting: () => { this.#setConnection('connecting') },
      waiting: (text, tryNow) => {
        this.#setConnection('offline')
        this.#notices.show('connection', text, { tone: 'error', actions: [{ label: 'Try now', onClick: tryNow }], dismissible: false })
      },
      refused: (reason) => {
        this.close()
        this.#onExit(reason)
      }
    })
  }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#connector.close()
    this.#abort.abort()
    for (const off of this.#unsubscribe) off()
    this.#client.close()
    this.#safety.close()
    this.#notices.close()
    this.#pane.clear()
    this.#commands.clear()
    this.#composer.clear()
    document.title = 'Sealwire'
  }

  #wireClient (): void {
    const c = this.#client
    const model = this.#model
    this.#unsubscribe.push(
      c.on('connected', ({ reconnected }) => {
        this.#setConnection('online')
        this.#notices.dismiss('connection')
        if (reconnected) announce('Reconnected to the server.')
        void this.#refreshPresence()
        // a conversation whose history could not be loaded gets another try
        const conv = model.current
        if (conv?.history === 'failed') void this.#messages.loadHistory(conv)
      }),
      c.on('disconnected', (event) => {
        this.#setConnection(event.willReconnect ? 'reconnecting' : 'offline')
        model.setOnline([])
        this.#renderLists()
        this.#notices.show('connection', disconnectText(event), { tone: 'warn', dismissible: false })
      }),
      c.on('message', async (m) => { await this.#messages.direct(m) }),
      c.on('broadcast', (b) => { this.#messages.broadcast(b) }),
      c.on('presence', ({ userId, status }) => {
        model.presence(userId, status)
        this.#renderLists()
      }),
      c.on('receipt', ({ id, status }) => { this.#messages.receipt(id, status) }),
      c.on('rejected', (r) => { this.#messages.rejected(r) }),
      c.on('rejected-receipt', (err) => { this.#messages.refused(err) }),
      c.on('key-changed', (err) => { this.#trust.keyChanged(err) }),
      c.on('error', (err) => {
        const d = describeError(err)
        if (d.code === 'rate_limited') this.#rateLimited(d.retryAfterMs)
        else this.#notices.show('error', `The server reported a problem: ${d.text}`, { tone: 'error' })
      })
    )
  }

  #setConnection (state: ConnectionState): void {
    this.#model.connected = state === 'online'
    this.#statusBar.connection(state)
    this.#pane.refreshSending()
  }

  /** The sidebar, and the open conversation's head (presence and changed keys show in both). */
  #renderLists (): void {
    if (this.#closed) return
    this.#sidebar.render(this.#model)
    const conv = this.#model.current
    if (conv !== undefined) this.#head.render(conv, this.#model.isOnline(conv.peer), this.#trust.changedNumber(conv.peer))
  }

  async #refreshPresence (): Promise<void> {
    try {
      this.#model.setOnline(await this.#client.activeUsers())
      this.#renderLists()
    } catch {
      // presence frames keep the list right from here on; a failed first fetch only leaves it short
    }
  }

  #export (): void {
    const name = `sealwire-${this.#model.me}.json`
    download(name, `${JSON.stringify(exportIdentity(this.#client.identity), null, 2)}\n`)
    this.#notices.show('export', `Saved ${name}. It holds your secret keys: anyone with it can read your messages and write as you. Keep it private.`, { tone: 'info', timeoutMs: 15_000 })
  }

  async #logout (): Promise<void> {
    // revokes the session token on the server; a server that cannot be reached gets 3 s, then the page logs out anyway
    await Promise.race([this.#client.logout().catch(() => {}), sleep(3000)])
    this.close()
    await this.#storage.delete('settings', 'session')
    this.#onExit()
  }

  #rateLimited (retryAfterMs: number | undefined): void {
    const wait = retryAfterMs ?? 1000
    this.#notices.show('rate', `You are sending too fast: the server refuses messages for ${seconds(wait)}.`, { tone: 'warn', timeoutMs: wait + 1500 })
  }

  // ---- panes -----------------------------------------------------------------------------------------

  #show (view: View): void {
    this.#model.view = view
    this.#panes.show(view)
  }

  async #startConversation (peer: string): Promise<void> {
    const error = await this.#checkPeer(peer)
    if (error !== undefined) {
      this.#sidebar.newPeerError(error, peer === '')
      return
    }
    this.#sidebar.clearNewPeer()
    await this.#messages.touch(this.#model.conversation(peer))
    this.#openConversation(peer)
  }

  /** Why no conversation with `peer` can be opened, if so. */
  async #checkPeer (peer: string): Promise<string | undefined> {
    if (peer === '') return 'Type the user id of the person to write to.'
    if (peer === this.#model.me) return 'That is you. Type someone else\'s user id.'
    if (this.#model.find(peer) !== undefined) return undefined
    // the user list is public: check that the id exists before opening an empty conversation
    try {
      const res = await fetch(`auth/check-userid/${encodeURIComponent(peer)}`)
      const body = await res.json() as { available?: boolean, message?: string }
      if (!res.ok) return res.status === 400 ? 'That is not a valid user id.' : body.message ?? `The server answered ${res.status}.`
      return body.available === true ? `There is no user ${peer} on this server.` : undefined
    } catch {
      return 'Cannot reach the server to look that user up.'
    }
  }

  #openConversation (peer: string): void {
    const conv = this.#model.conversation(peer)
    this.#model.markRead(conv)
    this.#show({ kind: 'conversation', peer })
    this.#pane.renderAll(conv, this.#model.entries(conv))
    this.#renderLists()
    this.#composer.target(peer)
    if (conv.history === 'none' || conv.history === 'failed') void this.#messages.loadHistory(conv)
    // fetching the peer's key checks it against the pin: a changed key is flagged before anything is written
    if (peer !== EVERYONE) void this.#trust.refresh(peer)
    // on touch screens focusing would pop the keyboard up over the conversation
    if (!coarsePointer()) this.#composer.focus()
  }

  #openCommands (): void {
    this.#show({ kind: 'commands' })
    this.#renderLists()
    this.#commands.open()
  }

  #back (): void {
    const left = this.#model.view
    this.#show({ kind: 'empty' })
    this.#renderLists()
    this.#sidebar.focusItem(left)
  }
}
