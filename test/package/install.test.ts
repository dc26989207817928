// The package as users get it, packed and installed into an app of its own (install.ts): the two ways of starting
// it as real processes, and a strict TypeScript app that embeds it, whole or plugin by plugin.
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { request } from 'node:http'
import { connect } from 'node:net'
import { dirname, join } from 'node:path'
import t, { type Test } from 'tap'
import { createNodeClient, generateIdentity, MemoryStore } from '../../client/node.js'
import { makeDevCertificate, writeDevCertificate } from '../../services/dev-cert.js'
import { makeIdentity, registrationBody, tempDir, TEST_JWT_SECRET } from '../helper.js'
import { packAndInstall } from './install.js'
import { freePort, start, upgrade, userToken, type Server } from './processes.js'

// building, packing and installing take a few minutes on a loaded 2-core machine
t.setTimeout(900_000)
const { files, app, pkg } = packAndInstall(tempDir(t))
const fastify = join(app, 'node_modules/.bin/fastify')
const npmStart = (JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start
const env = (settings: Record<string, string>): NodeJS.ProcessEnv =>
  ({ PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, JWT_SECRET: TEST_JWT_SECRET, DB_PATH: join(tempDir(t), 'sealwire.db'), ...settings })

t.test('the tarball holds the build, the browser files and the licence, and nothing of the build tools', async (t) => {
  for (const file of ['LICENSE', 'README.md', 'dist/app.js', 'dist/app.d.ts', 'dist/plugins/auth.d.ts', 'dist/bin/fastify-config.js',
    'dist/client/sealwire.browser.js', 'dist/public/web/index.html', 'dist/public/web/sealwire-web.js.gz', 'dist/public/dashboard/app.js']) {
    t.ok(files.includes(file), file)
  }
  t.same(files.filter((f) => /build-assets|bundle\.|^test\/|^dist\/client\/web\/|(?<!\.d)\.ts$/.test(f)), [], 'no build scripts, tests, sources, or the web page unbundled')
  const compiled = (dir: string): string[] => readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js')).map((f) => join(dir, f))
  const esbuild = compiled(join(pkg, 'dist')).filter((f) => /["']esbuild["']/.test(readFileSync(f, 'utf8')))
  t.same(esbuild, [], 'nothing shipped imports esbuild')
})

/** /health, /docs and its files, and WebSocket upgrades whose tokens reach no log line; then the exit code of a stop. */
async function servesWithoutLeaking (t: Test, server: Server, url: string): Promise<number | null> {
  t.equal((await fetch(`${url}/health`)).status, 200, '/health')
  const docs = await fetch(`${url}/docs`)
  t.equal(docs.status, 200, '/docs')
  const bundle = /src="([^"]+swagger-ui-bundle\.js)"/.exec(await docs.text())?.[1] ?? 'none'
  t.equal((await fetch(new URL(bundle, `${url}/docs`))).status, 200, `/docs links ${bundle}`)

  const ws = url.replace(/^http/, 'ws')
  const secrets = { token: await userToken(url, 'alice'), encoded: await userToken(url, 'bob'), refused: 'not-a-token-but-a-secret-all-the-same' }
  t.equal(await upgrade(`${ws}/ws?token=${secrets.token}`), 101, '/ws?token= opens')
  t.equal(await upgrade(`${ws}/ws?%74oken=${secrets.encoded}`), 101, '/ws?%74oken= opens too: the query parser decodes names')
  t.equal(await upgrade(`${ws}/ws?token=${secrets.refused}`), 401, 'a wrong token is refused')
  const code = await server.stop()

  t.ok(server.lines.some((l) => l.includes('"url":"/ws?token=[redacted]"')), 'the upgrade is logged with its token redacted')
  t.ok(server.lines.some((l) => l.includes('"url":"/ws?%74oken=[redacted]"')), 'and the encoded one')
  for (const [name, secret] of Object.entries(secrets)) {
    t.notOk(server.lines.some((l) => l.includes(secret)), `no log line holds the ${name} token`)
  }
  return code
}

t.test(`npm start's command (${npmStart}): on SERVER_ADDR, with the server options`, async (t) => {
  t.match(npmStart, /^fastify start /, 'it is fastify-cli\'s')
  const port = await freePort()
  const server = start(t, fastify, npmStart.split(' ').slice(1), { cwd: pkg, env: env({ SERVER_ADDR: `127.0.0.1:${port}`, LOG_LEVEL: 'info' }) })
  t.equal(await server.listening(), `http://127.0.0.1:${port}`, 'where SERVER_ADDR says')
  t.equal(await servesWithoutLeaking(t, server, `http://127.0.0.1:${port}`), 0, 'SIGTERM stops it cleanly (within its 8 s of grace)')
  t.notOk(server.lines.some((l) => l.includes('is not where this server listens')), 'no warning about SERVER_ADDR')
})

t.test('fastify start -l info dist/app.js: where fastify-cli says, a warning when SERVER_ADDR says otherwise', async (t) => {
  const port = await freePort()
  const server = start(t, fastify, ['start', '-l', 'info', 'dist/app.js'], {
    cwd: pkg,
    env: env({ FASTIFY_ADDRESS: '127.0.0.1', FASTIFY_PORT: String(port), SERVER_ADDR: '127.0.0.1:1' })
  })
  t.equal(await server.listening(), `http://127.0.0.1:${port}`)
  t.match(await server.line(/SERVER_ADDR=/), /SERVER_ADDR=127\.0\.0\.1:1 is not where this server listens \(127\.0\.0\.1:\d+\)/)
  // fastify-cli's default grace (-g, 500 ms) may cut a slow shutdown short with exit code 1; it ends by itself either way
  t.not(await servesWithoutLeaking(t, server, `http://127.0.0.1:${port}`), null, 'SIGTERM stops it')
})

async function refused (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => { socket.destroy(); resolve(false) })
    socket.on('error', () => resolve(true))
  })
}

