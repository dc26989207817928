// The Sealwire web page: identities (create, import, export), registration and login, then the chat screen.
// Bundled with the SDK by esbuild (client/bundle.ts) and served by routes/web.ts; it talks to its own origin only.
import { exportIdentity, generateIdentity, importIdentity, SealwireClient, SealwireError, type Identity } from '../index.js'
import { ChatSession, type ExitReason } from './controller.js'
import { describeError } from './describe.js'
import { byId, download, fieldError, h, show } from './dom.js'
import { BrowserClientStore, OWNED_STORES, Storage, type SavedIdentity } from './storage.js'

// The SDK names messages with crypto.randomUUID, which browsers only offer in secure contexts (HTTPS, localhost).
if (typeof crypto.randomUUID !== 'function') {
  Object.defineProperty(crypto, 'randomUUID', {
    configurable: true,
    value: (): string => {
      const b = crypto.getRandomValues(new Uint8Array(16))
      b[6] = ((b[6] as number) & 0x0f) | 0x40
      b[8] = ((b[8] as number) & 0x3f) | 0x80
      const x = [...b].map((n) => n.toString(16).padStart(2, '0')).join('')
      return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`
    }
  })
}

/** The server is the page's own origin (and path prefix, when Sealwire is mounted under one). */
const serverUrl = new URL('.', location.href).href.replace(/\/+$/, '')

const el = {
  welcome: byId('welcome', HTMLElement),
  chat: byId('chat', HTMLElement),
  status: byId('welcome-status', HTMLElement),
  statusText: byId('welcome-status-text', HTMLElement),
  statusActions: byId('welcome-status-actions', HTMLElement),
  storageWarning: byId('storage-warning', HTMLElement),
  insecureWarning: byId('insecure-warning', HTMLElement),
  savedSection: byId('saved-section', HTMLElement),
  identityList: byId('identity-list', HTMLUListElement),
  createForm: byId('create-form', HTMLFormElement),
  createUserId: byId('create-user-id', HTMLInputElement),
  createUsername: byId('create-username', HTMLInputElement),
  createError: byId('create-error', HTMLElement),
  createButton: byId('create-button', HTMLButtonElement),
  importFile: byId('import-file', HTMLInputElement),
  importButton: byId('import-button', HTMLButtonElement),
  importError: byId('import-error', HTMLElement),
  serverOrigin: byId('server-origin', HTMLElement)
}

const storage = await Storage.open()
let session: ChatSession | undefined
let busy = false

function makeClient (identity: Identity): SealwireClient {
  const client = new SealwireClient({ serverUrl, identity, store: new BrowserClientStore(storage, identity.userId), reconnectDelayMs: { min: 500, max: 10_000 } })
  // attached before register(): a client that can save its identity registers with key epochs and rotates its
  // key; the new secret key is in IndexedDB before the server is told of it, so a reload never loses it
  client.on('identity-changed', async (changed) => {
    const saved = await storage.get<SavedIdentity>('identities', changed.userId)
    if (saved === undefined) throw new SealwireError('identity_not_saved', `${changed.userId} is no longer on this device`)
    await storage.put('identities', changed.userId, { ...saved, file: exportIdentity(changed) })
  })
  return client
}

// ---- screens ------------------------------------------------------------------------------------------

function showScreen (screen: 'welcome' | 'chat'): void {
  document.body.dataset.screen = screen
  document.getElementById('skip-link')?.setAttribute('href', screen === 'chat' ? '#content' : '#welcome')
  show(el.welcome, screen === 'welcome')
  show(el.chat, screen === 'chat')
}

function status (text: string | undefined, actions: Array<{ label: string, onClick: () => void, primary?: boolean }> = []): void {
  el.statusText.textContent = text ?? ''
  el.statusActions.replaceChildren(...actions.map((a) => h('button', { type: 'button', class: a.primary === true ? 'primary small' : 'secondary small', onclick: a.onClick }, a.label)))
  show(el.status, text !== undefined)
}

/** Runs one identity operation at a time, with its button showing what happens. */
async function withBusy (button: HTMLButtonElement | undefined, label: string, work: () => Promise<void>): Promise<void> {
  if (busy) return
  busy = true
  const before = button?.textContent
  if (button !== undefined) {
    button.textContent = label
    button.setAttribute('aria-disabled', 'true')
  }
  try {
    await work()
  } finally {
    busy = false
    if (button !== undefined) {
      button.textContent = before ?? ''
      button.removeAttribute('aria-disabled')
    }
  }
}

async function savedIdentities (): Promise<SavedIdentity[]> {
  return (await storage.list<SavedIdentity>('identities')).sort((a, b) => a.user_id.localeCompare(b.user_id))
}

async function renderIdentities (): Promise<void> {
  const saved = await savedIdentities()
  show(el.savedSection, saved.length > 0)
  el.identityList.replaceChildren(...saved.map(identityItem))
}

function identityItem (saved: SavedIdentity): HTMLLIElement {
  const login = h('button', { type: 'button', class: 'primary small', 'data-action': 'login' }, 'Log in')
  login.addEventListener('click', () => { void logIn(saved, login) })
  const register = h('button', { type: 'button', class: 'secondary small', 'data-action': 'register' }, 'Register')
  register.addEventListener('click', () => { void registerSaved(saved, register) })
  const actions = h('div', { class: 'actions' },
    login,
    saved.registered === true ? null : register,
    h('button', { type: 'button', class: 'ghost small', 'data-action': 'export', title: `Download the identity of ${saved.user_id} (its secret keys) as a file`, onclick: () => { exportSaved(saved) } }, 'Export file'),
    h('button', { type: 'button', class: 'ghost small danger-text', 'data-action': 'remove', onclick: () => { confirmRemove(saved, actions) } }, 'Remove'))
  const note = saved.registered === true ? 'registered here' : saved.registered === false ? 'not registered yet' : 'imported'
  return h('li', { class: 'identity', 'data-user': saved.user_id },
    h('span', { class: 'avatar big', 'aria-hidden': 'true' }, saved.user_id.slice(0, 1).toUpperCase()),
    h('div', { class: 'identity-text' },
      h('strong', {}, saved.username),
      h('span', { class: 'muted' }, `${saved.username === saved.user_id ? '' : ` @${saved.user_id}`} · ${note}`)),
    actions)
}

function confirmRemove (saved: SavedIdentity, actions: HTMLElement): void {
  const cancel = h('button', { type: 'button', class: 'secondary small' }, 'Cancel')
  const remove = h('button', { type: 'button', class: 'danger small' }, 'Remove for good')
  const question = h('div', { class: 'confirm', role: 'group', 'aria-label': `Remove ${saved.user_id}` },
    h('p', {}, `Remove ${saved.user_id} from this browser? Without an exported copy these keys are gone for good, and so is the account.`),
    h('div', { class: 'actions' }, remove, cancel))
  cancel.addEventListener('click', () => {
    question.replaceWith(actions)
    actions.querySelector<HTMLButtonElement>('[data-action="remove"]')?.focus()
  })
  remove.addEventListener('click', () => {
    void (async () => {
      await storage.delete('identities', saved.user_id)
      for (const store of OWNED_STORES) await storage.deletePrefix(store, `${saved.user_id}\n`)
      status(`Removed ${saved.user_id} from this browser.`)
      await renderIdentities()
      el.createUserId.focus()
    })()
  })
  actions.replaceWith(question)
  cancel.focus()
}

function exportSaved (saved: SavedIdentity): void {
  const name = `sealwire-${saved.user_id}.json`
  download(name, `${JSON.stringify(saved.file, null, 2)}\n`)
  status(`Saved ${name}. It holds the secret keys of ${saved.user_id}: anyone with it can read their messages and write as them. Keep it private.`)
}

// ---- register, log in ----------------------------------------------------------------------------------

async function logIn (saved: SavedIdentity, button?: HTMLButtonElement): Promise<void> {
  await withBusy(button, 'Logging in…', async () => {
    status(undefined)
    // an identity not known to be registered is looked up first: the public check answers without a 404
    if (saved.registered !== true && await isRegistered(saved.user_id) === false) {
      loginFailed(saved, new SealwireError('unknown_user', 'unknown user'))
      return
    }
    const client = makeClient(importIdentity(saved.file))
    try {
      await client.login()
    } catch (err) {
      client.close()
      loginFailed(saved, err)
      return
    }
    if (saved.registered !== true) await storage.put('identities', saved.user_id, { ...saved, registered: true })
    await enterChat(client, { ...saved, registered: true })
  })
}

/** Whether the server has this user id; undefined when it cannot tell. */
async function isRegistered (userId: string): Promise<boolean | undefined> {
  try {
    const res = await fetch(`${serverUrl}/auth/check-userid/${encodeURIComponent(userId)}`)
    const body = await res.json() as { available?: unknown }
    return res.ok && typeof body.available === 'boolean' ? !body.available : undefined
  } catch {
    return undefined
  }
}

function loginFailed (saved: SavedIdentity, err: unknown): void {
  const d = describeError(err)
  if (d.code === 'unknown_user') {
    status(`${saved.user_id} is not registered on this server.`, [{ label: `Register ${saved.user_id}`, primary: true, onClick: () => { void registerSaved(saved) } }])
  } else {
    status(`Could not log in as ${saved.user_id}. ${d.text}`, d.code === 'unauthorized' ? [] : [{ label: 'Try again', onClick: () => { void logIn(saved) } }])
  }
  el.status.querySelector('button')?.focus()
}

async function registerSaved (saved: SavedIdentity, button?: HTMLButtonElement): Promise<void> {
  await withBusy(button, 'Registering…', async () => {
    status(undefined)
    const client = makeClient(importIdentity(saved.file))
    try {
      await client.register()
    } catch (err) {
      client.close()
      if (describeError(err).code !== 'user_exists') {
        status(`Could not register ${saved.user_id}. ${describeError(err).text}`)
        return
      }
      // registered before (on another device, say): logging in tells whether it is this key
    }
    await storage.put('identities', saved.user_id, { ...saved, registered: true })
    try {
      await client.login()
    } catch (err) {
      client.close()
      const d = describeError(err)
      status(d.code === 'unauthorized' ? `${saved.user_id} is registered on this server with another key: this identity cannot use it.` : `Registered, but the login failed. ${d.text}`)
      await storage.put('identities', saved.user_id, { ...saved, registered: d.code !== 'unauthorized' })
      await renderIdentities()
      return
    }
    await enterChat(client, { ...saved, registered: true })
  })
}

async function createIdentity (): Promise<void> {
  const userId = el.createUserId.value.trim()
  const username = el.createUsername.value.trim()
  fieldError(el.createUserId, el.createError, undefined)
  let identity: Identity
  try {
    identity = generateIdentity(userId, username === '' ? userId : username)
  } catch (err) {
    fieldError(el.createUserId, el.createError, describeError(err).text)
    el.createUserId.focus()
    return
  }
  if (await storage.get('identities', userId) !== undefined) {
    fieldError(el.createUserId, el.createError, `${userId} is already on this device: log in with it above.`)
    el.createUserId.focus()
    return
  }
  await withBusy(el.createButton, 'Creating…', async () => {
    const saved: SavedIdentity = { user_id: userId, username: identity.username, file: exportIdentity(identity), created_at: new Date().toISOString(), registered: false }
    // saved before registering: if the answer is lost on the way, the keys are not
    await storage.put('identities', userId, saved)
    const client = makeClient(identity)
    try {
      await client.register()
    } catch (err) {
      client.close()
      const d = describeError(err)
      if (d.code === 'user_exists' || d.code === 'invalid_request' || d.code === 'invalid_key') {
        await storage.delete('identities', userId)
        fieldError(el.createUserId, el.createError, d.code === 'user_exists' ? `${userId} is taken on this server. Choose another user id.` : d.text)
        el.createUserId.focus()
      } else {
        fieldError(undefined, el.createError, `${d.text} The identity is saved on this device: register it from the list above when the server is back.`)
        await renderIdentities()
      }
      return
    }
    const registered = { ...saved, registered: true }
    await storage.put('identities', userId, registered)
    el.createForm.reset()
    try {
      await client.login()
    } catch (err) {
      client.close()
      await renderIdentities()
      status(`${userId} is registered, but the login failed. ${describeError(err).text}`)
      return
    }
    await enterChat(client, registered)
  })
}

async function importFromFile (file: File): Promise<void> {
  fieldError(undefined, el.importError, undefined)
  let identity: Identity
  try {
    identity = importIdentity(JSON.parse(await file.text()))
  } catch {
    fieldError(undefined, el.importError, `${file.name} is not a Sealwire identity file.`)
    return
  }
  const fileForm = exportIdentity(identity)
  const existing = await storage.get<SavedIdentity>('identities', identity.userId)
  if (existing !== undefined && existing.file.identity_secret_key !== fileForm.identity_secret_key) {
    fieldError(undefined, el.importError, `A different identity named ${identity.userId} is already on this device. Remove it first if you want to replace it.`)
    return
  }
  const saved: SavedIdentity = existing ?? { user_id: identity.userId, username: identity.username, file: fileForm, created_at: new Date().toISOString(), registered: null }
  if (existing === undefined) await storage.put('identities', identity.userId, saved)
  await renderIdentities()
  status(`Imported ${identity.userId}.`)
  await logIn(saved, el.identityList.querySelector<HTMLButtonElement>(`[data-user="${CSS.escape(identity.userId)}"] [data-action="login"]`) ?? undefined)
}

// ---- chat --------------------------------------------------------------------------------------------

async function enterChat (client: SealwireClient, saved: SavedIdentity): Promise<void> {
  await storage.put('settings', 'session', saved.user_id)
  status(undefined)
  showScreen('chat')
  session = new ChatSession({
    client,
    storage,
    saved,
    onExit: (reason) => { void leaveChat(saved, reason) }
  })
  // connecting (and retrying while the server is down) goes on in the chat screen
  void session.start()
}

async function leaveChat (saved: SavedIdentity, reason: ExitReason | undefined): Promise<void> {
  session = undefined
  await storage.delete('settings', 'session')
  showScreen('welcome')
  await renderIdentities()
  if (reason === undefined) {
    status(`Logged out of ${saved.user_id}. Messages sent to you wait on the server until you log in again.`)
    el.identityList.querySelector<HTMLButtonElement>(`[data-user="${CSS.escape(saved.user_id)}"] [data-action="login"]`)?.focus()
  } else {
    if (reason.code === 'unknown_user') status(reason.text, [{ label: `Register ${saved.user_id}`, primary: true, onClick: () => { void registerSaved(saved) } }])
    else status(reason.text)
  }
}

// ---- start -------------------------------------------------------------------------------------------

el.serverOrigin.textContent = serverUrl.replace(/^https?:\/\//, '')
show(el.storageWarning, !storage.persistent)
show(el.insecureWarning, !window.isSecureContext)
el.createForm.addEventListener('submit', (e) => { e.preventDefault(); void createIdentity() })
el.createUserId.addEventListener('input', () => { fieldError(el.createUserId, el.createError, undefined) })
el.importButton.addEventListener('click', () => { el.importFile.click() })
el.importFile.addEventListener('change', () => {
  const file = el.importFile.files?.[0]
  el.importFile.value = ''
  if (file !== undefined) void importFromFile(file)
})

const resume = await storage.get<string>('settings', 'session')
const resumed = resume === undefined ? undefined : await storage.get<SavedIdentity>('identities', resume)
await renderIdentities()
if (resumed !== undefined) {
  // back after a reload or a closed tab: straight into the chat, which connects (and retries) by itself
  await enterChat(makeClient(importIdentity(resumed.file)), resumed)
} else {
  showScreen('welcome')
  el.identityList.querySelector<HTMLButtonElement>('[data-action="login"]')?.focus()
}
