import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import Fastify from 'fastify'
import t from 'tap'
import { tempDir, sealwireUnencapsulated, TEST_JWT_SECRET } from '../helper.js'
import { context, createIdentity, launch, message, NO_BROWSER, openConversation, screenshot, send } from './browser.js'

const hasOpenssl = spawnSync('openssl', ['version']).status === 0

t.test('the page works over TLS and talks wss:// to its own origin', { skip: NO_BROWSER !== false ? NO_BROWSER : hasOpenssl ? false : 'no openssl command' }, async (t) => {
  const dir = tempDir(t)
  const keyFile = join(dir, 'key.pem')
  const certFile = join(dir, 'cert.pem')
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyFile, '-out', certFile
  ], { stdio: 'ignore' })
  const app = Fastify({ logger: false, https: { key: readFileSync(keyFile), cert: readFileSync(certFile) } })
  await app.register(sealwireUnencapsulated, { env: {}, config: { DB_PATH: join(dir, 'tls.db'), JWT_SECRET: TEST_JWT_SECRET, AUTH_RATE_LIMIT_MAX: 10_000 } })
  t.teardown(() => app.close())
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  t.match(url, /^https:\/\/127\.0\.0\.1:\d+$/)

  const browser = await launch(t)
  const errors: string[] = []
  const sockets: string[] = []
  const alice = await (await context(browser, 'alice', errors, { ignoreHTTPSErrors: true, viewport: { width: 1100, height: 720 } })).newPage()
  const bob = await (await context(browser, 'bob', errors, { ignoreHTTPSErrors: true })).newPage()
  for (const page of [alice, bob]) page.on('websocket', (ws) => { sockets.push(ws.url()) })

  const res = await alice.goto(url)
  const csp = res?.headers()['content-security-policy'] ?? ''
  t.match(csp, new RegExp(`connect-src 'self' wss://127\\.0\\.0\\.1:${new URL(url).port}(;|$)`), 'the policy allows wss:// to this origin only')
  t.equal(await alice.evaluate(() => window.isSecureContext), true)
  await createIdentity(alice, 'alice')
  await bob.goto(url)
  await createIdentity(bob, 'bob')
  await openConversation(alice, 'bob')
  await send(alice, 'over TLS, and encrypted end to end')
  await message(alice, 'over TLS', 'delivered').waitFor()
  await openConversation(bob, 'alice')
  await message(bob, 'over TLS, and encrypted end to end').waitFor()
  await send(bob, 'received, over wss')
  await message(alice, 'received, over wss').waitFor()
  await screenshot(alice, 'tls')

  t.ok(sockets.length >= 2, `${sockets.length} WebSockets opened`)
  for (const socket of sockets) t.match(socket, new RegExp(`^wss://127\\.0\\.0\\.1:${new URL(url).port}/ws\\?token=`), 'wss:// to the page\'s origin')
  t.same(errors, [], 'no console errors')
})
