// The top bar: who is signed in, the connection's state, export and log out.
import { byId, listen } from '../dom.js'

export type ConnectionState = 'connecting' | 'online' | 'reconnecting' | 'offline'

const TEXT: Record<ConnectionState, string> = { connecting: 'Connecting…', online: 'Connected', reconnecting: 'Reconnecting…', offline: 'Offline' }

export interface StatusBarActions {
  onExport: () => void
  onLogout: () => void
}

export class StatusBar {
  readonly #el = {
    meName: byId('me-name', HTMLElement),
    meId: byId('me-id', HTMLElement),
    conn: byId('conn', HTMLElement),
    exportButton: byId('export-button', HTMLButtonElement),
    logoutButton: byId('logout-button', HTMLButtonElement)
  }

  constructor (actions: StatusBarActions, signal: AbortSignal) {
    const on = listen(signal)
    on(this.#el.exportButton, 'click', () => { actions.onExport() })
    on(this.#el.logoutButton, 'click', () => { actions.onLogout() })
  }

  me (username: string, userId: string): void {
    this.#el.meName.textContent = username
    this.#el.meId.textContent = username === userId ? '' : `@${userId}`
  }

  connection (state: ConnectionState): void {
    this.#el.conn.dataset.state = state
    this.#el.conn.textContent = TEXT[state]
  }
}
