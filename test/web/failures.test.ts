import { randomBytes, randomUUID } from 'node:crypto'
import { join } from 'node:path'
import t from 'tap'
import { messageSigningInput } from '../../services/protocol/signing.js'
import { build, makeIdentity, registerAndLogin, tempDir } from '../helper.js'
import { connected, context, createIdentity, launch, message, NO_BROWSER, openConversation, PHONE, screenshot, send, WAIT_MS } from './browser.js'

t.test('the web client explains every failure: rate limit, refused message, server down and back, changed key', { skip: NO_BROWSER }, async (t) => {
  const dir = tempDir(t)
  const config = { DB_PATH: join(dir, 'failures.db'), MESSAGE_RATE_LIMIT: 1, MESSAGE_BURST_LIMIT: 3, AUTH_RATE_LIMIT_MAX: 10_000 }
  const first = await build(t, { config })
  const url = await first.listen({ port: 0, host: '127.0.0.1' })
  const port = Number(new URL(url).port)
  const browser = await launch(t)
  const errors: string[] = []
  // while the server is down, Chromium itself logs each refused connection as a console error; while it is
  // closing, Fastify answers 503 to a request that still reaches it, and Chromium logs that too
  const refused = [/Failed to load resource: net::ERR_CONNECTION_REFUSED/, /WebSocket connection to '.*' failed/, /status of 503 \(Service Unavailable\)/]
  const alice = await (await context(browser, 'alice', errors, undefined, refused)).newPage()
  const bobCtx = await context(browser, 'bob', errors, PHONE, refused)
  const bob = await bobCtx.newPage()
  await alice.goto(url)
  await createIdentity(alice, 'alice')
  await bob.goto(url)
  await createIdentity(bob, 'bob')
  await openConversation(alice, 'bob')
  await send(alice, 'first')
  await message(alice, 'first', 'delivered').waitFor()

  // ---- rate limited: 3 tokens, 1 per second ----
  for (let i = 1; i <= 5; i++) await send(alice, `burst ${i}`)
  const failed = alice.locator('#messages li[data-state="failed"]').first()
  await failed.waitFor()
  t.match(await failed.locator('.msg-state').textContent(), /Not sent: too many messages, wait 1 second/)
  await alice.locator('.notice-bar', { hasText: 'You are sending too fast' }).waitFor()
  await screenshot(alice, 'rate-limited')
  const failedText = (await failed.locator('.msg-text').textContent()) ?? ''
  // Retry is disabled until the server takes messages again; the click waits for it. On a loaded machine the
  // bucket the page waited for may be spent again by the time the frame arrives: then it fails again, and says so.
  for (let attempt = 1; ; attempt++) {
    await message(alice, failedText, 'failed').locator('button', { hasText: 'Retry' }).click()
    const outcome = message(alice, failedText, 'delivered').or(message(alice, failedText, 'failed'))
    await outcome.first().waitFor()
    if (await message(alice, failedText, 'delivered').count() > 0 || attempt === 5) break
  }
  await message(alice, failedText, 'delivered').waitFor()
  t.pass('a retried message goes through')

  // ---- a message that fails its checks is refused, said so, and not shown ----
  const mallory = await registerAndLogin(first, 'mallory')
  const header = {
    id: randomUUID(),
    from: 'mallory',
    to: 'alice',
    message_type: 'direct',
    timestamp: new Date().toISOString(),
    encrypted_key: randomBytes(80).toString('base64'),
    encryption_nonce: randomBytes(12).toString('base64')
  }
  const body = { content: randomBytes(48).toString('base64') }
  const posted = await first.inject({
    method: 'POST',
    url: '/direct-message/',
    headers: { authorization: `Bearer ${mallory.token}` },
    payload: { header: { ...header, signature: mallory.id.sign(messageSigningInput(header, body)) }, body }
  })
  t.equal(posted.statusCode, 200, posted.body)
  await alice.locator('.notice-bar', { hasText: 'A message from mallory was refused and not shown: it cannot be decrypted.' }).waitFor()
  t.equal(await alice.locator('#conv-list [data-peer="mallory"]').count(), 0, 'no conversation appears for it')

  // ---- the server goes down and comes back on the same port and database ----
  await first.close()
  await alice.locator('#conn[data-state="reconnecting"]').waitFor()
  await alice.locator('.notice-bar', { hasText: 'Reconnecting…' }).waitFor()
  await send(alice, 'written while the server was down')
  await message(alice, 'written while the server was down', 'sending').waitFor()
  t.match(await message(alice, 'written while the server was down').locator('.msg-state').textContent(), /Waiting for the connection/)
  await screenshot(alice, 'reconnecting')
  await bob.locator('#conn[data-state="reconnecting"]').waitFor()
  await screenshot(bob, 'mobile-reconnecting')
  const second = await build(t, { config })
  await second.listen({ port, host: '127.0.0.1' })
  await alice.locator('#conn[data-state="online"]').waitFor({ timeout: 2 * WAIT_MS })
  t.equal(await alice.locator('.notice-bar', { hasText: 'Reconnecting' }).count(), 0, 'the notice goes when the connection is back')
  await connected(bob)
  await message(alice, 'written while the server was down', 'delivered').waitFor()
  t.pass('what was written meanwhile went out and arrived')

  // ---- bob's identity key changes on the server: alice is warned and nothing is sent until she checks ----
  const impostor = makeIdentity('bob')
  await second.db.updateTable('users').set({
    public_key: impostor.public_key,
    x25519_public_key: impostor.x25519_public_key,
    x25519_key_signature: impostor.x25519_key_signature,
    // the impostor's key is bound the v1 way (no epoch), as the page registered bob's with one
    x25519_key_epoch: 0,
    x25519_key_expires_at: null
  }).where('user_id', '=', 'bob').execute()
  await bob.close()
  await alice.reload()
  await connected(alice)
  await alice.locator('#conv-list [data-peer="bob"]').click()
  await alice.locator('#key-alert', { hasText: 'The identity key of bob changed' }).waitFor()
  t.equal(await alice.locator('#key-alert-title').textContent(), 'bob\'s key changed')
  t.match(await alice.locator('#key-alert-number').getAttribute('aria-label'), /^(\d{5}, ){11}\d{5}$/, 'the banner shows the new safety number')
  t.equal(await alice.locator('#key-alert-accept').textContent(), 'Accept the new key')
  await alice.locator('#conv-list [data-peer="bob"] .nav-sub', { hasText: 'key changed' }).waitFor()
  await send(alice, 'should not go out')
  await alice.locator('#composer-error', { hasText: 'compare safety numbers with bob first' }).waitFor()
  await screenshot(alice, 'key-changed')
  await alice.locator('#key-alert-compare').click()
  await alice.locator('#safety-trust').waitFor()
  const numbers = await alice.locator('#safety-numbers .safety-number').allTextContents()
  t.equal(numbers.length, 2, 'the new and the old safety number')
  t.not(numbers[0], numbers[1])
  await screenshot(alice, 'key-changed-dialog')
  await alice.locator('#safety-trust').click()
  await alice.locator('#key-alert').waitFor({ state: 'hidden' })
  t.pass('trusted: the warning goes')
  await send(alice, 'to the new key')
  await message(alice, 'to the new key', 'accepted').waitFor()
  t.pass('after an explicit decision, messages go to the new key')

  // ---- another change, accepted from the banner: sending is blocked until then ----
  const second2 = makeIdentity('bob')
  await second.db.updateTable('users').set({
    public_key: second2.public_key,
    x25519_public_key: second2.x25519_public_key,
    x25519_key_signature: second2.x25519_key_signature,
    x25519_key_epoch: 0,
    x25519_key_expires_at: null
  }).where('user_id', '=', 'bob').execute()
  await alice.locator('#nav-broadcast').click()
  await alice.locator('#conv-list [data-peer="bob"]').click()
  await alice.locator('#key-alert-title', { hasText: 'bob\'s key changed' }).waitFor()
  await send(alice, 'blocked again')
  await alice.locator('#composer-error', { hasText: 'then accept the new key' }).waitFor()
  t.equal(await message(alice, 'blocked again').count(), 0, 'nothing was sent')
  await alice.locator('#key-alert-accept').click()
  await alice.locator('#key-alert').waitFor({ state: 'hidden' })
  await alice.locator('#conv-trust[data-trust="unverified"]').waitFor()
  await send(alice, 'after accepting in the banner')
  await message(alice, 'after accepting in the banner', 'accepted').waitFor()
  t.pass('accepted from the banner: messages go to the newest key')

  t.same(errors, [], 'no console errors but the refused connections while the server was down')
})
