// Helpers for the browser tests (web client and dashboard): a system Chromium through playwright-core, never a
// downloaded browser. Without one the browser tests skip and say why.
import { accessSync, constants, mkdirSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core'
import type { Test } from 'tap'

export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url))
export const PHONE: BrowserContextOptions = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }
export const DESKTOP: BrowserContextOptions = { viewport: { width: 1280, height: 800 } }
/** every wait on the page: generous, for a loaded machine; a wait only lasts this long when something is wrong */
export const WAIT_MS = 30_000

const executable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** `CHROMIUM_PATH`, else Debian's /usr/bin/chromium, else `chromium-browser` on the PATH. */
export function findChromium (env: NodeJS.ProcessEnv = process.env, system = '/usr/bin/chromium'): string | undefined {
  const asked = env.CHROMIUM_PATH
  if (asked !== undefined && asked !== '') return executable(asked) ? asked : undefined
  if (executable(system)) return system
  return (env.PATH ?? '').split(delimiter).filter((dir) => dir !== '').map((dir) => join(dir, 'chromium-browser')).find(executable)
}

export const CHROMIUM = findChromium()
/** For tap's `skip` option: false, or why the browser tests cannot run here. */
export const NO_BROWSER: string | false = CHROMIUM !== undefined
  ? false
  : process.env.CHROMIUM_PATH !== undefined && process.env.CHROMIUM_PATH !== ''
    ? `CHROMIUM_PATH=${process.env.CHROMIUM_PATH} is not an executable: browser tests skipped`
    : 'no Chromium found (set CHROMIUM_PATH, or install /usr/bin/chromium or chromium-browser on the PATH): browser tests skipped'

export async function launch (t: Test): Promise<Browser> {
  if (CHROMIUM === undefined) throw new Error(String(NO_BROWSER))
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: WAIT_MS,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync']
  })
  t.teardown(async () => { await browser.close() })
  return browser
}

/**
 * Console errors and uncaught exceptions of every page of a context, named by `label`. `allow` lists the console
 * errors a test expects (Chromium logs a refused connection as one, for instance).
 */
export async function context (browser: Browser, label: string, errors: string[], options: BrowserContextOptions = DESKTOP, allow: RegExp[] = []): Promise<BrowserContext> {
  const ctx = await browser.newContext(options)
  ctx.setDefaultTimeout(WAIT_MS)
  ctx.on('page', (page) => { watch(page, label, errors, allow) })
  return ctx
}

function watch (page: Page, label: string, errors: string[], allow: RegExp[]): void {
  page.on('console', (message) => {
    if (message.type() === 'error' && !allow.some((re) => re.test(message.text()))) errors.push(`${label} console: ${message.text()}`)
  })
  page.on('pageerror', (err) => { errors.push(`${label} page error: ${err.message}`) })
}

export async function screenshot (page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true })
  const path = join(ARTIFACTS, `web-${name}.png`)
  // styles just changed are laid out and painted by the next frames; the screenshot then stops animations and the caret
  await page.evaluate(async () => { await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))) })
  await page.screenshot({ path, animations: 'disabled', caret: 'hide' })
  return path
}

export async function connected (page: Page): Promise<void> {
  await page.locator('#conn[data-state="online"]').waitFor()
}

/** Creates, registers and logs in a new identity from the welcome screen. */
export async function createIdentity (page: Page, userId: string, username?: string): Promise<void> {
  await page.locator('#create-user-id').fill(userId)
  if (username !== undefined) await page.locator('#create-username').fill(username)
  await page.locator('#create-button').click()
  await connected(page)
}

/** Opens a conversation with `peer` through the "Message someone" field. */
export async function openConversation (page: Page, peer: string): Promise<void> {
  await page.locator('#new-peer').fill(peer)
  await page.locator('#new-peer').press('Enter')
  await page.locator('#conv-peer', { hasText: peer }).waitFor()
}

/** Types a message and sends it with Enter. */
export async function send (page: Page, text: string): Promise<void> {
  await page.locator('#composer-input').fill(text)
  await page.locator('#composer-input').press('Enter')
}

/** The message with this text in the open conversation, optionally in a delivery state. */
export function message (page: Page, text: string, state?: string) {
  return page.locator(`#messages li${state === undefined ? '' : `[data-state="${state}"]`}`, { hasText: text })
}
