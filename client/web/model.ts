// What the chat screen knows, free of the DOM: conversations and their messages, unread counts, delivery states,
// changed keys, trust states and who is online. The controller feeds it the SDK's events; the views draw from it.
import type { BroadcastMessage, DirectMessage, HistoryEntry, KeyChangedError, TrustState } from '../index.js'
import type { ConversationRecord } from './storage.js'

/** `*` is the broadcast channel. */
export const EVERYONE = '*'

/** `rejected`: the recipient refused it with a signed reason (`failure` says why); it was never delivered */
export type EntryState = 'sending' | 'accepted' | 'delivered' | 'rejected' | 'failed' | 'received'

export interface Entry {
  kind: 'message' | 'notice'
  /** the message id once known, else a local key */
  key: string
  id: string | undefined
  from: string
  text: string | undefined
  /** why a stored message cannot be shown */
  error: string | undefined
  at: number
  state: EntryState
  failure: string | undefined
  retryAt: number | undefined
}

/**
 * What a changed key warning needs: the SDK's KeyChangedError carries it. Found by comparing safety numbers
 * instead (the SDK pins nothing while it shows one), the presented key is not known: `presentedNumber` is.
 */
export type KeyChange = Pick<KeyChangedError, 'userId' | 'pinnedKey'> & { presentedKey: string | undefined, presentedNumber?: string }

export interface Conversation {
  peer: string
  entries: Map<string, Entry>
  unread: number
  history: 'none' | 'loading' | 'loaded' | 'failed'
  historyError: string | undefined
  nextBefore: number | null
  keyChanged: KeyChange | undefined
  /** how far the pinned key is trusted; undefined until known (or nothing is pinned) */
  trust: TrustState | undefined
  lastAt: number
}

export type View = { kind: 'empty' } | { kind: 'conversation', peer: string } | { kind: 'commands' }

export type Incoming = Pick<DirectMessage | BroadcastMessage, 'id' | 'from' | 'text' | 'timestamp'>
export type Stored = Pick<HistoryEntry, 'id' | 'from' | 'text' | 'error' | 'timestamp' | 'status'>

// a refusal is final, as a delivery is: neither moves the other
const RANK: Record<EntryState, number> = { failed: 0, sending: 1, accepted: 2, delivered: 3, rejected: 3, received: 3 }

const parseTime = (iso: string, now: number): number => Date.parse(iso) || now

export class ChatModel {
  readonly me: string
  readonly #conversations = new Map<string, Conversation>()
  /** messages this user sent, by id: receipts update them */
  readonly #mine = new Map<string, Entry>()
  readonly #online = new Set<string>()
  #local = 0
  connected = false
  view: View = { kind: 'empty' }

  constructor (me: string) {
    this.me = me
  }

  // ---- conversations ---------------------------------------------------------------------------------

  /** The conversation with `peer`, created empty the first time. */
  conversation (peer: string): Conversation {
    let conv = this.#conversations.get(peer)
    if (conv === undefined) {
      conv = { peer, entries: new Map(), unread: 0, history: peer === EVERYONE ? 'loaded' : 'none', historyError: undefined, nextBefore: null, keyChanged: undefined, trust: undefined, lastAt: 0 }
      this.#conversations.set(peer, conv)
    }
    return conv
  }

  find (peer: string): Conversation | undefined {
    return this.#conversations.get(peer)
  }

  /** The open conversation, if the conversation pane is shown. */
  get current (): Conversation | undefined {
    return this.view.kind === 'conversation' ? this.#conversations.get(this.view.peer) : undefined
  }

