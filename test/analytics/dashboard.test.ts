import { existsSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Page } from 'playwright-core'
import t from 'tap'
import type { HubEvent } from '../../services/hub/hub.js'
import { launch, NO_BROWSER, WAIT_MS } from '../web/browser.js'
import { broadcast, direct, hubFixture, idOf } from '../ws-client.js'

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url))
const DAY = 86_400_000

/** Everything the page complains about: console errors, uncaught exceptions, failed or refused requests. */
function watch (page: Page): string[] {
  const problems: string[] = []
  page.on('console', (msg) => { if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`console ${msg.type()}: ${msg.text()}`) })
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} ${req.failure()?.errorText ?? ''}`))
  page.on('response', (res) => { if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${res.url()}`) })
  return problems
}

t.test('the dashboard in headless Chromium: key login, live charts after a burst of traffic, a screenshot', { skip: NO_BROWSER }, async (t) => {
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
  context.setDefaultTimeout(WAIT_MS)
  const page = await context.newPage()
  const problems = watch(page)
  await page.goto(`${base}/dashboard?refresh=1`)
  await page.waitForSelector('#login:not([hidden])')
  t.equal(await page.locator('#board').isHidden(), true, 'nothing is shown before the login')

  await page.fill('#key-user', 'alice')
  await page.fill('#key-secret', Buffer.from(alice.id.secretKey).toString('base64'))
  await page.click('#key-form button[type=submit]')
  await page.waitForSelector('#board:not([hidden])', { timeout: WAIT_MS })
  t.equal(await page.inputValue('#key-secret'), '', 'the key is wiped from the form')
  t.equal(await page.textContent('#who'), 'alice')

  const nonzero = async (id: string): Promise<number> => Number(await page.getAttribute(`#${id}`, 'data-nonzero') ?? 0)
  await page.waitForFunction(() => ['chart-live', 'chart-messages', 'chart-active'].every((id) => Number(document.getElementById(id)?.dataset.nonzero ?? 0) > 0), undefined, { timeout: WAIT_MS })
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
  await page.waitForFunction(() => document.getElementById('tile-connections')?.textContent === '3', undefined, { timeout: WAIT_MS })
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

/** Elements of the shown page that stick out of the viewport, and boxes whose content is wider than they are. */
async function overflowing (page: Page): Promise<string[]> {
  return await page.evaluate(() => {
    const width = document.documentElement.clientWidth
    const name = (el: Element): string => `${el.tagName.toLowerCase()}${el.id === '' ? '' : `#${el.id}`}${el.classList.length === 0 ? '' : `.${Array.from(el.classList).join('.')}`}`
    const found: string[] = []
    if (document.documentElement.scrollWidth > width) found.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} > ${width}`)
    for (const el of Array.from(document.querySelectorAll('body *'))) {
      if (el.getClientRects().length === 0) continue
      const box = el.getBoundingClientRect()
      if (box.left < -0.5 || box.right > width + 0.5) found.push(`${name(el)} spans ${Math.round(box.left)}–${Math.round(box.right)} of ${width}`)
      if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth) found.push(`${name(el)} holds ${el.scrollWidth} px in ${el.clientWidth}`)
    }
    return found
  })
}

t.test('the dashboard on a phone (375×667): every tile fits, nothing scrolls sideways; DAU, WAU and MAU are three distinct straight lines', { skip: NO_BROWSER }, async (t) => {
  const { app, url, alice, bob, connect } = await hubFixture(t, { ADMIN_USERS: 'alice', ANALYTICS_FLUSH_MS: 200 })
  const now = Date.now()
  for (let daysAgo = 6; daysAgo >= 1; daysAgo--) {
    for (let u = 0; u < daysAgo; u++) {
      const start = now - (now % DAY) - daysAgo * DAY + 9 * 3600_000
      const id = `phone-${daysAgo}-${u}`
      app.analytics.record({ kind: 'session-open', connectionId: id, userId: `user${u}`, remoteAddress: null, userAgent: null, at: start })
      app.analytics.record({ kind: 'session-close', connectionId: id, userId: `user${u}`, at: start + 3600_000 })
    }
  }
  // a few delivered messages give the latency tile a figure
  const a = await connect(alice)
  const b = await connect(bob)
  const sent = Array.from({ length: 5 }, () => direct(alice.id, 'bob'))
  for (const m of sent) a.send(m)
  for (const m of sent) {
    await b.envelope(idOf(m))
    b.ack(idOf(m))
  }
  for (const m of sent) await a.receipt(idOf(m), 'delivered')

  const browser = await launch(t)
  const context = await browser.newContext({ viewport: { width: 375, height: 667 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true })
  context.setDefaultTimeout(WAIT_MS)
  const page = await context.newPage()
  const problems = watch(page)
  await page.goto(`${url.replace(/^ws/, 'http')}/dashboard?refresh=1`)
  await page.waitForSelector('#login:not([hidden])')
  t.same(await overflowing(page), [], 'the login form fits')
  await page.fill('#token-input', alice.token)
  await page.click('#token-form button[type=submit]')
  await page.waitForSelector('#board:not([hidden])')
  await page.waitForFunction(() => document.getElementById('tile-latency')?.textContent !== '–' &&
    ['chart-live', 'chart-messages', 'chart-active'].every((id) => Number(document.getElementById(id)?.dataset.nonzero ?? 0) > 0))
  t.match(await page.textContent('#tile-latency'), /^\d+ ms \/ \d+ ms$/, 'the latency tile has its figures')
  t.same(await overflowing(page), [], 'no element sticks out and no tile cuts its figure')

  // the widest figures the tiles can get still fit (the page draws them at the next refresh)
  await page.evaluate(() => {
    for (const tile of Array.from(document.querySelectorAll('.tile .value'))) tile.textContent = tile.id === 'tile-latency' ? '999 ms / 59.999 s' : '12,345,678'
  })
  t.same(await overflowing(page), [], 'long figures wrap inside their tiles')
  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: `${ARTIFACTS}dashboard-phone.png`, fullPage: true })

  const drawn = async (id: string): Promise<Array<Record<string, unknown>>> => JSON.parse(await page.getAttribute(`#${id}`, 'data-series') ?? '[]')
  const active = await drawn('chart-active')
  t.same(active.map((s) => s.label), ['daily active (DAU)', 'weekly active (WAU)', 'monthly active (MAU)'])
  t.equal(new Set(active.map((s) => s.color)).size, 3, 'three colours')
  t.equal(new Set(active.map((s) => JSON.stringify(s.dash))).size, 3, 'three line patterns')
  t.equal(new Set(active.map((s) => s.marker)).size, 3, 'three point markers')
  t.ok(active.every((s) => s.tension === 0 && s.stepped === false), 'straight segments: no smoothing')
  t.ok((await drawn('chart-live')).every((s) => s.tension === 0), 'the live chart is not smoothed either')
  t.same(JSON.parse(await page.getAttribute('#chart-active', 'data-legend') ?? '[]'), active.map((s) => s.label), 'a legend names each line')
  t.same(problems, [], 'no console error, page error or failed request')
})
