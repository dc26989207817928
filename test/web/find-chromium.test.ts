// Which browser the browser tests use: CHROMIUM_PATH, then /usr/bin/chromium, then chromium-browser on the PATH.
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { tempDir } from '../helper.js'
import { findChromium } from './browser.js'

t.test('CHROMIUM_PATH first, then the system browser, then chromium-browser on the PATH; nothing when none is there', async (t) => {
  const dir = tempDir(t)
  const make = (name: string): string => {
    const path = join(dir, name)
    writeFileSync(path, '#!/bin/sh\n')
    chmodSync(path, 0o755)
    return path
  }
  const asked = make('my-chromium')
  const system = make('chromium')
  const onPath = make('chromium-browser')
  writeFileSync(join(dir, 'not-executable'), '')
  const missing = join(dir, 'missing')

  t.equal(findChromium({ CHROMIUM_PATH: asked, PATH: dir }, system), asked)
  t.equal(findChromium({ CHROMIUM_PATH: missing, PATH: dir }, system), undefined, 'a wrong CHROMIUM_PATH is not silently replaced')
  t.equal(findChromium({ CHROMIUM_PATH: join(dir, 'not-executable') }, system), undefined)
  t.equal(findChromium({ CHROMIUM_PATH: '', PATH: dir }, system), system)
  t.equal(findChromium({ PATH: `/nonexistent:${dir}` }, missing), onPath)
  t.equal(findChromium({ PATH: '/nonexistent' }, missing), undefined)
  t.equal(findChromium({}, missing), undefined)
})
