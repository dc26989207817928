import { existsSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import t from 'tap'
import type { HubEvent } from '../../services/hub/hub.js'
import { broadcast, direct, hubFixture, idOf } from '../ws-client.js'

const CHROMIUM = '/usr/bin/chromium'
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url))
const DAY = 86_400_000

async function launch (t: Parameters<typeof hubFixture>[0]): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync']
  })
  t.teardown(() => browser.close())
  return browser
}

/** Everything the page complains about: console errors, uncaught exceptions, failed or refused requests. */
function watch (page: Page): string[] {
  const problems: string[] = []
  page.on('console', (msg) => { if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`console ${msg.type()}: ${msg.text()}`) })
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} ${req.failure()?.errorText ?? ''}`))
  page.on('response', (res) => { if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${res.url()}`) })
  return problems
}

t.test('the dashboard in headless Chromium: key login, live charts after a burst of traffic, a screenshot', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (.ci/run installs it)` }, async (t) => {
  const { app, url, alice, bob, connect } = await hubFixture(t, { ADMIN_USERS: 'alice', ANALYTICS_FLUSH_MS: 200 })
  const base = url.replace(/^ws/, 'http')

  // 30 days of history through the service: a varying number of users each day, some sessions over midnight
  const now = Date.now()
  const midnight = now - (now % DAY)
  for (let daysAgo = 29; daysAgo >= 1; daysAgo--) {
    const users = 3 + ((daysAgo * 7) % 11)
    for (let u = 0; u < users; u++) {
      const start = midnight - daysAgo * DAY + (u % 2 === 0 ? 9 * 3600_000 : 23.5 * 3600_000)
      const id = `history-${daysAgo}-${u}`
      const events: HubEvent[] = [
        { kind: 'session-open', connectionId: id, userId: `user${(u + daysAgo) % 20}`, remoteAddress: null, userAgent: null, at: start },
        { kind: 'session-close', connectionId: id, userId: `user${(u + daysAgo) % 20}`, at: start + 3600_000 }
      ]
      for (const e of events) app.analytics.record(e)
    }
  }

  // a burst of real traffic
  const a = await connect(alice)
  const b = await connect(bob)
  const sent = Array.from({ length: 40 }, () => direct(alice.id, 'bob'))
  for (const m of sent) a.send(m)
  for (const m of sent) {
    await b.envelope(idOf(m))
    b.ack(idOf(m))
  }
  for (const m of sent) await a.receipt(idOf(m), 'delivered')
  for (let i = 0; i < 5; i++) b.send(broadcast(bob.id, `hello ${i}`))
  const forged = direct(alice.id, 'bob', { signer: bob.id })
  a.send(forged)
  await a.error(idOf(forged))

  const browser = await launch(t)
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const page = await context.newPage()
  const problems = watch(page)
  await page.goto(`${base}/dashboard?refresh=1`)
  await page.waitForSelector('#login:not([hidden])')
  t.equal(await page.locator('#board').isHidden(), true, 'nothing is shown before the login')

  await page.fill('#key-user', 'alice')
  await page.fill('#key-secret', Buffer.from(alice.id.secretKey).toString('base64'))
  await page.click('#key-form button[type=submit]')
  await page.waitForSelector('#board:not([hidden])', { timeout: 5000 })
  t.equal(await page.inputValue('#key-secret'), '', 'the key is wiped from the form')
  t.equal(await page.textContent('#who'), 'alice')

  const nonzero = async (id: string): Promise<number> => Number(await page.getAttribute(`#${id}`, 'data-nonzero') ?? 0)
  await page.waitForFunction(() => ['chart-live', 'chart-messages', 'chart-active'].every((id) => Number(document.getElementById(id)?.dataset.nonzero ?? 0) > 0), undefined, { timeout: 5000 })
  t.ok(await nonzero('chart-live') > 0, 'connections and online users are drawn')
  t.ok(await nonzero('chart-messages') > 0, 'messages per minute are drawn')
  t.ok(await nonzero('chart-active') >= 29, 'daily and weekly active users over 30 days are drawn')
  t.equal(await page.getAttribute('#chart-active', 'data-points'), '30')
  t.equal(await page.getAttribute('#chart-messages', 'data-points'), '60')
  const inked = await page.evaluate(() => ['chart-live', 'chart-messages', 'chart-active'].map((id) => {
    const canvas = document.getElementById(id) as HTMLCanvasElement
    const data = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data ?? new Uint8ClampedArray()
    let n = 0
    for (let i = 3; i < data.length; i += 4) if ((data[i] ?? 0) > 0) n++
    return n
  }))
  t.ok(inked.every((n) => n > 1000), `every canvas has ink (${inked.join(', ')} pixels)`)
  t.equal(await page.textContent('#tile-connections'), '2')
  t.equal(await page.textContent('#tile-online'), '2')
  t.equal(await page.textContent('#tile-dau'), '7', 'alice, bob and the five whose sessions of yesterday went past midnight')

  // refreshed live: a third connection shows within a refresh or two
  await connect(bob)
  await page.waitForFunction(() => document.getElementById('tile-connections')?.textContent === '3', undefined, { timeout: 5000 })
  t.pass('the live figures follow')

  t.notMatch(page.url(), /token|eyJ/, 'no token in the URL')
  const stored = await page.evaluate(() => ({ session: Object.keys(sessionStorage), local: Object.keys(localStorage) }))
  t.same(stored, { session: ['sealwire.dashboard.token'], local: [] }, 'the token is kept for this tab only')

  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true })
  t.ok(existsSync(`${ARTIFACTS}dashboard.png`), 'screenshot written to test-artifacts/dashboard.png')
  t.same(problems, [], 'no console error, page error or failed request')

  // a reload keeps the session (sessionStorage); log out forgets it
  await page.reload()
  await page.waitForSelector('#board:not([hidden])')
  await page.click('#logout')
  await page.waitForSelector('#login:not([hidden])')
  t.same(await page.evaluate(() => Object.keys(sessionStorage)), [])
  t.same(problems, [])

  // a pasted token works too; a user who is not an admin is told so
  const other = await context.newPage()
  await other.goto(`${base}/dashboard`)
  await other.fill('#token-input', bob.token)
  await other.click('#token-form button[type=submit]')
  await other.waitForFunction(() => (document.getElementById('login-error')?.textContent ?? '') !== '')
  t.match(await other.textContent('#login-error'), /not an administrator/)
  await other.fill('#token-input', `Bearer ${alice.token}`)
  await other.click('#token-form button[type=submit]')
  await other.waitForSelector('#board:not([hidden])')
  t.pass('a pasted token logs in')
})
