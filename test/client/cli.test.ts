import { spawn } from 'node:child_process'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { parseSlash, normaliseServerUrl } from '../../client/cli.js'
import { build, tempDir } from '../helper.js'
import { JsonLines, type JsonEvent } from '../json-lines.js'

const BIN = fileURLToPath(new URL('../../bin/sealwire.ts', import.meta.url))
type Event = JsonEvent

function env (home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, SEALWIRE_HOME: home, ...extra }
}

/** Runs the CLI to its end. Not spawnSync: the server under test lives in this process and must keep answering. */
async function run (home: string, args: string[], extra: Record<string, string> = {}): Promise<{ status: number | null, events: Event[], stderr: string, stdout: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', BIN, ...args], { env: env(home, extra), timeout: 30_000 })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve))
  const events = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Event)
  return { status, events, stderr, stdout }
}

/** The terminal client in --json mode, ended when the test ends. */
function chat (t: Test, home: string, args: string[], extra: Record<string, string> = {}): JsonLines & { exited: Promise<number | null> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', BIN, 'chat', '--json', ...args], { env: env(home, extra) })
  t.teardown(() => { proc.kill() })
  return Object.assign(new JsonLines(proc), { exited: new Promise<number | null>((resolve) => proc.on('exit', resolve)) })
}

t.test('slash commands and server addresses are read as users write them', async (t) => {
  t.same(parseSlash('/dm bob hello there'), { cmd: 'dm', to: 'bob', text: 'hello there' })
  t.same(parseSlash('/cmd echo {"a":1}'), { cmd: 'command', name: 'echo', params: { a: 1 } })
  t.same(parseSlash('just text'), { cmd: 'all', text: 'just text' })
  t.same(parseSlash('/quit'), { cmd: 'quit' })
  t.equal(normaliseServerUrl('wss://chat.example:8443/ws'), 'https://chat.example:8443')
  t.equal(normaliseServerUrl('http://localhost:3000/'), 'http://localhost:3000')
})

t.test('keygen, register and two users chatting through --json', async (t) => {
  const app = await build(t, { config: { MESSAGE_RATE_LIMIT: 100, MESSAGE_BURST_LIMIT: 100 } })
  const server = await app.listen({ port: 0, host: '127.0.0.1' })
  const home = tempDir(t)

  for (const user of ['alice', 'bob']) {
    const keygen = await run(home, ['keygen', '--user', user, '--json'])
    t.equal(keygen.status, 0, keygen.stderr)
    t.match(keygen.events, [{ event: 'keygen', user_id: user }])
    t.equal(statSync(join(home, `${user}.json`)).mode & 0o777, 0o600, 'the key file is private')
    const reg = await run(home, ['register', '--user', user, '--server', server, '--json'])
    t.equal(reg.status, 0, reg.stderr)
    t.match(reg.events, [{ event: 'registered', user_id: user }])
  }
  const again = await run(home, ['keygen', '--user', 'alice'])
  t.equal(again.status, 1, 'an existing key file is not overwritten')
  t.match(again.stderr, /exists/)

  const alice = chat(t, home, ['--user', 'alice', '--server', server])
  const bob = chat(t, home, ['--user', 'bob', '--server', server])
  await alice.next((e) => e.event === 'connected')
  await bob.next((e) => e.event === 'connected')

  alice.send({ cmd: 'dm', to: 'bob', text: 'hi bob, this is alice', ref: 1 })
  t.match(await alice.next((e) => e.event === 'sent'), { ref: 1, to: 'bob' })
  t.match(await bob.next((e) => e.event === 'message'), { from: 'alice', text: 'hi bob, this is alice' })
  await alice.next((e) => e.event === 'delivered')
  bob.send({ cmd: 'dm', to: 'alice', text: 'hello alice' })
  t.match(await alice.next((e) => e.event === 'message'), { from: 'bob', text: 'hello alice' })

  alice.send({ cmd: 'command', name: 'ping', ref: 'p' })
  t.match(await alice.next((e) => e.event === 'result'), { result: 'pong', ref: 'p' })
  alice.send({ cmd: 'users' })
  t.match(await alice.next((e) => e.event === 'users'), { users: ['alice', 'bob'] })
  alice.send({ cmd: 'safety', user: 'bob' })
  bob.send({ cmd: 'safety', user: 'alice' })
  const a = await alice.next((e) => e.event === 'safety')
  const b = await bob.next((e) => e.event === 'safety')
  t.equal(a.safety_number, b.safety_number)
  alice.send({ cmd: 'dm', to: 'nobody', text: 'x' })
  t.match(await alice.next((e) => e.event === 'error'), { code: 'unknown_user' })
  alice.proc.stdin?.write('not json\n')
  t.match(await alice.next((e) => e.event === 'error'), { code: 'invalid_json' })

  alice.send({ cmd: 'quit' })
  bob.send({ cmd: 'quit' })
  t.equal(await alice.exited, 0)
  t.equal(await bob.exited, 0)
})

t.test('the seed\'s variables: WS_USER_ID, WS_PRIVATE_KEY, WS_SERVER_URL', async (t) => {
  const app = await build(t)
  const server = await app.listen({ port: 0, host: '127.0.0.1' })
  const home = tempDir(t)
  const printed = await run(home, ['keygen', '--user', 'carol', '--print'])
  t.equal(printed.status, 0)
  const vars = Object.fromEntries(printed.stdout.trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)))
  t.match(vars, { WS_USER_ID: 'carol', WS_USERNAME: 'carol', WS_PRIVATE_KEY: /^[A-Za-z0-9+/]{86}==$/ })
  const carol = chat(t, home, ['--register'], { ...vars, WS_SERVER_URL: server.replace('http', 'ws') + '/ws' })
  t.match(await carol.next((e) => e.event === 'registered'), { user_id: 'carol' })
  await carol.next((e) => e.event === 'connected')
  carol.send({ cmd: 'all', text: 'hello from a container' })
  t.match(await carol.next((e) => e.event === 'sent'), { to: '*' })
  carol.send({ cmd: 'quit' })
  t.equal(await carol.exited, 0)
  const bad = await run(home, ['chat', '--json'], { WS_USER_ID: 'carol', WS_PRIVATE_KEY: 'short', WS_SERVER_URL: server })
  t.equal(bad.status, 1)
  t.match(bad.events, [{ event: 'error', code: 'invalid_private_key' }])
})
