// Which pane the main area shows: nothing picked, a conversation, or the server commands. On a phone the main
// area replaces the list (body[data-pane]), and the back buttons return to it.
import { byId, listen, show } from '../dom.js'
import type { View } from '../model.js'

export class Panes {
  readonly #el = {
    viewEmpty: byId('view-empty', HTMLElement),
    viewConversation: byId('view-conversation', HTMLElement),
    viewCommands: byId('view-commands', HTMLElement),
    backButton: byId('back-button', HTMLButtonElement),
    backButton2: byId('back-button-2', HTMLButtonElement)
  }

  constructor (onBack: () => void, signal: AbortSignal) {
    const on = listen(signal)
    on(this.#el.backButton, 'click', onBack)
    on(this.#el.backButton2, 'click', onBack)
  }

  show (view: View): void {
    show(this.#el.viewEmpty, view.kind === 'empty')
    show(this.#el.viewConversation, view.kind === 'conversation')
    show(this.#el.viewCommands, view.kind === 'commands')
    document.body.dataset.pane = view.kind === 'empty' ? 'list' : 'main'
  }
}