async function httpGet (port: number, path: string): Promise<{ status: number, location?: string }> {
  return await new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      res.resume()
      resolve({ status: res.statusCode ?? 0, location: res.headers.location })
    }).on('error', reject).end()
  })
}

t.test('with TLS files: HTTPS and the HTTP redirect only when the server itself serves HTTPS (--options)', async (t) => {
  const dir = tempDir(t)
  writeDevCertificate(await makeDevCertificate(), join(dir, 'server.crt'), join(dir, 'server.key'))
  for (const options of [[], ['--options']]) {
    const [port, redirect] = [await freePort(), await freePort()]
    const server = start(t, fastify, ['start', ...options, '-l', 'info', 'dist/app.js'], {
      cwd: pkg,
      env: env({ FASTIFY_ADDRESS: '127.0.0.1', FASTIFY_PORT: String(port), TLS_CERT: join(dir, 'server.crt'), TLS_KEY: join(dir, 'server.key'), HTTP_REDIRECT_ADDR: `127.0.0.1:${redirect}` })
    })
    const url = await server.listening()
    if (options.length === 0) {
      t.equal(url, `http://127.0.0.1:${port}`, 'without --options: plain HTTP')
      t.match(await server.line(/without HTTPS/), /serves plain HTTP and opens no redirect listener/, 'and it says so')
      const health = await fetch(`${url}/health`)
      t.equal(health.status, 200)
      t.equal(health.headers.get('strict-transport-security'), null, 'no HSTS over plain HTTP')
      t.ok(await refused(redirect), 'nothing listens on HTTP_REDIRECT_ADDR')
    } else {
      t.equal(url, `https://127.0.0.1:${port}`, 'with --options: HTTPS')
      await server.line(/redirecting HTTP to HTTPS/)
      t.same(await httpGet(redirect, '/health?x=1'), { status: 301, location: `https://127.0.0.1:${port}/health?x=1` }, 'and the redirect')
    }
    t.equal(await server.stop(), 0)
  }
})

t.test('a wrong setting stops every way of starting with one line that names it', async (t) => {
  for (const args of [npmStart.split(' ').slice(1), ['start', 'dist/app.js'], ['start', '--options', 'dist/app.js']]) {
    const run = spawnSync(fastify, args, { cwd: pkg, env: env({ MESSAGE_BURST_LIMIT: 'lots' }), encoding: 'utf8', timeout: 60_000 })
    t.equal(run.status, 1, `fastify ${args.join(' ')} exits with 1`)
    t.equal(run.stderr.trim(), 'Invalid configuration: MESSAGE_BURST_LIMIT must be integer (got "lots")', 'and says why in one line')
    t.equal(run.stdout, '')
  }
})

