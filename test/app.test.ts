import { join } from 'node:path'
import Fastify from 'fastify'
import t from 'tap'
import sealwire, { embed, loadConfig, serverOptions } from '../app.js'
import { build, logCapture, login, makeIdentity, tempDir, registrationBody, sealwireUnencapsulated, TEST_JWT_SECRET } from './helper.js'

t.test('embeds under a prefix with programmatic options, beside the host app\'s own routes', async (t) => {
  const host = Fastify()
  host.get('/', async () => ({ host: true }))
  await host.register(sealwire, { prefix: '/chat', env: {}, config: { DB_PATH: join(tempDir(t), 'embedded.db'), JWT_SECRET: TEST_JWT_SECRET } })
  t.teardown(() => host.close())
  await host.ready()

  t.same((await host.inject({ url: '/' })).json(), { host: true })
  t.equal((await host.inject({ url: '/chat/health' })).statusCode, 200)
  t.equal((await host.inject({ url: '/health' })).statusCode, 404, 'nothing outside the prefix')
  const alice = makeIdentity('alice')
  const reg = await host.inject({ method: 'POST', url: '/chat/auth/register', payload: registrationBody(alice) })
  t.equal(reg.statusCode, 201)
  const token = await login(host, alice, '/chat')
  const me = await host.inject({ url: '/chat/auth/users/alice', headers: { authorization: `Bearer ${token}` } })
  t.equal(me.statusCode, 200)
  const docs = await host.inject({ url: '/chat/docs/json' })
  t.ok(docs.json().paths['/chat/auth/register'], 'the OpenAPI document shows the prefixed paths')
  t.equal(host.hasDecorator('db'), false, 'the service\'s decorators stay inside its own context')
})

t.test('under a prefix, /chat/docs without its trailing slash links the UI\'s files under the prefix', async (t) => {
  const host = Fastify()
  await host.register(sealwire, { prefix: '/chat', env: {}, config: { DB_PATH: ':memory:', JWT_SECRET: TEST_JWT_SECRET } })
  t.teardown(() => host.close())
  for (const url of ['/chat/docs', '/chat/docs/']) {
    const page = await host.inject({ url })
    t.equal(page.statusCode, 200, url)
    const files = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map(([, src]) => new URL(src as string, `http://host${url}`).pathname)
    t.ok(files.length >= 4, `${url} links ${files.length} files`)
    for (const file of files) t.equal((await host.inject({ url: file })).statusCode, 200, `${url} → ${file}`)
  }
})

t.test('two instances do not share state', async (t) => {
  const a = await build(t)
  const b = await build(t)
  const alice = makeIdentity('alice')
  t.equal((await a.inject({ method: 'POST', url: '/auth/register', payload: registrationBody(alice) })).statusCode, 201)
  t.equal((await b.inject({ method: 'POST', url: '/auth/register', payload: registrationBody(alice) })).statusCode, 201)
})

t.test('the OpenAPI document lists every HTTP route, tagged and described', async (t) => {
  const app = Fastify()
  const routes: Array<{ url: string, method: string }> = []
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    for (const method of methods) {
      // routes hidden on purpose (the web client's page and files) are not API; /ws is hidden by @fastify/websocket and shown again
      const hidden = route.schema?.hide === true && route.websocket !== true
      if (method !== 'HEAD' && !route.url.startsWith('/docs') && !hidden) routes.push({ url: route.url, method: method.toLowerCase() })
    }
  })
  await app.register(sealwire, { env: {}, config: { DB_PATH: ':memory:', JWT_SECRET: TEST_JWT_SECRET } })
  await app.ready()
  t.teardown(() => app.close())
  const doc = (await app.inject({ url: '/docs/json' })).json()
  t.equal(doc.openapi, '3.1.0')
  t.ok(doc.components.securitySchemes.bearerAuth, 'bearer scheme declared')
  t.ok(routes.length >= 5)
  for (const { url, method } of routes) {
    const path = url.replace(/:([A-Za-z_]+)/g, '{$1}')
    const op = doc.paths[path]?.[method]
    t.ok(op, `${method.toUpperCase()} ${url} is documented`)
    t.ok(op?.tags?.length > 0, `${method.toUpperCase()} ${url} is tagged`)
    t.ok(op?.summary, `${method.toUpperCase()} ${url} has a summary`)
  }
  t.same(doc.paths['/auth/users/{user_id}'].get.security, [{ bearerAuth: [] }])
  t.equal((await app.inject({ url: '/docs/' })).statusCode, 200, 'the UI is served')
})

