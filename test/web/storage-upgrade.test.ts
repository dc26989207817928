// The page's IndexedDB from before key epochs (version 1: pins and seen ids) is upgraded in place: pins become
// unverified peers at epoch 0, seen ids stay seen, and the old store goes.
import { join } from 'node:path'
import t from 'tap'
import { build, tempDir } from '../helper.js'
import { context, launch, NO_BROWSER } from './browser.js'

t.test('a version 1 database keeps its pins as unverified peers', { skip: NO_BROWSER }, async (t) => {
  const app = await build(t, { config: { DB_PATH: join(tempDir(t), 'upgrade.db') } })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const errors: string[] = []
  // Chromium asks for /favicon.ico beside the bare SVG document, and logs its 404
  const page = await (await context(await launch(t), 'upgrade', errors, undefined, [/status of 404 \(Not Found\)/])).newPage()
  // a file of the same origin: IndexedDB is set up as version 1 left it before the page's script runs
  await page.goto(`${url}/web/icon.svg`)
  await page.evaluate(async () => {
    await new Promise<void>((resolve, reject) => {
      const request = indexedDB.open('sealwire', 1)
      request.onupgradeneeded = () => {
        const db = request.result
        for (const name of ['identities', 'pins', 'seen', 'conversations', 'settings']) {
          const store = db.createObjectStore(name)
          if (name === 'seen') store.createIndex('at', 'at')
        }
        const tx = request.transaction
        tx?.objectStore('pins').put({ public_key: 'BOBKEY', pinned_at: '2026-01-01T00:00:00.000Z' }, 'alice\nbob')
        tx?.objectStore('seen').put({ at: 1234 }, 'alice\nbob\nm1')
      }
      request.onsuccess = () => { request.result.close(); resolve() }
      request.onerror = () => { reject(request.error) }
    })
  })
  await page.goto(url)
  await page.locator('#create-user-id').waitFor()
  const after = await page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open('sealwire')
      request.onsuccess = () => { resolve(request.result) }
      request.onerror = () => { reject(request.error) }
    })
    const get = async (store: string, key: string): Promise<unknown> => await new Promise((resolve, reject) => {
      const request = db.transaction(store).objectStore(store).get(key)
      request.onsuccess = () => { resolve(request.result) }
      request.onerror = () => { reject(request.error) }
    })
    const result = { version: db.version, stores: Array.from({ length: db.objectStoreNames.length }, (_, i) => db.objectStoreNames.item(i) ?? '').sort(), peer: await get('peers', 'alice\nbob'), seen: await get('seen', 'alice\nbob\nm1') }
    db.close()
    return result
  })
  t.equal(after.version, 2)
  t.same(after.stores, ['conversations', 'floors', 'identities', 'peers', 'seen', 'settings'], 'pins are gone, peers and floors are there')
  t.same(after.peer, { public_key: 'BOBKEY', trust: 'unverified', epoch: 0, encryption_key: null }, 'the pin is an unverified peer')
  t.same(after.seen, { at: 1234 }, 'a seen id stays seen')
  t.same(errors, [], 'no console errors')
})