t.test('a strict TypeScript app type-checks against the package\'s types', async (t) => {
  // noEmitOnError: the app's JavaScript is written only when the whole program type-checks
  const run = spawnSync(join(app, 'node_modules/.bin/tsc'), ['-p', '.'], { cwd: app, encoding: 'utf8', timeout: 300_000 })
  t.equal(run.status, 0, `tsc: ${run.stdout}${run.stderr}`)
})

t.test('embedded under /chat: the host gets app.sealwire and nothing else; its own command runs over a WebSocket', async (t) => {
  const server = start(t, process.execPath, ['dist/service.js'], { cwd: app, env: env({ CHAT_DB: join(tempDir(t), 'chat.db'), CHAT_SECRET: TEST_JWT_SECRET }) })
  const { url, ttl, inside } = JSON.parse(await server.line(/"event":"listening"/)) as { url: string, ttl: number, inside: string[] }
  t.equal(ttl, 86400, 'the host reads the settings')
  t.same(inside, [], 'the service\'s own decorators stay inside it')
  t.same(await (await fetch(`${url}/`)).json(), { host: true }, 'the host\'s route')
  t.equal((await fetch(`${url}/chat/health`)).status, 200)
  t.equal((await fetch(`${url}/health`)).status, 404, 'nothing outside the prefix')
  t.equal((await fetch(`${url}/chat`, { redirect: 'manual' })).headers.get('location'), '/chat/', 'the web page takes its trailing slash')
  t.equal((await fetch(`${url}/chat/`)).status, 200, 'and is served from the package')
  const script = await fetch(`${url}/chat/web/sealwire-web.js`, { headers: { 'accept-encoding': 'gzip' } })
  t.equal(script.headers.get('content-encoding'), 'gzip', 'its script, compressed at build time')
  const dashboard = await (await fetch(`${url}/chat/dashboard`)).text()
  t.match(dashboard, '<base href="/chat/">', 'the dashboard has its base filled in')
  const js = /src="(dashboard\/app\.js\?v=[\w-]+)"/.exec(dashboard)?.[1] ?? 'none'
  t.equal((await fetch(`${url}/chat/${js}`)).status, 200, js)

  const alice = createNodeClient({ serverUrl: `${url}/chat`, identity: generateIdentity('alice'), store: new MemoryStore() })
  t.teardown(() => alice.close())
  await alice.register()
  await alice.connect()
  t.same(await alice.command('weather', 'Lisbon'), { sender: 'alice', place: 'Lisbon', sky: 'clear' }, 'the host\'s command, signed and run')
  t.equal(await alice.command('late'), 'late', 'one added after listen')
  await t.rejects(alice.command('weather'), { code: 'command_failed', message: /say where/ }, 'its CommandError reaches the client')
  t.ok((await alice.command('list_commands') as Array<{ name: string }>).some((c) => c.name === 'weather'), 'list_commands has it')
  alice.close()
  await server.stop()
  await server.line(/"event":"closed"/)
})

t.test('only the database and authentication plugins, with their dependencies, under the host\'s own routes', async (t) => {
  const server = start(t, process.execPath, ['dist/plugins.js'], { cwd: app, env: env({ CHAT_DB: join(tempDir(t), 'auth.db'), CHAT_SECRET: TEST_JWT_SECRET }) })
  const { url, inside } = JSON.parse(await server.line(/"event":"listening"/)) as { url: string, inside: string[] }
  t.same(inside, ['config', 'db', 'users', 'authenticate'], 'their decorators, and no hub')
  const post = async (path: string, body?: object, token?: string): Promise<Response> => await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  t.equal((await post('/users', registrationBody(makeIdentity('alice')))).status, 201, 'a user registered through app.users')
  t.same(await (await fetch(`${url}/users/count`)).json(), { registered: 1 }, 'in the database')
  const { token } = await (await post('/token', { user_id: 'alice' })).json() as { token: string }
  const me = async (bearer?: string): Promise<Response> => await fetch(`${url}/me`, { headers: bearer === undefined ? {} : { authorization: `Bearer ${bearer}` } })
  t.same(await (await me(token)).json(), { user: 'alice' }, 'app.authenticate guards the host\'s route')
  t.equal((await me()).status, 401, 'without a token')
  t.equal((await post('/logout', undefined, token)).status, 204)
  t.equal((await me(token)).status, 401, 'a revoked token')
  await server.stop()
  await server.line(/"event":"closed"/)
})