t.test('the login limiter answers 429 with Retry-After, per IP', async (t) => {
  const app = await build(t, { config: { AUTH_RATE_LIMIT_MAX: 3, AUTH_RATE_LIMIT_WINDOW_MS: 60_000 } })
  const ask = async (ip: string) => await app.inject({ method: 'POST', url: '/auth/login', remoteAddress: ip, payload: { user_id: 'nobody' } })
  for (let i = 0; i < 3; i++) t.equal((await ask('10.0.0.1')).statusCode, 404)
  const limited = await ask('10.0.0.1')
  t.equal(limited.statusCode, 429)
  t.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After header')
  t.match(limited.json(), { statusCode: 429, code: 'rate_limited', message: /retry in/ })
  t.equal((await ask('10.0.0.2')).statusCode, 404, 'another IP is not affected')
  t.equal((await app.inject({ url: '/health', remoteAddress: '10.0.0.1' })).statusCode, 200, 'other routes are not limited')
})

t.test('no secret reaches a log line', async (t) => {
  const { stream, lines } = logCapture()
  const config = loadConfig({ LOG_LEVEL: 'trace' })
  const options = serverOptions(config)
  const app = await build(t, { server: { ...options, logger: { ...(options.logger as object), stream } } })
  const alice = makeIdentity('alice')
  await app.inject({ method: 'POST', url: '/auth/register', payload: registrationBody(alice) })
  const first = await app.inject({ method: 'POST', url: '/auth/login', payload: { user_id: 'alice' } })
  const { challenge } = first.json()
  const signature = alice.sign(`sealwire/v1/login:alice:${challenge}`)
  const { token } = (await app.inject({ method: 'POST', url: '/auth/login?verify=true', payload: { user_id: 'alice', challenge, signature } })).json()
  await app.inject({ url: '/auth/users/alice', headers: { authorization: `Bearer ${token}` } })
  await app.inject({ url: `/health?token=${token}` })
  await app.inject({ url: `/auth/users/alice?access_token=${token}&x=1` })
  await app.inject({ url: '/auth/users/alice', headers: { authorization: `Bearer ${token}x` } })

  t.ok(lines.length > 10, `captured ${lines.length} lines`)
  t.ok(lines.some((l) => l.includes('token=[redacted]')), 'the token query parameter is logged redacted')
  const secrets = { token, jwtSecret: TEST_JWT_SECRET, signature, tokenSignature: token.split('.')[2] as string }
  for (const [name, secret] of Object.entries(secrets)) {
    t.notOk(lines.some((l) => l.includes(secret)), `no log line contains the ${name}`)
  }
})

t.test('a generated JWT secret is announced and not logged', async (t) => {
  const { stream, lines } = logCapture()
  const app = Fastify({ logger: { level: 'info', stream } })
  await app.register(sealwireUnencapsulated, { env: {}, config: { DB_PATH: ':memory:' } })
  await app.ready()
  t.teardown(() => app.close())
  t.ok(app.config.jwtSecretGenerated)
  t.ok(lines.some((l) => l.includes('JWT_SECRET is not set')))
  t.notOk(lines.some((l) => l.includes(app.config.JWT_SECRET)), 'the secret itself is not in the log')
})

