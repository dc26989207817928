import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import Fastify from 'fastify'
import t from 'tap'
import sealwire from '../../app.js'
import { bundleWebPage } from '../../client/bundle.js'
import webRoutes from '../../routes/web.js'
import { build, tempDir, TEST_JWT_SECRET } from '../helper.js'

// first: build() wraps the app's export with fastify-plugin, which marks that very function as not encapsulated,
// and a prefix would then be ignored
t.test('mounted under a prefix, the page and its files follow it', async (t) => {
  const host = Fastify()
  await host.register(sealwire, { prefix: '/chat', env: {}, config: { DB_PATH: join(tempDir(t), 'p.db'), JWT_SECRET: TEST_JWT_SECRET } })
  t.teardown(() => host.close())
  const bare = await host.inject({ url: '/chat?x=1' })
  t.equal(bare.statusCode, 302)
  t.equal(bare.headers.location, '/chat/?x=1', 'relative links need the trailing slash')
  t.equal((await host.inject({ url: '/chat/' })).statusCode, 200)
  t.equal((await host.inject({ url: '/chat/web/styles.css' })).statusCode, 200)
})

t.test('the page: a strict Content-Security-Policy, no inline script or style, nothing from elsewhere', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/', headers: { host: 'chat.example:8443' } })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/html; charset=utf-8/)
  const csp = String(res.headers['content-security-policy'])
  t.match(csp, /default-src 'self'/)
  t.match(csp, /script-src 'self'(;|$)/)
  t.match(csp, /style-src 'self'(;|$)/)
  t.match(csp, /connect-src 'self' ws:\/\/chat\.example:8443 wss:\/\/chat\.example:8443(;|$)/, 'WebSockets to the page\'s own host only')
  t.match(csp, /frame-ancestors 'none'/)
  t.match(csp, /require-trusted-types-for 'script'/)
  t.notMatch(csp, /unsafe-inline|unsafe-eval|\*/)
  t.equal(res.headers['x-content-type-options'], 'nosniff')

  const html = res.body
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)]
  t.equal(scripts.length, 1, 'one script')
  for (const [, attrs, body] of scripts) {
    t.match(attrs, /type="module" src="web\/sealwire-web\.js"/)
    t.equal(body?.trim(), '', 'and it is not inline')
  }
  t.notMatch(html, /\son[a-z]+\s*=/i, 'no inline event handlers')
  t.notMatch(html, /\sstyle\s*=/i, 'no inline styles')
  t.notMatch(html, /<style/i)
  for (const [, url] of html.matchAll(/(?:src|href)="([^"]*)"/g)) {
    t.notMatch(url, /^(https?:)?\/\//, `${url} is on this server`)
  }

  const sheet = await app.inject({ url: '/web/styles.css' })
  t.equal(sheet.statusCode, 200)
  t.match(sheet.headers['content-type'], /^text\/css/)
  t.notMatch(sheet.body, /@import|@font-face|url\(/, 'no fonts or images from anywhere')

  const script = await app.inject({ url: '/web/sealwire-web.js' })
  t.equal(script.statusCode, 200)
  t.match(script.headers['content-type'], /^text\/javascript/)
  t.notMatch(script.body, /^\s*import\s|\bfrom\s*["'][^"']+["'];/m, 'one module: the SDK is bundled in')
  t.notMatch(script.body, /\beval\(|new Function\(/, 'nothing that a strict CSP refuses')
  t.ok(script.body.length < 400_000, `${Math.round(script.body.length / 1024)} KiB`)
  const again = await app.inject({ url: '/web/sealwire-web.js', headers: { 'if-none-match': String(script.headers.etag) } })
  t.equal(again.statusCode, 304, 'revalidated by ETag')
  t.equal((await app.inject({ url: '/web/sealwire-web.js.map' })).statusCode, 200)
  t.equal((await app.inject({ url: '/web/icon.svg' })).headers['content-type'], 'image/svg+xml')
  t.equal((await app.inject({ method: 'HEAD', url: '/' })).statusCode, 200)

  for (const url of ['/web/nope.js', '/web/index.html', '/web/..%2Fapp.ts', '/web/app.ts']) {
    const missing = await app.inject({ url })
    t.equal(missing.statusCode, 404, url)
    t.match(missing.json(), { code: 'not_found' })
  }
  const doc = (await app.inject({ url: '/docs/json' })).json()
  t.notOk(doc.paths['/'] ?? doc.paths['/web/{file}'], 'the page is not in the API document')
})

t.test('https pages allow only wss:', async (t) => {
  const app = await build(t, { server: { trustProxy: true } })
  const res = await app.inject({ url: '/', headers: { host: 'chat.example', 'x-forwarded-proto': 'https' } })
  t.match(String(res.headers['content-security-policy']), /connect-src 'self' wss:\/\/chat\.example(;|$)/)
})

t.test('npm run build output is served as it is, without esbuild', async (t) => {
  const dir = tempDir(t)
  await bundleWebPage(dir)
  for (const name of ['index.html', 'styles.css', 'icon.svg', 'sealwire-web.js', 'sealwire-web.js.map']) {
    t.ok(readFileSync(join(dir, name)).length > 0, `${name} written`)
  }
  const app = Fastify()
  await app.register(webRoutes, { dir })
  t.teardown(() => app.close())
  const script = await app.inject({ url: '/web/sealwire-web.js' })
  t.equal(script.body, readFileSync(join(dir, 'sealwire-web.js'), 'utf8'), 'the file on disk')
  t.equal((await app.inject({ url: '/' })).body, readFileSync(join(dir, 'index.html'), 'utf8'))
})
