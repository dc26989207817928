import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import WebSocket from 'ws'
import { bundleBrowserSdk } from '../../client/bundle.js'
import { build, tempDir } from '../helper.js'

type Sdk = typeof import('../../client/index.js')

t.test('the browser bundle is self-contained and round-trips an encrypted message', async (t) => {
  const dir = tempDir(t)
  // .mjs: the temporary folder has no package.json saying "type": "module"
  const outfile = join(dir, 'sealwire.browser.mjs')
  await bundleBrowserSdk(outfile)
  const code = readFileSync(outfile, 'utf8')
  t.notMatch(code, /\bfrom\s*["'](node:|ws|fs|crypto)["']|require\(/, 'no Node imports left in the bundle')
  t.ok(code.length < 400_000, `bundle is ${Math.round(code.length / 1024)} KiB`)

  const sdk = await import(pathToFileURL(outfile).href) as Sdk
  const app = await build(t)
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  // what a browser provides: a WebSocket, fetch and crypto (Node 20 has the last two)
  const webSocket = (u: string) => new WebSocket(u) as unknown as import('../../client/index.js').WebSocketLike
  const alice = new sdk.SealwireClient({ serverUrl: url, identity: sdk.generateIdentity('alice'), webSocket })
  const bob = new sdk.SealwireClient({ serverUrl: url, identity: sdk.generateIdentity('bob'), webSocket })
  t.teardown(() => { alice.close(); bob.close() })
  await alice.register()
  await bob.register()
  await alice.connect()
  await bob.connect()
  const got = new Promise<string>((resolve) => bob.on('message', (m) => { resolve(m.text) }))
  const sent = await alice.sendDirect('bob', 'from the browser build')
  t.equal(await got, 'from the browser build')
  await sent.delivered
})
