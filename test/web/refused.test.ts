// A message the recipient refuses (a signed reject) shows "Refused by <peer>: <reason>" instead of delivered.
import { join } from 'node:path'
import t from 'tap'
import { build, registerAndLogin, tempDir } from '../helper.js'
import { sign, TestClient } from '../ws-client.js'
import { context, createIdentity, launch, message, NO_BROWSER, openConversation, send } from './browser.js'

t.test('a refused message says who refused it and why, and is never shown delivered', { skip: NO_BROWSER }, async (t) => {
  const app = await build(t, { config: { DB_PATH: join(tempDir(t), 'refused.db'), AUTH_RATE_LIMIT_MAX: 10_000 } })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const bob = await registerAndLogin(app, 'bob')
  const bobWs = await TestClient.connect(url.replace(/^http/, 'ws'), bob.token)
  t.teardown(() => { bobWs.ws.close() })
  const errors: string[] = []
  const alice = await (await context(await launch(t), 'alice', errors)).newPage()
  await alice.goto(url)
  await createIdentity(alice, 'alice')
  await openConversation(alice, 'bob')

  await send(alice, 'please refuse me')
  const got = await bobWs.next((f) => f.header.message_type === 'direct' && f.header.from === 'alice')
  bobWs.send(sign(bob.id, { id: got.header.id, from: 'bob', to: 'alice', message_type: 'reject', timestamp: new Date().toISOString() }, { reason: 'decrypt_failed' }))
  const refused = message(alice, 'please refuse me', 'rejected')
  await refused.waitFor()
  t.equal(await refused.locator('.msg-state').textContent(), '✕ Refused by bob: it cannot be decrypted')
  t.equal(await message(alice, 'please refuse me', 'delivered').count(), 0, 'not delivered')
  const row = await app.db.selectFrom('messages').select(['status', 'rejected_reason']).where('id', '=', String(got.header.id)).executeTakeFirstOrThrow()
  t.same(row, { status: 'rejected', rejected_reason: 'decrypt_failed' })
  t.same(errors, [], 'no console errors')
})
