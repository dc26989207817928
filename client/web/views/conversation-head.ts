// The head of the open conversation: who, whether they are online, how far their key is trusted, the safety
// number, and a changed key's banner with the new number and "Accept the new key".
import { byId, h, listen, show } from '../dom.js'
import { EVERYONE, type Conversation } from '../model.js'
import { hueClass, initial } from './avatar.js'

export interface ConversationHeadActions {
  /** the safety number (or the key-change comparison) was asked for */
  onSafety: () => void
  /** the user accepts the changed key shown in the banner */
  onAccept: () => void
}

export class ConversationHead {
  readonly #el = {
    convAvatar: byId('conv-avatar', HTMLElement),
    convPeer: byId('conv-peer', HTMLElement),
    convTrust: byId('conv-trust', HTMLElement),
    convSub: byId('conv-sub', HTMLElement),
    safetyButton: byId('safety-button', HTMLButtonElement),
    keyAlert: byId('key-alert', HTMLElement),
    keyAlertTitle: byId('key-alert-title', HTMLElement),
    keyAlertText: byId('key-alert-text', HTMLElement),
    keyAlertNumber: byId('key-alert-number', HTMLElement),
    keyAlertAccept: byId('key-alert-accept', HTMLButtonElement),
    keyAlertCompare: byId('key-alert-compare', HTMLButtonElement)
  }

  constructor (actions: ConversationHeadActions, signal: AbortSignal) {
    const on = listen(signal)
    on(this.#el.safetyButton, 'click', actions.onSafety)
    on(this.#el.keyAlertCompare, 'click', actions.onSafety)
    on(this.#el.keyAlertAccept, 'click', actions.onAccept)
  }

  /** `changedNumber`: the safety number with the changed key, when the key changed. */
  render (conv: Conversation, online: boolean, changedNumber: string | undefined): void {
    const broadcast = conv.peer === EVERYONE
    const { convAvatar, convPeer, convTrust, convSub, safetyButton, keyAlert, keyAlertTitle, keyAlertText, keyAlertNumber } = this.#el
    convAvatar.textContent = broadcast ? '#' : initial(conv.peer)
    convAvatar.className = broadcast ? 'avatar channel' : `avatar ${hueClass(conv.peer)}`
    convPeer.textContent = broadcast ? 'Everyone' : conv.peer
    const trust = broadcast || conv.keyChanged !== undefined ? undefined : conv.trust
    show(convTrust, trust !== undefined)
    convTrust.textContent = trust ?? ''
    if (trust === undefined) delete convTrust.dataset.trust
    else convTrust.dataset.trust = trust
    convTrust.title = trust === 'verified' ? 'You compared safety numbers with them' : 'Pinned on first use: compare safety numbers to verify'
    convSub.replaceChildren(...(broadcast
      ? ['Broadcasts are signed but not encrypted: everyone online reads them.']
      : [online ? 'Online' : 'Offline: messages wait on the server', h('span', { class: 'wide-only' }, ' · end-to-end encrypted')]))
    show(safetyButton, !broadcast)
    show(keyAlert, conv.keyChanged !== undefined)
    if (conv.keyChanged !== undefined) {
      keyAlertTitle.textContent = `${conv.peer}'s key changed`
      keyAlertText.textContent = `The identity key of ${conv.peer} changed. This happens when they reinstall or use a new device, but it can also mean someone is intercepting. Nothing is sent to ${conv.peer} until you accept the new key: compare this safety number with them first.`
      const groups = (changedNumber ?? '').split(' ').filter((g) => g !== '')
      keyAlertNumber.setAttribute('aria-label', groups.join(', '))
      keyAlertNumber.replaceChildren(...groups.map((g) => h('span', {}, g)))
    }
  }
}
