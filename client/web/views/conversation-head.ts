// The head of the open conversation: who, whether they are online, the safety number, a changed key's warning.
import { byId, h, listen, show } from '../dom.js'
import { EVERYONE, type Conversation } from '../model.js'
import { hueClass, initial } from './avatar.js'

export class ConversationHead {
  readonly #el = {
    convAvatar: byId('conv-avatar', HTMLElement),
    convPeer: byId('conv-peer', HTMLElement),
    convSub: byId('conv-sub', HTMLElement),
    safetyButton: byId('safety-button', HTMLButtonElement),
    keyAlert: byId('key-alert', HTMLElement),
    keyAlertText: byId('key-alert-text', HTMLElement),
    keyAlertCompare: byId('key-alert-compare', HTMLButtonElement)
  }

  /** `onSafety`: the safety number (or the key-change comparison) was asked for */
  constructor (onSafety: () => void, signal: AbortSignal) {
    const on = listen(signal)
    on(this.#el.safetyButton, 'click', onSafety)
    on(this.#el.keyAlertCompare, 'click', onSafety)
  }

  render (conv: Conversation, online: boolean): void {
    const broadcast = conv.peer === EVERYONE
    const { convAvatar, convPeer, convSub, safetyButton, keyAlert, keyAlertText } = this.#el
    convAvatar.textContent = broadcast ? '#' : initial(conv.peer)
    convAvatar.className = broadcast ? 'avatar channel' : `avatar ${hueClass(conv.peer)}`
    convPeer.textContent = broadcast ? 'Everyone' : conv.peer
    convSub.replaceChildren(...(broadcast
      ? ['Broadcasts are signed but not encrypted: everyone online reads them.']
      : [online ? 'Online' : 'Offline: messages wait on the server', h('span', { class: 'wide-only' }, ' · end-to-end encrypted')]))
    show(safetyButton, !broadcast)
    show(keyAlert, conv.keyChanged !== undefined)
    if (conv.keyChanged !== undefined) {
      keyAlertText.textContent = `The identity key of ${conv.peer} changed. This happens when they reinstall or use a new device, but it can also mean someone is intercepting. Messages to and from ${conv.peer} are blocked until you compare safety numbers with them.`
    }
  }
}
