import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { exportIdentity, generateIdentity } from '../../client/index.js'
import { build, tempDir } from '../helper.js'
import { connected, context, createIdentity, launch, message, NO_BROWSER, openConversation, PHONE, screenshot, send } from './browser.js'

t.test('the web client: two browsers register, talk both ways, broadcast, go offline and back; the server holds only ciphertext', { skip: NO_BROWSER }, async (t) => {
  const dir = tempDir(t)
  const dbPath = join(dir, 'web.db')
  const app = await build(t, { config: { DB_PATH: dbPath, MESSAGE_RATE_LIMIT: 1000, MESSAGE_BURST_LIMIT: 1000, AUTH_RATE_LIMIT_MAX: 10_000 } })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const browser = await launch(t)
  const errors: string[] = []
  const plaintexts: string[] = []
  const say = (text: string): string => { plaintexts.push(text); return text }

  // ---- alice on a desktop, bob on a phone ----
  const aliceCtx = await context(browser, 'alice', errors)
  const alice = await aliceCtx.newPage()
  await alice.goto(url)
  await alice.locator('#create-user-id').waitFor()
  await screenshot(alice, 'welcome')
  await createIdentity(alice, 'alice', 'Alice Liddell')
  t.equal(await alice.locator('#me-name').textContent(), 'Alice Liddell')

  const bobCtx = await context(browser, 'bob', errors, PHONE)
  const bob = await bobCtx.newPage()
  await bob.goto(url)
  await bob.locator('#create-user-id').waitFor()
  await screenshot(bob, 'mobile-welcome')
  // bob uses the keyboard alone: skip link, user id, display name, button
  await bob.keyboard.press('Tab')
  t.equal(await bob.evaluate(() => document.activeElement?.className), 'skip-link', 'the skip link comes first')
  await bob.keyboard.press('Tab')
  t.equal(await bob.evaluate(() => document.activeElement?.id), 'create-user-id', 'then the user id field')
  t.not(await bob.evaluate(() => getComputedStyle(document.activeElement as Element).outlineStyle), 'none', 'focus is visible')
  await bob.keyboard.type('bob')
  await bob.keyboard.press('Enter')
  await connected(bob)

  // ---- presence: alice sees bob come online and writes to him from the online list ----
  await alice.locator('#online-list [data-online="bob"]').click()
  await alice.locator('#conv-peer', { hasText: 'bob' }).waitFor()
  t.equal(await alice.evaluate(() => document.activeElement?.id), 'composer-input', 'opening a conversation focuses the composer')
  await send(alice, say('Hello Bob! This is end-to-end encrypted.'))
  await message(alice, 'Hello Bob!', 'delivered').waitFor()
  t.pass('alice\'s message reached bob: delivered')

  // ---- bob, on the phone, sees an unread conversation, opens it and answers ----
  await bob.locator('#conv-list [data-peer="alice"] .badge', { hasText: '1' }).waitFor()
  await screenshot(bob, 'mobile-list')
  await bob.locator('#conv-list [data-peer="alice"]').click()
  await message(bob, 'Hello Bob! This is end-to-end encrypted.').waitFor()
  t.equal(await bob.locator('#sidebar').isVisible(), false, 'on a phone the conversation takes the whole screen')
  await send(bob, say('Hi Alice, got it → ça marche.\nTwo lines, even.'))
  await message(bob, 'Hi Alice', 'delivered').waitFor()
  await message(alice, 'Hi Alice, got it → ça marche.').waitFor()
  t.equal(await alice.locator('#messages').getAttribute('role'), 'log', 'incoming messages are in a live log')
  t.equal(await alice.locator('#messages').getAttribute('aria-live'), 'polite')
  await send(alice, say('Lovely. Compare safety numbers?'))
  await message(bob, 'Lovely.').waitFor()
  await message(alice, 'Lovely.', 'delivered').waitFor()
  await screenshot(alice, 'chat-desktop')
  await screenshot(bob, 'mobile-chat')

  // ---- safety numbers agree ----
  const safety = async (page: typeof alice): Promise<string> => {
    await page.locator('#safety-button').click()
    await page.locator('#safety-numbers .safety-number').waitFor()
    return (await page.locator('#safety-numbers .safety-number').getAttribute('aria-label')) ?? ''
  }
  const aliceNumber = await safety(alice)
  const bobNumber = await safety(bob)
  t.match(aliceNumber, /^(\d{5}, ){11}\d{5}$/)
  t.equal(aliceNumber, bobNumber, 'both see the same safety number')
  await screenshot(alice, 'safety')
  await screenshot(bob, 'mobile-safety')
  // ---- alice marks bob's key verified: the dialog and the conversation head say so ----
  t.equal(await alice.locator('#safety-trust-state').getAttribute('data-trust'), 'unverified', 'pinned on first use')
  t.equal(await alice.locator('#conv-trust').textContent(), 'unverified')
  await alice.locator('#safety-verify').click()
  await alice.locator('#safety-trust-state[data-trust="verified"]').waitFor()
  await alice.locator('#conv-trust[data-trust="verified"]').waitFor()
  t.equal(await alice.locator('#safety-verify').isVisible(), false, 'nothing more to mark')
  await alice.keyboard.press('Escape')
  await bob.locator('#safety-close').click()
  t.equal(await alice.locator('#safety-dialog').evaluate((d) => (d as HTMLDialogElement).open), false, 'Escape closes the dialog')

  // ---- carol imports an identity file made elsewhere, registers it and joins ----
  const carolFile = join(dir, 'carol.json')
  writeFileSync(carolFile, JSON.stringify(exportIdentity(generateIdentity('carol', 'Carol'))))
  const carolCtx = await context(browser, 'carol', errors)
  const carol = await carolCtx.newPage()
  await carol.goto(url)
  const [chooser] = await Promise.all([carol.waitForEvent('filechooser'), carol.locator('#import-button').click()])
  await chooser.setFiles(carolFile)
  await carol.locator('#welcome-status', { hasText: 'carol is not registered on this server' }).waitFor()
  await carol.locator('#welcome-status button', { hasText: 'Register carol' }).click()
  await connected(carol)

  // ---- a broadcast reaches both others ----
  await alice.locator('#online-list [data-online="carol"]').waitFor()
  await alice.locator('#nav-broadcast').click()
  await send(alice, 'Hello everyone: this one is public.')
  await message(alice, 'Hello everyone', 'accepted').waitFor()
  await bob.locator('#back-button').click()
  await bob.locator('#broadcast-unread', { hasText: '1' }).waitFor()
  await bob.locator('#nav-broadcast').click()
  await message(bob, 'Hello everyone: this one is public.').waitFor()
  await carol.locator('#nav-broadcast').click()
  await message(carol, 'Hello everyone: this one is public.').waitFor()
  await screenshot(carol, 'broadcast')
  t.pass('the broadcast reached bob and carol')

  // ---- server commands ----
  await alice.locator('#nav-commands').click()
  await alice.locator('.chip', { hasText: 'server_info' }).waitFor()
  await alice.locator('#command-name').fill('echo')
  await alice.locator('#command-params').fill('{"x": [1, 2]')
  await alice.locator('#command-form button[type="submit"]').click()
  await alice.locator('#command-params-error', { hasText: 'Not valid JSON' }).waitFor()
  await alice.locator('#command-params').fill('{"x": [1, 2], "note": "hi"}')
  await alice.locator('#command-form button[type="submit"]').click()
  const echoed = alice.locator('#command-results .result.ok').first()
  await echoed.waitFor()
  t.same(JSON.parse(await echoed.locator('.result-output').textContent() ?? ''), { x: [1, 2], note: 'hi' })
  await alice.locator('#command-name').fill('no_such_command')
  await alice.locator('#command-params').fill('')
  await alice.locator('#command-form button[type="submit"]').click()
  await alice.locator('#command-results .result.error', { hasText: 'unknown_command' }).waitFor()
  await alice.locator('#command-name').fill('user_count')
  await alice.locator('#command-form button[type="submit"]').click()
  await alice.locator('#command-results .result.ok', { hasText: '"registered": 3' }).waitFor()
  await screenshot(alice, 'commands')

  // ---- bob goes away (tab closed); alice writes; bob comes back and gets it ----
  await bob.close()
  await alice.locator('#conv-list [data-peer="bob"]').click()
  await alice.locator('#conv-sub', { hasText: 'Offline' }).waitFor()
  await send(alice, say('Are you there? (sent while you were offline)'))
  await send(alice, say('Second one, also queued.'))
  await message(alice, 'Second one, also queued.', 'accepted').waitFor()
  t.equal(await message(alice, 'Are you there?', 'accepted').count(), 1, 'stored by the server, not delivered yet')
  await screenshot(alice, 'offline-peer')
  const bobAgain = await bobCtx.newPage()
  await bobAgain.goto(url)
  // the identity and the session are remembered in IndexedDB: straight back into the chat
  await connected(bobAgain)
  await bobAgain.locator('#conv-list [data-peer="alice"] .badge', { hasText: '2' }).waitFor()
  await bobAgain.locator('#conv-list [data-peer="alice"]').click()
  await message(bobAgain, 'Are you there?').waitFor()
  await message(bobAgain, 'Second one, also queued.').waitFor()
  await message(bobAgain, 'Hello Bob!').waitFor()
  t.pass('the history is there too')
  await message(alice, 'Are you there?', 'delivered').waitFor()
  await message(alice, 'Second one, also queued.', 'delivered').waitFor()
  t.pass('alice sees both delivered once bob is back')

  // ---- log out, log in again from the list of identities on this device ----
  await bobAgain.locator('#logout-button').click()
  await bobAgain.locator('#welcome-status', { hasText: 'Logged out of bob' }).waitFor()
  await screenshot(bobAgain, 'mobile-identities')
  await bobAgain.locator('#identity-list [data-user="bob"] [data-action="login"]').click()
  await connected(bobAgain)

  // ---- alice exports her identity and uses it on a second device: history decrypts there ----
  const [download] = await Promise.all([alice.waitForEvent('download'), alice.locator('#export-button').click()])
  t.equal(download.suggestedFilename(), 'sealwire-alice.json')
  const exported = join(dir, 'alice-export.json')
  await download.saveAs(exported)
  t.match(JSON.parse(readFileSync(exported, 'utf8')), { version: 1, user_id: 'alice', username: 'Alice Liddell', identity_secret_key: String })
  const laptopCtx = await context(browser, 'alice-laptop', errors)
  const laptop = await laptopCtx.newPage()
  await laptop.goto(url)
  const [chooser2] = await Promise.all([laptop.waitForEvent('filechooser'), laptop.locator('#import-button').click()])
  await chooser2.setFiles(exported)
  await connected(laptop)
  await openConversation(laptop, 'bob')
  await message(laptop, 'Hello Bob! This is end-to-end encrypted.', 'delivered').waitFor()
  await message(laptop, 'Two lines, even.').waitFor()
  t.pass('the second device reads the history, its own sent messages included')

  // ---- what the server stored ----
  const keys = await app.db.selectFrom('users').select(['user_id', 'x25519_key_epoch', 'x25519_key_expires_at']).where('user_id', 'in', ['alice', 'bob']).execute()
  for (const k of keys) {
    t.ok(Number(k.x25519_key_epoch) >= 1, `${k.user_id} registered from the page with a key epoch`)
    t.ok(k.x25519_key_expires_at !== null && Date.parse(k.x25519_key_expires_at) > Date.now(), `${k.user_id}'s key expires later`)
  }
  const rows = await app.db.selectFrom('messages').select(['envelope', 'message_type']).where('message_type', '=', 'direct').execute()
  t.equal(rows.length, 5, 'five direct messages stored')
  for (const row of rows) {
    const envelope = JSON.parse(row.envelope) as { header: Record<string, unknown>, body: { content: string } }
    t.match(envelope.header, { encrypted_key: String, encryption_nonce: String, sender_encrypted_key: String })
    t.match(envelope.body.content, /^[A-Za-z0-9+/]+=*$/, 'the content is base64 ciphertext')
  }
  const stored = [dbPath, `${dbPath}-wal`].filter((p) => existsSync(p)).map((p) => readFileSync(p).toString('latin1')).join('')
  const utf8Stored = [dbPath, `${dbPath}-wal`].filter((p) => existsSync(p)).map((p) => readFileSync(p).toString('utf8')).join('')
  for (const text of plaintexts) {
    for (const part of text.split('\n').map((s) => s.trim()).filter((s) => s.length > 8)) {
      t.notOk(stored.includes(part) || utf8Stored.includes(part), `"${part}" is nowhere in the database files`)
    }
  }

  t.same(errors, [], 'no console errors and no page errors')
})
