import { existsSync, readFileSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { build, login, makeIdentity, register, registerAndLogin, tempDir, TEST_JWT_SECRET } from '../helper.js'
import { until } from '../until.js'
import { broadcast, direct, idOf, listen, TestClient } from '../ws-client.js'

const lines = (path: string): Array<Record<string, unknown> & { event: string }> =>
  readFileSync(path, 'utf8').trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown> & { event: string })

/** The log is written through a stream: waits until the lines written so far satisfy `check`. */
async function logged (path: string, check: (events: Array<Record<string, unknown> & { event: string }>) => boolean, what: string): Promise<void> {
  await until(() => {
    if (!existsSync(path)) return false
    const text = readFileSync(path, 'utf8')
    // a line still being written is not read
    return check(text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown> & { event: string }))
  }, what)
}

t.test('every audit event is written, as JSON lines, with no secret in it; SIGHUP starts a new file', async (t) => {
  const dir = tempDir(t)
  const file = join(dir, 'logs', 'security.log')
  const app = await build(t, { config: { SECURITY_LOG_FILE: file, AUTH_RATE_LIMIT_MAX: 40, MESSAGE_RATE_LIMIT: 1, MESSAGE_BURST_LIMIT: 3, ALLOWED_ORIGINS: 'https://chat.example' } })
  const url = await listen(app)
  const secrets: string[] = [TEST_JWT_SECRET]

  const alice = await registerAndLogin(app, 'alice')
  const bob = await registerAndLogin(app, 'bob')
  secrets.push(alice.token, bob.token, alice.id.public_key, alice.id.x25519_public_key, alice.id.x25519_key_signature)
  const challenge = (await app.inject({ method: 'POST', url: '/auth/login', payload: { user_id: 'alice' } })).json().challenge as string
  const wrong = bob.id.sign(`sealwire/v1/login:alice:${challenge}`)
  secrets.push(challenge, wrong)
  await app.inject({ method: 'POST', url: '/auth/login?verify=true', payload: { user_id: 'alice', challenge, signature: wrong } })
  await app.inject({ url: '/auth/users/alice', headers: { authorization: `Bearer ${alice.token}x` } })
  await t.rejects(TestClient.connect(url, 'not-a-token'))
  await t.rejects(TestClient.connect(url, alice.token, { origin: 'https://evil.example' }))

  const a = await TestClient.connect(url, alice.token)
  t.teardown(() => a.close())
  const forged = direct(alice.id, 'bob', { signer: bob.id, content: Buffer.from('secret words, long enough').toString('base64') })
  a.send(forged)
  await a.error(idOf(forged))
  const once = broadcast(alice.id, 'plain text that must not be logged')
  a.send(once)
  await a.receipt(idOf(once), 'accepted')
  a.send(once)
  await a.receipt(idOf(once), 'duplicate')
  for (let i = 0; i < 4; i++) a.send(broadcast(alice.id, 'flood'))
  await a.next((f) => f.body.code === 'rate_limited')

  const next = await app.inject({
    method: 'PUT',
    url: '/auth/keys/x25519',
    headers: { authorization: `Bearer ${alice.token}` },
    payload: (() => {
      const fresh = makeIdentity('alice')
      return { x25519_public_key: fresh.x25519_public_key, x25519_key_signature: alice.id.sign(`sealwire/v1/x25519-key:alice:${fresh.x25519_public_key}`) }
    })()
  })
  t.equal(next.statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: { authorization: `Bearer ${bob.token}` } })).statusCode, 204)
  for (let i = 0; i < 41; i++) await app.inject({ url: '/auth/check-userid/someone', remoteAddress: '10.9.9.9' })
  const expected = ['register', 'login', 'login_failed', 'token_refused', 'origin_refused', 'bad_signature', 'replay', 'rate_limited', 'key_rotated', 'logout']
  const hasHttpLimit = (e: Record<string, unknown>): boolean => e.event === 'rate_limited' && (e.detail as Record<string, unknown>).limiter === 'http' && e.ip === '10.9.9.9'
  await logged(file, (events) => expected.every((kind) => events.some((e) => e.event === kind)) && events.some(hasHttpLimit), 'every event reaches the file')

  const events = lines(file)
  const kinds = new Set(events.map((e) => e.event))
  for (const kind of expected) {
    t.ok(kinds.has(kind), `${kind} is logged`)
  }
  t.match(events.find((e) => e.event === 'login_failed'), { user_id: 'alice', ip: '127.0.0.1', time: /Z$/ })
  t.ok(events.some(hasHttpLimit), 'HTTP limiter hits, per IP')
  t.ok(events.some((e) => e.event === 'rate_limited' && (e.detail as Record<string, unknown>).limiter === 'messages' && e.user_id === 'alice'), 'message bucket hits, per user')
  const text = readFileSync(file, 'utf8')
  for (const secret of secrets) t.notOk(text.includes(secret), `no secret or key material (${secret.slice(0, 6)}…)`)
  t.notOk(text.includes('plain text that must not be logged') || text.includes(Buffer.from('secret words, long enough').toString('base64')), 'no message content')

  renameSync(file, `${file}.1`)
  process.kill(process.pid, 'SIGHUP')
  // the handler opens the new file: once it is there, the signal has been handled
  await until(() => existsSync(file), 'SIGHUP opens a new file')
  await app.inject({ method: 'POST', url: '/auth/register', payload: { user_id: 'carol', username: 'c', public_key: makeIdentity('carol').public_key, x25519_public_key: makeIdentity('carol').x25519_public_key } })
  await logged(file, (events) => events.length > 0, 'carol\'s registration reaches the new file')
  t.match(lines(file), [{ event: 'register', user_id: 'carol' }], 'after SIGHUP the log starts again at the same path')
})