t.test('in a server made without its options (fastify start without --options, a host app), tokens stay out of the request logs and bodies keep their bound', async (t) => {
  const { stream, lines } = logCapture()
  const app = Fastify({ logger: { level: 'info', stream } })
  await app.register(sealwire, { env: {}, config: { DB_PATH: ':memory:', JWT_SECRET: TEST_JWT_SECRET, MAX_MESSAGE_BYTES: 1024 } })
  t.teardown(() => app.close())
  const secret = 'eyJhbGciOiJIUzI1NiJ9.not-a-real-token.but-secret'
  for (const url of [`/health?token=${secret}`, `/ws?%74oken=${secret}`, `/ws?t%6Fken=${secret}&x=1`, `/nothing?access_token=${secret}`]) {
    await app.inject({ url })
  }
  t.equal(lines.filter((l) => l.includes('=[redacted]')).length, 4, 'the request lines are logged, redacted')
  t.notOk(lines.some((l) => l.includes(secret)), 'no log line holds the token, however its name is spelt')

  const big = await app.inject({ method: 'POST', url: '/auth/register', payload: { user_id: 'x', username: 'y'.repeat(30 * 1024) } })
  t.equal(big.statusCode, 413, 'MAX_MESSAGE_BYTES + 16 KiB bounds a body, not the server\'s 1 MiB')
  t.equal(big.json().code, 'payload_too_large')
})

t.test('settings the server does not apply are said once: TRUST_PROXY, SERVER_ADDR', async (t) => {
  const { stream, lines } = logCapture()
  const app = Fastify({ logger: { level: 'warn', stream } })
  await app.register(sealwire, { env: {}, config: { DB_PATH: ':memory:', JWT_SECRET: TEST_JWT_SECRET, TRUST_PROXY: true, SERVER_ADDR: '127.0.0.1:1' } })
  t.teardown(() => app.close())
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  t.match(lines.join('\n'), /SERVER_ADDR=127\.0\.0\.1:1 is not where this server listens \(127\.0\.0\.1:\d+\)/)
  await fetch(`${url}/health`, { headers: { 'x-forwarded-for': '203.0.113.9' } })
  await fetch(`${url}/health`)
  t.equal(lines.filter((l) => l.includes('TRUST_PROXY=true, but this server was made without trustProxy')).length, 1, 'TRUST_PROXY, once')

  const { stream: quiet, lines: none } = logCapture()
  const trusting = Fastify({ logger: { level: 'warn', stream: quiet }, trustProxy: true })
  await trusting.register(sealwire, { env: {}, config: { DB_PATH: ':memory:', JWT_SECRET: TEST_JWT_SECRET, TRUST_PROXY: true } })
  t.teardown(() => trusting.close())
  await trusting.inject({ url: '/health' })
  t.same(none.filter((l) => !l.includes('"level":30')), [], 'nothing to say when the server does what the settings ask')
})

t.test('embed: one decorator on the host, the settings and registerCommand; the rest stays inside', async (t) => {
  const host = Fastify()
  await host.register(embed, { prefix: '/chat', env: {}, config: { DB_PATH: ':memory:', JWT_SECRET: TEST_JWT_SECRET, JWT_TTL: 600 } })
  t.teardown(() => host.close())
  t.equal(host.sealwire.config.JWT_TTL, 600)
  host.sealwire.registerCommand('weather', { description: 'the weather', handler: () => 'clear' })
  t.throws(() => host.sealwire.registerCommand('ping', { description: 'again', handler: () => null }), /already registered/, 'the service\'s own registry')
  for (const name of ['config', 'db', 'hub', 'registerCommand']) t.notOk(host.hasDecorator(name), `no ${name} on the host`)
  t.equal((await host.inject({ url: '/chat/health' })).statusCode, 200)

  const twice = Fastify()
  for (const prefix of ['/one', '/two']) void twice.register(embed, { prefix, env: {}, config: { DB_PATH: ':memory:', JWT_SECRET: TEST_JWT_SECRET } })
  t.teardown(() => twice.close())
  await t.rejects(async () => { await twice.ready() }, /'sealwire' has already been added/, 'one per app')
})
