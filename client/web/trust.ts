// Changed keys, safety numbers and trust: what the web client shows and asks before it writes to a key it has
// not seen before, and what the user decides about it.
import { publicKeys, safetyNumber, type SealwireClient, type Trust } from '../index.js'
import { describeError } from './describe.js'
import { announce } from './dom.js'
import type { MessageFlow } from './messages.js'
import type { ChatModel, KeyChange } from './model.js'
import type { Composer } from './views/composer.js'
import type { Notices } from './views/notices.js'
import type { SafetyDialog } from './views/safety-dialog.js'

export interface TrustFlowOptions {
  client: SealwireClient
  model: ChatModel
  notices: Notices
  safety: SafetyDialog
  messages: MessageFlow
  composer: Composer
  /** the sidebar and the conversation head need drawing again */
  changed: () => void
  /** opens the conversation with a peer */
  open: (peer: string) => void
}

export class TrustFlow {
  readonly #o: TrustFlowOptions

  constructor (options: TrustFlowOptions) {
    this.#o = options
  }

  /** The safety number with the changed key of `peer`, if it changed. */
  changedNumber (peer: string): string | undefined {
    const change = this.#o.model.find(peer)?.keyChanged
    if (change === undefined) return undefined
    return change.presentedKey === undefined ? change.presentedNumber : safetyNumber(this.#me(), { userId: peer, publicKey: change.presentedKey })
  }

  #me (): { userId: string, publicKey: string } {
    return { userId: this.#o.model.me, publicKey: publicKeys(this.#o.client.identity).public_key }
  }

  /**
   * Reads how far the pinned key of `peer` is trusted into the model, and compares the number of the key the
   * server serves with the pinned one's: a changed key is flagged before anything is written (showing a number
   * pins nothing, so the SDK's own check runs only when something is sent or read).
   */
  async refresh (peer: string): Promise<void> {
    try {
      const [served, trust] = await Promise.all([this.#o.client.safetyNumber(peer), this.#o.client.trust(peer)])
      const conv = this.#o.model.conversation(peer)
      conv.trust = trust?.state
      if (trust !== undefined && served !== safetyNumber(this.#me(), { userId: peer, publicKey: trust.publicKey })) {
        this.keyChanged({ userId: peer, pinnedKey: trust.publicKey, presentedKey: undefined, presentedNumber: served })
      }
    } catch {
      // the server cannot be asked now: sending checks the key again
    }
    this.#o.changed()
  }

  keyChanged (err: KeyChange): void {
    const conv = this.#o.model.keyChanged(err)
    if (conv === undefined) return
    void this.#o.messages.touch(conv)
    // the open conversation shows its own warning
    if (this.#o.model.current !== conv) {
      const kind = `key:${err.userId}`
      this.#o.notices.show(kind, `Warning: the identity key of ${err.userId} changed. Compare safety numbers before you trust it.`, {
        tone: 'error',
        actions: [{ label: `Open ${err.userId}`, tone: 'danger', onClick: () => { this.#o.notices.dismiss(kind); this.#o.open(err.userId) } }]
      })
    }
    this.#o.changed()
  }

  async showSafety (peer: string): Promise<void> {
    this.#o.safety.open(peer)
    const conv = this.#o.model.conversation(peer)
    if (conv.keyChanged === undefined) {
      try {
        const [number, trust] = await Promise.all([this.#o.client.safetyNumber(peer), this.#o.client.trust(peer)])
        if (trust !== undefined && number !== safetyNumber(this.#me(), { userId: peer, publicKey: trust.publicKey })) {
          this.keyChanged({ userId: peer, pinnedKey: trust.publicKey, presentedKey: undefined, presentedNumber: number })
        } else {
          conv.trust = trust?.state
          this.#o.changed()
          if (this.#o.safety.shows(peer)) this.#o.safety.number(peer, number, trust?.state)
          return
        }
      } catch (err) {
        if (this.#o.safety.shows(peer)) this.#o.safety.error(describeError(err, { peer }).text)
        return
      }
    }
    const change = conv.keyChanged
    const after = this.changedNumber(peer)
    if (change === undefined || after === undefined || !this.#o.safety.shows(peer)) return
    this.#o.safety.changed(peer, after, safetyNumber(this.#me(), { userId: peer, publicKey: change.pinnedKey }))
  }

  /** The user accepts the changed key (the one shown when the SDK reported it): sending works again. */
  async acceptNewKey (peer: string): Promise<void> {
    const change = this.#o.model.find(peer)?.keyChanged
    if (change === undefined) return
    let accepted: Trust
    try {
      accepted = await this.#o.client.acceptKeyChange(peer, change.presentedKey)
    } catch (err) {
      const text = describeError(err, { peer }).text
      if (this.#o.safety.shows(peer)) this.#o.safety.error(text)
      else this.#o.notices.show(`key:${peer}`, text, { tone: 'error' })
      return
    }
    // accepted by number alone (no presented key known): the key pinned must be the one whose number was shown
    if (change.presentedKey === undefined && safetyNumber(this.#me(), { userId: peer, publicKey: accepted.publicKey }) !== change.presentedNumber) {
      this.#o.model.trust(peer)
      this.keyChanged({ userId: peer, pinnedKey: change.pinnedKey, presentedKey: accepted.publicKey })
      this.#o.safety.close()
      this.#o.notices.show(`key:${peer}`, `The key of ${peer} changed again while you looked: compare the new safety number.`, { tone: 'error' })
      return
    }
    this.#o.model.trust(peer)
    this.#o.notices.dismiss(`key:${peer}`)
    this.#o.safety.close()
    this.#o.changed()
    announce(`You accepted the new key of ${peer}.`)
    const conv = this.#o.model.current
    if (conv?.peer === peer) {
      void this.#o.messages.loadHistory(conv)
      this.#o.composer.focus()
    }
  }

  /** The user compared `number` with `peer`: their key is marked verified. */
  async markVerified (peer: string, number: string): Promise<void> {
    try {
      await this.#o.client.markVerified(peer, number)
    } catch (err) {
      if (this.#o.safety.shows(peer)) this.#o.safety.error(describeError(err, { peer }).text)
      return
    }
    this.#o.model.conversation(peer).trust = 'verified'
    if (this.#o.safety.shows(peer)) this.#o.safety.verified(peer)
    this.#o.changed()
    announce(`You marked the key of ${peer} as verified.`)
  }
}
