import { spawn } from 'node:child_process'
import { existsSync, statSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import t from 'tap'
import { loadConfig, serverOptions } from '../../app.js'
import { createNodeClient, generateIdentity, MemoryStore, type DirectMessage } from '../../client/node.js'
import { httpsLocation } from '../../plugins/https-redirect.js'
import { makeDevCertificate, writeDevCertificate } from '../../services/dev-cert.js'
import { logCapture, tempDir, sealwireUnencapsulated, TEST_JWT_SECRET } from '../helper.js'

async function httpGet (port: number, path: string, host = `127.0.0.1:${port}`): Promise<{ status: number, location: string | undefined }> {
  return await new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      res.resume()
      resolve({ status: res.statusCode ?? 0, location: res.headers.location })
    }).on('error', reject).end()
  })
}

t.test('HTTPS and WSS with a generated certificate, and the HTTP redirect', async (t) => {
  const dir = tempDir(t)
  writeDevCertificate(await makeDevCertificate(), join(dir, 'server.crt'), join(dir, 'server.key'))
  const env = { TLS_CERT: join(dir, 'server.crt'), TLS_KEY: join(dir, 'server.key'), HTTP_REDIRECT_ADDR: '127.0.0.1:0', LOG_LEVEL: 'silent' }
  const config = loadConfig(env)
  t.ok(config.tls)
  const app = Fastify({ ...serverOptions(config), logger: false })
  await app.register(sealwireUnencapsulated, { env: { ...env, DB_PATH: join(dir, 'tls.db'), JWT_SECRET: TEST_JWT_SECRET } })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  t.match(url, /^https:\/\//)

  const alice = createNodeClient({ serverUrl: url, identity: generateIdentity('alice'), insecureTls: true, store: new MemoryStore() })
  const bob = createNodeClient({ serverUrl: url, identity: generateIdentity('bob'), insecureTls: true, store: new MemoryStore() })
  t.teardown(() => { alice.close(); bob.close() })
  await alice.register()
  await bob.register()
  await alice.connect()
  await bob.connect()
  const got = new Promise<DirectMessage>((resolve) => bob.on('message', resolve))
  await alice.sendDirect('bob', 'over wss')
  t.equal((await got).text, 'over wss', 'a message over WSS')

  const strict = createNodeClient({ serverUrl: url, identity: generateIdentity('carol'), store: new MemoryStore() })
  await t.rejects(strict.register(), { code: 'unreachable' }, 'without INSECURE_TLS a self-signed certificate is refused')

  const res = await fetch(`${url}/health`).catch((err: Error) => err)
  t.ok(res instanceof Error, 'plain fetch refuses the certificate too')

  const redirect = app.httpRedirectServer?.address() as AddressInfo
  const httpsPort = (app.server.address() as AddressInfo).port
  const moved = await httpGet(redirect.port, '/auth/login?verify=true')
  t.equal(moved.status, 301)
  t.equal(moved.location, `https://127.0.0.1:${httpsPort}/auth/login?verify=true`, 'same host and path on HTTPS')
  const named = await httpGet(redirect.port, '/ws', 'chat.example:80')
  t.equal(named.location, `https://chat.example:${httpsPort}/ws`)
  t.equal((await httpGet(redirect.port, '/', 'bad host!')).status, 400, 'a Host header that is not a host is refused')

  const health = await new Promise<Record<string, string | string[] | undefined>>((resolve, reject) => {
    const req = httpsRequest(`${url}/health`, { rejectUnauthorized: false }, (r) => { r.resume(); resolve(r.headers) })
    req.on('error', reject).end()
  })
  t.match(health['strict-transport-security'], /max-age=31536000/, 'HSTS over HTTPS')
})

t.test('TLS files but a server made without HTTPS: plain HTTP, no HSTS, no redirect listener, and a warning', async (t) => {
  const dir = tempDir(t)
  writeDevCertificate(await makeDevCertificate(), join(dir, 'server.crt'), join(dir, 'server.key'))
  const { stream, lines } = logCapture()
  const app = Fastify({ logger: { level: 'warn', stream } })
  await app.register(sealwireUnencapsulated, { env: { TLS_CERT: join(dir, 'server.crt'), TLS_KEY: join(dir, 'server.key'), HTTP_REDIRECT_ADDR: '127.0.0.1:0', DB_PATH: join(dir, 'plain.db'), JWT_SECRET: TEST_JWT_SECRET } })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  t.match(url, /^http:\/\//)
  t.equal(app.httpRedirectServer, null, 'no redirect to an HTTPS that is not there')
  t.equal(app.config.tls, null, 'the settings say what the server does')
  t.equal((await fetch(`${url}/health`)).headers.get('strict-transport-security'), null)
  t.equal(lines.filter((l) => l.includes('this server was made without HTTPS')).length, 1)
})

t.test('TLS settings: both files or none, server.crt/server.key found in the working folder', async (t) => {
  const dir = tempDir(t)
  t.throws(() => loadConfig({ TLS_CERT: join(dir, 'x.crt') }, {}, dir), { name: 'ConfigError', variable: 'TLS_KEY' })
  t.throws(() => loadConfig({ TLS_CERT: join(dir, 'x.crt'), TLS_KEY: join(dir, 'x.key') }, {}, dir), { name: 'ConfigError', variable: 'TLS_CERT', message: /does not exist/ })
  t.equal(loadConfig({}, {}, dir).tls, null)
  writeFileSync(join(dir, 'server.crt'), 'x')
  writeFileSync(join(dir, 'server.key'), 'x')
  const found = loadConfig({}, {}, dir)
  t.same(found.tls, { cert: join(dir, 'server.crt'), key: join(dir, 'server.key') })
  t.same(found.listen, { host: '0.0.0.0', port: 443 }, ':443 with TLS')
  t.same(found.httpRedirect, { host: '0.0.0.0', port: 80 }, 'and the redirect on :80')
  t.equal(loadConfig({ HTTP_REDIRECT_ADDR: 'off' }, {}, dir).httpRedirect, null)
  t.same(loadConfig({ SERVER_ADDR: ':8443' }, {}, dir).listen.port, 8443)
})

t.test('redirect locations', async (t) => {
  t.equal(httpsLocation('example.com', '/a?b=1', 443), 'https://example.com/a?b=1')
  t.equal(httpsLocation('example.com:80', '/', 8443), 'https://example.com:8443/')
  t.equal(httpsLocation('[::1]:80', '/x', 443), 'https://[::1]/x')
  t.equal(httpsLocation('evil.com/path', '/', 443), undefined)
  t.equal(httpsLocation(undefined, '/', 443), undefined)
})

t.test('npm run gen-cert writes a certificate and a private key (mode 600), and does not overwrite them', async (t) => {
  const dir = tempDir(t)
  const bin = fileURLToPath(new URL('../../bin/gen-cert.ts', import.meta.url))
  const run = async (): Promise<number | null> => await new Promise((resolve) => {
    spawn(process.execPath, ['--import', 'tsx', bin, '--out', dir], { stdio: 'ignore' }).on('close', resolve)
  })
  t.equal(await run(), 0)
  t.ok(existsSync(join(dir, 'server.crt')))
  t.equal(statSync(join(dir, 'server.key')).mode & 0o777, 0o600)
  t.equal(await run(), 1, 'refuses to overwrite')
})
