// Messages in and out: what arrives goes into the model and, for the open conversation, onto the screen; what the
// user writes is sent, its delivery followed, and a failure offered for another try. History is loaded by page.
import { KeyChangedError, RejectedError, type BroadcastMessage, type DirectMessage, type RejectedMessage, type SealwireClient } from '../index.js'
import { describeError, describeRejection, seconds } from './describe.js'
import { announce } from './dom.js'
import { EVERYONE, type ChatModel, type Conversation, type Entry } from './model.js'
import type { Storage } from './storage.js'
import type { Composer } from './views/composer.js'
import type { MessagePane } from './views/message-pane.js'
import type { Notices } from './views/notices.js'

const HISTORY_PAGE = 50

export interface MessageFlowOptions {
  client: SealwireClient
  storage: Storage
  model: ChatModel
  pane: MessagePane
  composer: Composer
  notices: Notices
  /** the lists (unread counts, last activity) changed */
  changed: () => void
  rateLimited: (retryAfterMs: number | undefined) => void
}

export class MessageFlow {
  readonly #o: MessageFlowOptions

  constructor (options: MessageFlowOptions) {
    this.#o = options
  }

  /** Moves the conversation's last activity forward, in storage too: it is listed after a reload. */
  async touch (conv: Conversation): Promise<void> {
    const record = this.#o.model.touch(conv, Date.now())
    if (record !== undefined) await this.#o.storage.put('conversations', `${this.#o.model.me}\n${conv.peer}`, record)
  }

  async direct (m: DirectMessage): Promise<void> {
    const entry = this.#o.model.receiveDirect(m)
    const conv = this.#o.model.conversation(m.from)
    if (entry !== undefined) this.#added(conv, entry)
    // written before the SDK acknowledges the message, so the conversation is listed after a reload
    await this.touch(conv)
    this.#arrived(conv, `New message from ${m.from}.`)
  }

  broadcast (b: BroadcastMessage): void {
    const entry = this.#o.model.receiveBroadcast(b)
    if (entry === undefined) return
    const conv = this.#o.model.conversation(EVERYONE)
    this.#added(conv, entry)
    if (b.from !== this.#o.model.me) this.#arrived(conv, `New broadcast from ${b.from}.`)
  }

  receipt (id: string, status: string): void {
    const entry = this.#o.model.receipt(id, status)
    if (entry !== undefined) this.#updated(entry)
  }

  rejected (r: RejectedMessage): void {
    // a changed key has its own warning
    if (r.reason === 'key_changed') return
    const text = `A message${r.from === undefined ? '' : ` from ${r.from}`} was refused and not shown: ${describeRejection(r.reason)}.`
    const entry = this.#o.model.notice(r.from, text)
    if (entry !== undefined && r.from !== undefined) this.#added(this.#o.model.conversation(r.from), entry)
    this.#o.notices.show(`rejected:${r.from ?? ''}`, text, { tone: 'warn' })
  }

  /** The recipient refused a message this user sent: shown on it instead of "delivered". */
  refused (err: RejectedError): void {
    const text = describeError(err).text.replace(/\.$/, '')
    const entry = this.#o.model.refused(err.messageId, text)
    if (entry === undefined) return
    this.#o.pane.update(entry)
    announce(`${text}.`)
  }

  async loadHistory (conv: Conversation, older = false): Promise<void> {
    const { model, pane } = this.#o
    if (conv.peer === EVERYONE || conv.history === 'loading') return
    conv.history = 'loading'
    pane.renderHistoryState(conv)
    try {
      const before = older && conv.nextBefore !== null ? conv.nextBefore : undefined
      const page = await this.#o.client.history(conv.peer, { limit: HISTORY_PAGE, before })
      for (const entry of model.historyPage(conv, page, older)) this.#updated(entry)
    } catch (err) {
      model.historyFailed(conv, describeError(err, { peer: conv.peer }).text)
    }
    if (model.current === conv) pane.renderHistory(conv, model.entries(conv), older)
  }

  /** The composer's text for the open conversation: sent, or why not. */
  submit (text: string): string | undefined {
    const conv = this.#o.model.current
    if (conv === undefined) return undefined
    if (conv.keyChanged !== undefined) return blocked(conv)
    void this.#send(conv, text)
    return undefined
  }

  retry (entry: Entry): void {
    const conv = this.#o.model.remove(entry)
    if (conv === undefined || entry.text === undefined) return
    this.#o.pane.remove(entry)
    if (conv.keyChanged !== undefined) {
      this.#o.composer.error(blocked(conv))
      return
    }
    void this.#send(conv, entry.text)
    this.#o.composer.focus()
  }

  async #send (conv: Conversation, text: string): Promise<void> {
    const { client, model, pane } = this.#o
    const entry = model.add(conv, model.newEntry({ from: model.me, text, at: Date.now(), state: 'sending' }))
    this.#added(conv, entry)
    void this.touch(conv)
    this.#o.changed()
    try {
      const sent = conv.peer === EVERYONE ? { id: (await client.broadcast(text)).id, delivered: undefined } : await client.sendDirect(conv.peer, text)
      const twin = model.accepted(conv, entry, sent.id)
      if (twin !== undefined) pane.remove(twin)
      this.#updated(entry)
      sent.delivered?.then(() => { if (model.advance(entry, 'delivered')) this.#updated(entry) }, (err: unknown) => {
        if (err instanceof RejectedError) this.refused(err)
      })
    } catch (err) {
      const d = describeError(err, { peer: conv.peer })
      const failure = d.code === 'rate_limited' ? `too many messages, wait ${seconds(d.retryAfterMs ?? 1000)}` : d.text.replace(/\.$/, '')
      model.fail(entry, failure, d.retryAfterMs === undefined ? undefined : Date.now() + d.retryAfterMs)
      pane.update(entry)
      if (d.code === 'rate_limited') this.#o.rateLimited(d.retryAfterMs)
      else if (!(err instanceof KeyChangedError)) announce(`Message not sent: ${d.text}`)
    }
  }

  /** A new entry in `conv`: drawn if it is the open conversation. */
  #added (conv: Conversation, entry: Entry): void {
    if (this.#o.model.current === conv) this.#o.pane.add(conv, entry)
  }

  #updated (entry: Entry): void {
    if (this.#o.pane.update(entry) && entry.state === 'delivered') announce('Delivered.')
  }

  #arrived (conv: Conversation, text: string): void {
    if (this.#o.model.arrived(conv, document.visibilityState === 'visible')) announce(text)
    this.#o.changed()
  }
}

function blocked (conv: Conversation): string {
  return `Not sent: ${conv.peer}'s key changed. Compare safety numbers with ${conv.peer} first, then accept the new key.`
}