  /** Direct conversations, the latest first. */
  list (): Conversation[] {
    return [...this.#conversations.values()].filter((c) => c.peer !== EVERYONE).sort((a, b) => b.lastAt - a.lastAt || a.peer.localeCompare(b.peer))
  }

  unreadTotal (): number {
    return [...this.#conversations.values()].reduce((n, c) => n + c.unread, 0)
  }

  /** Something new arrived in `conv`: unread unless the reader is looking at it. Returns whether it counted. */
  arrived (conv: Conversation, visible: boolean): boolean {
    if (this.current === conv && visible) return false
    conv.unread++
    return true
  }

  markRead (conv: Conversation): boolean {
    const had = conv.unread > 0
    conv.unread = 0
    return had
  }

  /** Moves the conversation's last activity forward; the record to store, none for the broadcast channel. */
  touch (conv: Conversation, at: number): ConversationRecord | undefined {
    if (conv.peer === EVERYONE) return undefined
    conv.lastAt = Math.max(conv.lastAt, at)
    return { peer: conv.peer, last_at: conv.lastAt }
  }

  // ---- presence ------------------------------------------------------------------------------------

  isOnline (userId: string): boolean {
    return this.#online.has(userId)
  }

  /** Everyone else online, sorted. */
  others (): string[] {
    return [...this.#online].filter((u) => u !== this.me).sort()
  }

  presence (userId: string, status: 'online' | 'offline'): void {
    if (status === 'online') this.#online.add(userId)
    else this.#online.delete(userId)
  }

  setOnline (users: readonly string[]): void {
    this.#online.clear()
    for (const u of users) this.#online.add(u)
  }

  // ---- entries -------------------------------------------------------------------------------------

  newEntry (fields: Partial<Entry> & Pick<Entry, 'from' | 'at' | 'state'>): Entry {
    return { kind: 'message', key: `local:${++this.#local}`, id: undefined, text: undefined, error: undefined, failure: undefined, retryAt: undefined, ...fields }
  }

  add (conv: Conversation, entry: Entry): Entry {
    conv.entries.set(entry.key, entry)
    return entry
  }

  /** A direct message; undefined when it is already there. */
  receiveDirect (m: Incoming, now = Date.now()): Entry | undefined {
    const conv = this.conversation(m.from)
    if (conv.entries.has(m.id)) return undefined
    return this.add(conv, this.newEntry({ key: m.id, id: m.id, from: m.from, text: m.text, at: parseTime(m.timestamp, now), state: 'received' }))
  }

  /** A broadcast (this user's own come back as sent); undefined when it is already there. */
  receiveBroadcast (b: Incoming, now = Date.now()): Entry | undefined {
    const conv = this.conversation(EVERYONE)
    if (conv.entries.has(b.id)) return undefined
    return this.add(conv, this.newEntry({ key: b.id, id: b.id, from: b.from, text: b.text, at: parseTime(b.timestamp, now), state: b.from === this.me ? 'accepted' : 'received' }))
  }

  /** A line from the server in an existing conversation with `from`, if there is one. */
  notice (from: string | undefined, text: string, now = Date.now()): Entry | undefined {
    const conv = from === undefined ? undefined : this.#conversations.get(from)
    return conv === undefined ? undefined : this.add(conv, this.newEntry({ kind: 'notice', from: 'server', text, at: now, state: 'received' }))
  }

  /** Moves a sent message forward (never back): sending → accepted → delivered. Returns whether it moved. */
  advance (entry: Entry, state: 'accepted' | 'delivered'): boolean {
    if (RANK[entry.state] >= RANK[state] && entry.state !== 'failed') return false
    entry.state = state
    entry.failure = undefined
    return true
  }

  /**
   * The recipient refused a sent message (its signed refusal verified): the entry, when it was shown and not
   * refused already. A delivered message is not refused afterwards: the SDK never reports both.
   */
  refused (id: string, reason: string): Entry | undefined {
    const entry = this.#mine.get(id)
    if (entry === undefined || entry.state === 'rejected' || entry.state === 'delivered') return undefined
    entry.state = 'rejected'
    entry.failure = reason
    entry.retryAt = undefined
    return entry
  }

  /** A receipt from the server; the entry when its state moved. */
  receipt (id: string, status: string): Entry | undefined {
    const entry = this.#mine.get(id)
    if (entry === undefined || (status !== 'delivered' && status !== 'accepted' && status !== 'duplicate')) return undefined
    return this.advance(entry, status === 'delivered' ? 'delivered' : 'accepted') ? entry : undefined
  }

  /**
   * The server accepted a message under `id`: the entry takes it. The history may have brought the stored copy
   * first: that twin is dropped (and returned, for its element to go) and its delivery kept.
   */
  accepted (conv: Conversation, entry: Entry, id: string): Entry | undefined {
    conv.entries.delete(entry.key)
    const found = conv.entries.get(id)
    const twin = found !== undefined && found !== entry ? found : undefined
    if (twin?.state === 'delivered') entry.state = 'delivered'
    entry.key = id
    entry.id = id
    conv.entries.set(id, entry)
    if (conv.peer !== EVERYONE) this.#mine.set(id, entry)
    this.advance(entry, 'accepted')
    return twin
  }

  fail (entry: Entry, failure: string, retryAt: number | undefined): void {
    entry.state = 'failed'
    entry.failure = failure
    entry.retryAt = retryAt
  }

  /** Takes an entry out of its conversation (to send it again); its conversation, if found. */
  remove (entry: Entry): Conversation | undefined {
    const conv = [...this.#conversations.values()].find((c) => c.entries.get(entry.key) === entry)
    conv?.entries.delete(entry.key)
    return conv
  }

  /** Messages still on their way out, in every conversation. */
  sending (): Entry[] {
    return [...this.#conversations.values()].flatMap((c) => [...c.entries.values()].filter((e) => e.state === 'sending'))
  }

  /** In time order. */
  entries (conv: Conversation): Entry[] {
    return [...conv.entries.values()].sort((a, b) => a.at - b.at)
  }

  // ---- history -------------------------------------------------------------------------------------

  /** A page of stored messages, merged with what is already shown; returns the sent messages whose state moved. */
  historyPage (conv: Conversation, page: { messages: readonly Stored[], nextBefore: number | null }, older: boolean, now = Date.now()): Entry[] {
    const moved = page.messages.map((m) => this.#merge(conv, m, now)).filter((e) => e !== undefined)
    if (!older || page.nextBefore === null || conv.nextBefore === null || page.nextBefore < conv.nextBefore) conv.nextBefore = page.nextBefore
    conv.history = 'loaded'
    conv.historyError = undefined
    return moved
  }

  historyFailed (conv: Conversation, error: string): void {
    conv.history = 'failed'
    conv.historyError = error
  }

  /** Adds a stored message, or moves on the state of the one shown (returned if it moved). */
  #merge (conv: Conversation, m: Stored, now: number): Entry | undefined {
    const mine = m.from === this.me
    const state = m.status === 'delivered' ? 'delivered' : 'accepted'
    const existing = conv.entries.get(m.id)
    if (existing !== undefined) return mine && this.advance(existing, state) ? existing : undefined
    const entry = this.add(conv, this.newEntry({ key: m.id, id: m.id, from: m.from, text: m.text, error: m.error, at: parseTime(m.timestamp, now), state: mine ? state : 'received' }))
    if (mine) this.#mine.set(m.id, entry)
    return undefined
  }

  // ---- changed keys --------------------------------------------------------------------------------

  /** A peer's key changed; the conversation, or undefined when this change is already known. */
  keyChanged (change: KeyChange): Conversation | undefined {
    const conv = this.conversation(change.userId)
    const known = conv.keyChanged
    if (known !== undefined && (change.presentedKey === undefined || known.presentedKey === change.presentedKey)) return undefined
    conv.keyChanged = change
    return conv
  }

  /** The user trusts the new key of `peer`: the warning goes and the history is loaded again. */
  trust (peer: string): KeyChange | undefined {
    const conv = this.#conversations.get(peer)
    const change = conv?.keyChanged
    if (conv === undefined || change === undefined) return undefined
    conv.keyChanged = undefined
    conv.trust = 'unverified'
    conv.history = 'none'
    return change
  }
}