t.test('an address that keeps failing is blocked for a while, then let in again', async (t) => {
  const file = join(tempDir(t), 'security.log')
  const app = await build(t, { config: { SECURITY_LOG_FILE: file, ABUSE_MAX_FAILURES: 3, ABUSE_WINDOW_MS: 60_000, ABUSE_BLOCK_MS: 1000 } })
  const id = makeIdentity('alice')
  await register(app, id)
  const attacker = '10.0.0.66'
  const failLogin = async () => {
    const { challenge } = (await app.inject({ method: 'POST', url: '/auth/login', remoteAddress: attacker, payload: { user_id: 'alice' } })).json()
    return await app.inject({ method: 'POST', url: '/auth/login?verify=true', remoteAddress: attacker, payload: { user_id: 'alice', challenge, signature: Buffer.alloc(64).toString('base64') } })
  }
  t.equal((await failLogin()).statusCode, 401)
  t.equal((await app.inject({ url: '/active-users', remoteAddress: attacker, headers: { authorization: 'Bearer forged' } })).statusCode, 401, 'a refused token counts too')
  t.equal((await failLogin()).statusCode, 401)
  const blocked = await app.inject({ url: '/health', remoteAddress: attacker })
  t.equal(blocked.statusCode, 403, 'blocked everywhere, even /health')
  t.equal(blocked.json().code, 'ip_blocked')
  t.ok(Number(blocked.headers['retry-after']) >= 1)
  t.equal((await app.inject({ url: '/health', remoteAddress: '10.0.0.67' })).statusCode, 200, 'other addresses are not')
  const token = await login(app, id)
  t.ok(token, 'and the user can still log in from elsewhere')
  // the block ends by the clock: ask until it has (the guard's own timing is tested with an injected clock)
  await until(async () => (await app.inject({ url: '/health', remoteAddress: attacker })).statusCode !== 403, 'the block ends', 30_000, 50)
  t.equal((await app.inject({ url: '/health', remoteAddress: attacker })).statusCode, 200, 'unblocked after ABUSE_BLOCK_MS')
  await logged(file, (events) => events.some((e) => e.event === 'ip_unblocked'), 'the unblock is logged')
  const events = lines(file).map((e) => e.event)
  t.ok(events.includes('ip_blocked'))
  t.ok(events.includes('ip_unblocked'))
})

t.test('logout revokes the token everywhere and closes its connections; the revocation survives a restart', async (t) => {
  const dbPath = join(tempDir(t), 'revoke.db')
  const app = await build(t, { config: { DB_PATH: dbPath } })
  const url = await listen(app)
  const alice = await registerAndLogin(app, 'alice')
  const other = await login(app, alice.id)
  const ws = await TestClient.connect(url, alice.token)
  const ws2 = await TestClient.connect(url, other)
  t.teardown(() => ws2.close())
  const auth = (token: string) => ({ authorization: `Bearer ${token}` })
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout' })).statusCode, 401)
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', headers: auth(alice.token) })).statusCode, 204)
  t.equal((await ws.closed).code, 1008, 'its socket is closed')
  t.equal((await app.inject({ url: '/active-users', headers: auth(alice.token) })).statusCode, 401, 'refused on HTTP')
  await t.rejects(TestClient.connect(url, alice.token), /HTTP 401/, 'refused for a new connection')
  t.equal((await app.inject({ url: '/active-users', headers: auth(other) })).statusCode, 200, 'the user\'s other session goes on')
  t.equal(ws2.ws.readyState, 1)

  const restarted = await build(t, { config: { DB_PATH: dbPath } })
  t.equal((await restarted.inject({ url: '/active-users', headers: auth(alice.token) })).statusCode, 401, 'still refused after a restart')
  t.equal((await restarted.inject({ url: '/active-users', headers: auth(other) })).statusCode, 200)
})

t.test('CORS follows ALLOWED_ORIGINS; security headers are set', async (t) => {
  const app = await build(t, { config: { ALLOWED_ORIGINS: 'https://chat.example' } })
  const preflight = (origin: string) => app.inject({ method: 'OPTIONS', url: '/auth/login', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
  const ok = await preflight('https://chat.example')
  t.equal(ok.headers['access-control-allow-origin'], 'https://chat.example')
  const evil = await preflight('https://evil.example')
  t.equal(evil.headers['access-control-allow-origin'], undefined, 'another origin gets no CORS grant')
  const plain = await build(t)
  const none = await plain.inject({ url: '/health', headers: { origin: 'https://chat.example' } })
  t.equal(none.headers['access-control-allow-origin'], undefined, 'no origins named: no cross-origin reads')
  t.equal(none.headers['x-content-type-options'], 'nosniff')
  t.match(none.headers['content-security-policy'], /default-src 'self'/)
  t.match(none.headers['content-security-policy'], /frame-ancestors 'none'/)
  t.equal(none.headers['strict-transport-security'], undefined, 'no HSTS without TLS')
})
