import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { chmodSync, statSync } from 'node:fs'
import { createServer } from 'node:http'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { PassThrough } from 'node:stream'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { normaliseServerUrl } from '../../client/cli.js'
import { privateKeyForEnv } from '../../client/cli-identity.js'
import { InputLines, parseSlash } from '../../client/cli-input.js'
import { generateIdentity } from '../../client/node.js'
import { build, makeIdentity, register, tempDir } from '../helper.js'
import { JsonLines, type JsonEvent } from '../json-lines.js'

const BIN = fileURLToPath(new URL('../../bin/sealwire.ts', import.meta.url))
type Event = JsonEvent
/** bounds a failure only: each client is a fresh process compiling TypeScript, slow on a loaded machine */
const PROCESS_DEADLINE_MS = 120_000
t.setTimeout(900_000)

function env (home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, SEALWIRE_HOME: home, ...extra }
}

/** Runs the CLI to its end. Not spawnSync: the server under test lives in this process and must keep answering. */
async function run (home: string, args: string[], extra: Record<string, string> = {}): Promise<{ status: number | null, events: Event[], stderr: string, stdout: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', BIN, ...args], { env: env(home, extra), timeout: PROCESS_DEADLINE_MS })
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

/** The terminal client without --json, its input piped: the lines it prints, taken as they come. */
function textChat (t: Test, home: string, args: string[], extra: Record<string, string> = {}): { proc: ChildProcessWithoutNullStreams, next: (match: RegExp) => Promise<string>, lines: string[], exited: Promise<number | null> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', BIN, 'chat', ...args], { env: env(home, extra) })
  t.teardown(() => { proc.kill() })
  const lines: string[] = []
  const waiters: Array<{ match: RegExp, resolve: (line: string) => void }> = []
  createInterface({ input: proc.stdout }).on('line', (line) => {
    const i = waiters.findIndex((w) => w.match.test(line))
    if (i >= 0) waiters.splice(i, 1)[0]?.resolve(line)
    else lines.push(line)
  })
  const next = async (match: RegExp): Promise<string> => {
    const i = lines.findIndex((l) => match.test(l))
    if (i >= 0) return lines.splice(i, 1)[0] as string
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${String(match)} within ${PROCESS_DEADLINE_MS} ms; saw ${JSON.stringify(lines)}`)), PROCESS_DEADLINE_MS)
      waiters.push({ match, resolve: (line) => { clearTimeout(timer); resolve(line) } })
    })
  }
  return { proc, next, lines, exited: new Promise((resolve) => proc.on('exit', resolve)) }
}

/** WS_USER_ID and WS_PRIVATE_KEY for a fresh identity, as `keygen --print` gives them. */
function envIdentity (userId: string, server: string): Record<string, string> {
  return { WS_USER_ID: userId, WS_PRIVATE_KEY: privateKeyForEnv(generateIdentity(userId, userId)), WS_SERVER_URL: server }
}

/**
 * The app behind a listener that holds every HTTP request and upgrade until `answer()`; `asked` resolves at
 * the first one. (Requests by `inject` do not pass the gate.)
 */
async function gatedServer (t: Test): Promise<{ app: Awaited<ReturnType<typeof build>>, asked: Promise<void>, answer: () => void }> {
  let answer!: () => void
  const gate = new Promise<void>((resolve) => { answer = resolve })
  let arrived!: () => void
  const asked = new Promise<void>((resolve) => { arrived = resolve })
  const app = await build(t, {
    server: {
      serverFactory: (handler) => createServer((req, res) => {
        arrived()
        void gate.then(() => handler(req, res))
      })
    }
  })
  return { app, asked, answer }
}

t.test('slash commands and server addresses are read as users write them', async (t) => {
  t.same(parseSlash('/dm bob hello there'), { cmd: 'dm', to: 'bob', text: 'hello there' })
  t.same(parseSlash('/dm bob'), { cmd: 'dm', to: 'bob' }, 'opens the conversation without sending')
  t.same(parseSlash('/open bob'), { cmd: 'open', peer: 'bob' })
  t.same(parseSlash('/history bob'), { cmd: 'history', peer: 'bob' })
  t.same(parseSlash('/cmd echo {"a":1}'), { cmd: 'command', name: 'echo', params: { a: 1 } })
  t.same(parseSlash('just text'), { cmd: 'say', text: 'just text' }, 'a line without a slash goes to the open conversation, never to all')
  t.same(parseSlash('/all just text'), { cmd: 'all', text: 'just text' })
  t.same(parseSlash('/quit'), { cmd: 'quit' })
  t.same(parseSlash('/verify bob'), { cmd: 'verify', user: 'bob' })
  t.same(parseSlash('/accept bob'), { cmd: 'accept', user: 'bob' })
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
  t.equal(await alice.exited, 1, 'two of alice\'s commands failed: the exit status says so')
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

t.test('--help says that /all is public and what the exit status means', async (t) => {
  const help = await run(tempDir(t), ['--help'])
  t.equal(help.status, 0)
  t.match(help.stdout, /a line without a slash is an end-to-end encrypted direct message to the open conversation/)
  t.match(help.stdout, /\/all <text> +a PUBLIC broadcast: NOT encrypted/)
  t.match(help.stdout, /"cmd":"history","peer":"bob"/)
  t.match(help.stdout, /exits with status 1/)
})

t.test('a plain line goes encrypted to the open conversation; with none open it is refused, not broadcast', async (t) => {
  const app = await build(t)
  const server = await app.listen({ port: 0, host: '127.0.0.1' })
  const home = tempDir(t)
  const bob = chat(t, home, ['--register'], envIdentity('bob', server))
  await bob.next((e) => e.event === 'connected')
  const alice = textChat(t, home, ['--register'], envIdentity('alice', server))
  await alice.next(/^\* connected as alice$/)
  const type = (line: string): void => { alice.proc.stdin.write(`${line}\n`) }

  type('nobody should read this')
  t.equal(await alice.next(/^!/), '! no_conversation: no open conversation: /dm <user> <text> or /open <user>')
  type('/all a public line')
  t.match(await alice.next(/broadcast/), /public, not encrypted/)
  t.match(await bob.next((e) => e.event === 'broadcast'), { from: 'alice', text: 'a public line' }, 'the first broadcast bob sees is the /all one')

  type('/open ghost')
  t.match(await alice.next(/^!/), /^! unknown_user: /)
  type('/open bob')
  t.match(await alice.next(/^\* conversation with bob/), /encrypted/)
  type('a secret for bob')
  t.match(await alice.next(/^\* sent /), / to bob \(encrypted\)$/)
  t.match(await bob.next((e) => e.event === 'message'), { from: 'alice', text: 'a secret for bob' })

  type('/close')
  await alice.next(/^\* closed the conversation with bob$/)
  type('not sent either')
  t.match(await alice.next(/^!/), /^! no_conversation: /)
  type('/dm bob second secret')
  await alice.next(/^\* sent /)
  type('and a follow-up')
  await alice.next(/^\* sent /)
  t.match(await bob.next((e) => e.event === 'message'), { text: 'second secret' })
  t.match(await bob.next((e) => e.event === 'message'), { text: 'and a follow-up' }, '/dm opened the conversation')

  type('/history bob')
  await alice.next(/\[alice\] a secret for bob$/)
  type('/history ghost')
  t.match(await alice.next(/^!/), /^! unknown_user: /)
  alice.proc.stdin.end()
  t.equal(await alice.exited, 1, 'piped input with failed commands: status 1')
  t.notOk(bob.events.some((e) => e.event === 'broadcast'), 'no plain line was broadcast')
  bob.send({ cmd: 'quit' })
  t.equal(await bob.exited, 0)
})

t.test('/safety shows the trust state; /verify marks a key verified; a changed key needs /accept before anything is sent', async (t) => {
  const app = await build(t)
  const server = await app.listen({ port: 0, host: '127.0.0.1' })
  const home = tempDir(t)
  await register(app, makeIdentity('bob'))
  const alice = chat(t, home, ['--register'], envIdentity('alice', server))
  await alice.next((e) => e.event === 'connected')
  alice.send({ cmd: 'safety', user: 'bob', ref: 1 })
  const first = await alice.next((e) => e.ref === 1)
  t.match(first, { event: 'safety', user_id: 'bob', trust: null, safety_number: /^(\d{5} ){11}\d{5}$/ }, 'asking pins nothing')
  alice.send({ cmd: 'dm', to: 'bob', text: 'first contact', ref: 2 })
  await alice.next((e) => e.ref === 2)
  alice.send({ cmd: 'safety', user: 'bob', ref: 3 })
  t.match(await alice.next((e) => e.ref === 3), { trust: 'unverified' }, 'pinned on first use')
  alice.send({ cmd: 'verify', user: 'bob', ref: 4 })
  t.match(await alice.next((e) => e.ref === 4), { event: 'verified', user_id: 'bob', trust: 'verified', safety_number: first.safety_number })

  // the server hands out another identity key for bob
  const swapped = makeIdentity('bob')
  await app.db.updateTable('users').set({ public_key: swapped.public_key, x25519_public_key: swapped.x25519_public_key, x25519_key_signature: swapped.x25519_key_signature }).where('user_id', '=', 'bob').execute()
  alice.send({ cmd: 'verify', user: 'bob', ref: 5 })
  t.match(await alice.next((e) => e.ref === 5), { event: 'error', code: 'key_changed', command: 'verify' }, 'a changed key is not marked verified')
  alice.send({ cmd: 'dm', to: 'bob', text: 'must not go to the new key', ref: 6 })
  t.match(await alice.next((e) => e.ref === 6), { event: 'error', code: 'key_changed', command: 'dm' })
  alice.send({ cmd: 'accept', user: 'bob', ref: 7 })
  const accepted = await alice.next((e) => e.ref === 7)
  t.match(accepted, { event: 'accepted', user_id: 'bob', trust: 'unverified' })
  t.not(accepted.safety_number, first.safety_number, 'the new number is shown')
  alice.send({ cmd: 'dm', to: 'bob', text: 'after consent', ref: 8 })
  t.match(await alice.next((e) => e.ref === 8), { event: 'sent', to: 'bob' })
  const sent = await app.db.selectFrom('messages').select('id').where('to_user', '=', 'bob').execute()
  t.equal(sent.length, 2, 'nothing went out between the change and the consent')
  alice.send({ cmd: 'quit' })
  t.equal(await alice.exited, 1, 'two commands failed')
})

t.test('commands piped in before the server answered wait for the connection and run in order', async (t) => {
  const { app, asked, answer } = await gatedServer(t)
  await register(app, makeIdentity('bob'))
  const server = await app.listen({ port: 0, host: '127.0.0.1' })
  const daveEnv = envIdentity('dave', server)
  const dave = chat(t, tempDir(t), ['--register'], daveEnv)
  const commands = [
    { cmd: 'command', name: 'ping', ref: 1 },
    { cmd: 'dm', to: 'bob', text: 'queued before the connection', ref: 2 },
    { cmd: 'all', text: 'public', ref: 3 },
    { cmd: 'history', peer: 'ghost', ref: 4 },
    'not json',
    { cmd: 'dm', to: 'nobody', text: 'x', ref: 5 },
    { cmd: 'history', user: 'bob', ref: 6 },
    { cmd: 'history', peer: 'bob', ref: 'last' }
  ]
  dave.proc.stdin?.end(commands.map((c) => typeof c === 'string' ? c : JSON.stringify(c)).join('\n') + '\n')
  await asked
  t.same(dave.events, [], 'the server has not answered anything yet')
  answer()

  const last = await dave.next((e) => e.ref === 'last')
  t.match(last, { event: 'history', peer: 'bob', messages: [{ from: 'dave', to: 'bob', text: 'queued before the connection' }] })
  t.same(dave.events.map((e) => e.event), ['registered', 'connected', 'result', 'sent', 'sent', 'error', 'error', 'error', 'history'], 'every command, in order')
  const [ping, dm, all, ghost, invalid, nobody, alias] = dave.events.slice(2)
  t.match(ping, { ref: 1, result: 'pong' })
  t.match(dm, { ref: 2, to: 'bob' })
  t.match(all, { ref: 3, to: '*' })
  t.match(ghost, { ref: 4, code: 'unknown_user', command: 'history' }, 'history refuses a peer that is not a user')
  t.match(invalid, { code: 'invalid_json' })
  t.match(nobody, { ref: 5, code: 'unknown_user', command: 'dm' })
  t.match(alias, { ref: 6, peer: 'bob', messages: [{ text: 'queued before the connection' }] }, '"user" is still read')
  t.equal(await dave.exited, 1, 'three commands failed when the input ended')

  const again = chat(t, tempDir(t), [], daveEnv)
  again.send({ cmd: 'users', ref: 1 })
  again.proc.stdin?.end()
  t.match(await again.next((e) => e.ref === 1), { event: 'users', users: ['dave'] })
  t.equal(await again.exited, 0, 'every command ran: status 0 when the input ends')
})

t.test('when the connection cannot be made, every command waiting is reported by name and ref', async (t) => {
  const { app, asked, answer } = await gatedServer(t)
  const server = await app.listen({ port: 0, host: '127.0.0.1' })
  // not registered, and no --register: the login is refused
  const erin = chat(t, tempDir(t), [], envIdentity('erin', server))
  erin.proc.stdin?.end(`${JSON.stringify({ cmd: 'dm', to: 'bob', text: 'x', ref: 'a' })}\n${JSON.stringify({ cmd: 'users' })}\n`)
  await asked
  answer()
  t.match(await erin.next((e) => e.ref === 'a'), { event: 'error', code: 'not_run', command: 'dm' })
  t.match(await erin.next((e) => e.command === 'users'), { event: 'error', code: 'not_run' })
  t.match(await erin.next((e) => e.event === 'error' && e.command === undefined), { code: 'unknown_user' }, 'and why')
  t.equal(await erin.exited, 1)
})

t.test('SEALWIRE_HOME is private: made with mode 700, tightened when others can enter it', async (t) => {
  const home = join(tempDir(t), 'made', 'sealwire')
  const first = await run(home, ['keygen', '--user', 'alice'])
  t.equal(first.status, 0, first.stderr)
  t.equal(statSync(home).mode & 0o777, 0o700)
  t.equal(statSync(join(home, '..')).mode & 0o777, 0o700, 'and any folder made on the way')

  chmodSync(home, 0o755)
  const second = await run(home, ['keygen', '--user', 'bob'])
  t.equal(second.status, 0, second.stderr)
  t.equal(statSync(home).mode & 0o777, 0o700, 'tightened')
  t.match(second.stderr, /was open to others \(mode 755\).*now mode 700/)

  // a shared folder such as /tmp is never changed, only warned about
  chmodSync(home, 0o1777)
  const shared = await run(home, ['keygen', '--user', 'carol'])
  t.equal(shared.status, 0, shared.stderr)
  t.equal(statSync(home).mode & 0o7777, 0o1777)
  t.match(shared.stderr, /is open to others \(mode 1777\).*chmod 700 it/)
})

t.test('input read ahead is kept in order, also past the read-ahead bound', async (t) => {
  const stream = new PassThrough()
  const input = new InputLines(createInterface({ input: stream }))
  const sent = Array.from({ length: 3000 }, (_, i) => `line ${i}`)
  for (let i = 0; i < sent.length; i += 500) stream.write(sent.slice(i, i + 500).join('\n') + '\n')
  stream.end()
  const got: string[] = []
  for await (const line of input) got.push(line)
  t.same(got, sent)
})
