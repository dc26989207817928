// The Sealwire terminal client: keygen, register, chat (readline, or JSON lines with --json). bin/sealwire.ts runs it.
import { homedir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { ed25519 } from '@noble/curves/ed25519.js'
import { fromBase64, toBase64 } from '../services/protocol/base64.js'
import type { JsonValue } from '../schemas/common.js'
import { createNodeClient, FileStore, generateIdentity, readKeyFile, SealwireError, writeKeyFile, type ClientStore, type Identity, type SealwireClient } from './node.js'

const HELP = `sealwire: the Sealwire terminal client

  sealwire keygen --user <id> [--name <name>] [--out <file> | --print]
  sealwire register [--server <url>] [--key <file>]
  sealwire chat [--server <url>] [--key <file>] [--register] [--json]

Options and variables:
  --server, WS_SERVER_URL   server address: http(s)://host:port or ws(s)://host:port/ws (default http://localhost:3000)
  --key                     key file (default ~/.sealwire/<user>.json); or WS_USER_ID + WS_PRIVATE_KEY
  --user, WS_USER_ID        user id;  --name, WS_USERNAME: display name
  WS_PRIVATE_KEY            base64 of the Ed25519 seed followed by the X25519 secret key (64 bytes; 'keygen --print')
  INSECURE_TLS=true         accept a self-signed certificate (development only)
  --register                register first when the user does not exist yet
  --json                    read one JSON command per line from standard input, print every event as one JSON line

Chat commands: /dm <user> <text>  /all <text>  /cmd <name> [json]  /users  /safety <user>
               /history <user>  /help  /quit`

type Out = (line: string) => void
const out: Out = (line) => { process.stdout.write(`${line}\n`) }
const err: Out = (line) => { process.stderr.write(`${line}\n`) }

function home (): string {
  return process.env.SEALWIRE_HOME ?? join(homedir(), '.sealwire')
}

/** http(s)://host:port from any of the forms users write. */
export function normaliseServerUrl (url: string): string {
  return url.trim().replace(/^ws(s?):\/\//, 'http$1://').replace(/\/ws\/?$/, '').replace(/\/+$/, '')
}

/** WS_PRIVATE_KEY: 64 bytes (Ed25519 seed ‖ X25519 secret), or 32 (the X25519 key is then derived). */
export function identityFromEnv (userId: string, username: string, privateKey: string): Identity {
  const bytes = fromBase64(privateKey.trim())
  if (bytes === undefined || (bytes.length !== 64 && bytes.length !== 32)) {
    throw new SealwireError('invalid_private_key', 'WS_PRIVATE_KEY must be base64 of 64 bytes (or of a 32-byte Ed25519 seed)')
  }
  const identitySecretKey = bytes.slice(0, 32)
  const encryptionSecretKey = bytes.length === 64 ? bytes.slice(32) : ed25519.utils.toMontgomerySecret(identitySecretKey)
  const probe = generateIdentity(userId, username)
  return { ...probe, identitySecretKey, encryptionSecretKey }
}

export function privateKeyForEnv (identity: Identity): string {
  return toBase64(new Uint8Array([...identity.identitySecretKey, ...identity.encryptionSecretKey]))
}

interface Options {
  server: string
  key: string | undefined
  user: string | undefined
  name: string | undefined
  out: string | undefined
  print: boolean
  register: boolean
  json: boolean
}

function loadIdentity (o: Options): { identity: Identity, store: ClientStore, keyFile: string | undefined } {
  const envKey = process.env.WS_PRIVATE_KEY
  if (o.key === undefined && envKey !== undefined && envKey !== '') {
    const userId = o.user ?? process.env.WS_USER_ID
    if (userId === undefined) throw new SealwireError('usage', 'WS_PRIVATE_KEY needs WS_USER_ID (or --user)')
    const identity = identityFromEnv(userId, o.name ?? process.env.WS_USERNAME ?? userId, envKey)
    return { identity, store: new FileStore(join(home(), `${userId}.store.json`)), keyFile: undefined }
  }
  const user = o.user ?? process.env.WS_USER_ID
  const path = o.key ?? (user === undefined ? undefined : join(home(), `${user}.json`))
  if (path === undefined) throw new SealwireError('usage', 'which identity? give --key <file>, --user <id>, or WS_USER_ID and WS_PRIVATE_KEY')
  const identity = readKeyFile(path)
  return { identity, store: new FileStore(path.replace(/\.json$/, '') + '.store.json'), keyFile: path }
}

async function keygen (o: Options): Promise<void> {
  const userId = o.user ?? process.env.WS_USER_ID
  if (userId === undefined) throw new SealwireError('usage', 'keygen needs --user <id>')
  const identity = generateIdentity(userId, o.name ?? process.env.WS_USERNAME ?? userId)
  if (o.print) {
    out(`WS_USER_ID=${identity.userId}`)
    out(`WS_USERNAME=${identity.username}`)
    out(`WS_PRIVATE_KEY=${privateKeyForEnv(identity)}`)
    return
  }
  const path = o.out ?? join(home(), `${userId}.json`)
  writeKeyFile(path, identity)
  if (o.json) out(JSON.stringify({ event: 'keygen', user_id: userId, key_file: path }))
  else out(`wrote ${path} (mode 600): keep it secret, it is your identity`)
}

async function register (client: SealwireClient, o: Options, quietIfExists: boolean): Promise<void> {
  try {
    const user = await client.register()
    if (o.json) out(JSON.stringify({ event: 'registered', user_id: user.user_id }))
    else out(`registered ${user.user_id}`)
  } catch (e) {
    if (quietIfExists && e instanceof SealwireError && e.code === 'user_exists') return
    throw e
  }
}

function describe (e: unknown): { code: string, message: string } {
  if (e instanceof SealwireError) return { code: e.code, message: e.message }
  return { code: 'error', message: e instanceof Error ? e.message : String(e) }
}

async function chat (client: SealwireClient, o: Options): Promise<void> {
  const json = o.json
  const interactive = !json && process.stdin.isTTY === true
  const rl = createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined, terminal: interactive })
  const print = (event: Record<string, unknown>, text: string): void => {
    if (json) return out(JSON.stringify(event))
    if (!interactive) return out(text)
    // clear the prompt line, print, then draw the prompt again with what the user had typed
    process.stdout.write(`\r\x1b[K${text}\n`)
    rl.prompt(true)
  }

  client.on('connected', ({ reconnected }) => print({ event: 'connected', reconnected }, reconnected ? '* reconnected' : `* connected as ${client.userId}`))
  client.on('disconnected', ({ code, willReconnect }) => print({ event: 'disconnected', code, will_reconnect: willReconnect }, `* disconnected (${code})${willReconnect ? ', reconnecting' : ''}`))
  client.on('message', (m) => print({ event: 'message', id: m.id, from: m.from, text: m.text, timestamp: m.timestamp }, `[${m.from}] ${m.text}`))
  client.on('broadcast', (m) => print({ event: 'broadcast', id: m.id, from: m.from, text: m.text, timestamp: m.timestamp }, `[${m.from} → all] ${m.text}`))
  client.on('presence', (p) => print({ event: 'presence', user_id: p.userId, status: p.status }, `* ${p.userId} is ${p.status}`))
  client.on('receipt', (r) => { if (r.status === 'delivered') print({ event: 'delivered', id: r.id }, `* delivered ${r.id.slice(0, 8)}`) })
  client.on('rejected', (r) => print({ event: 'rejected', id: r.id, from: r.from, reason: r.reason, message: r.message }, `! dropped a message from ${r.from ?? '?'}: ${r.message}`))
  client.on('key-changed', (e) => print({ event: 'key_changed', user_id: e.userId }, `!!! ${e.message}`))
  client.on('error', (e) => print({ event: 'error', code: e.code, message: e.message }, `! ${e.code}: ${e.message}`))

  await client.connect()

  const run = async (request: Record<string, unknown>): Promise<boolean> => {
    const ref = request.ref
    const reply = (event: Record<string, unknown>, text: string): void => print(ref === undefined ? event : { ...event, ref }, text)
    try {
      switch (request.cmd) {
        case 'dm': {
          const sent = await client.sendDirect(String(request.to), String(request.text))
          reply({ event: 'sent', id: sent.id, to: request.to }, `* sent ${sent.id.slice(0, 8)} to ${String(request.to)}`)
          return true
        }
        case 'all': {
          const { id } = await client.broadcast(String(request.text))
          reply({ event: 'sent', id, to: '*' }, `* broadcast ${id.slice(0, 8)}`)
          return true
        }
        case 'command': {
          const result = await client.command(String(request.name), request.params as JsonValue | undefined)
          reply({ event: 'result', command: request.name, result }, JSON.stringify(result, null, 2))
          return true
        }
        case 'users': {
          const users = await client.activeUsers()
          reply({ event: 'users', users }, `online: ${users.join(', ') || '(nobody)'}`)
          return true
        }
        case 'safety': {
          const number = await client.safetyNumber(String(request.user))
          reply({ event: 'safety', user_id: request.user, safety_number: number }, `safety number with ${String(request.user)}:\n  ${number}\ncompare it with theirs out of band`)
          return true
        }
        case 'history': {
          const { messages } = await client.history(String(request.user), { limit: 20 })
          reply({ event: 'history', user_id: request.user, messages }, messages.reverse().map((m) => `${m.timestamp} [${m.from}] ${m.text ?? `(${m.error ?? 'unreadable'})`}`).join('\n') || '(no messages)')
          return true
        }
        case 'help':
          reply({ event: 'help' }, HELP)
          return true
        case 'quit':
          return false
        default:
          reply({ event: 'error', code: 'unknown_command', message: `unknown command ${JSON.stringify(request.cmd)}` }, 'unknown command: /help lists them')
          return true
      }
    } catch (e) {
      const { code, message } = describe(e)
      reply({ event: 'error', code, message }, `! ${code}: ${message}`)
      return true
    }
  }

  if (interactive) {
    rl.setPrompt('> ')
    rl.prompt()
  }
  for await (const line of rl) {
    const request = json ? parseJsonLine(line) : parseSlash(line)
    if (request !== undefined && !await run(request)) break
    if (interactive) rl.prompt()
  }
  rl.close()
  client.close()
}

function parseJsonLine (line: string): Record<string, unknown> | undefined {
  if (line.trim() === '') return undefined
  try {
    const value = JSON.parse(line) as unknown
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>
  } catch {}
  out(JSON.stringify({ event: 'error', code: 'invalid_json', message: 'each line must be a JSON object such as {"cmd": "dm", "to": "bob", "text": "hi"}' }))
  return undefined
}

/** `/dm bob hello there` → {cmd: 'dm', to: 'bob', text: 'hello there'}; text without a slash is a broadcast. */
export function parseSlash (line: string): Record<string, unknown> | undefined {
  const trimmed = line.trim()
  if (trimmed === '') return undefined
  if (!trimmed.startsWith('/')) return { cmd: 'all', text: trimmed }
  const [word = '', ...rest] = trimmed.slice(1).split(/\s+/)
  const arg = (n: number): string => rest.slice(n).join(' ')
  switch (word) {
    case 'dm': return { cmd: 'dm', to: rest[0], text: arg(1) }
    case 'all': return { cmd: 'all', text: arg(0) }
    case 'cmd': {
      const raw = arg(1)
      let params: unknown
      try {
        params = raw === '' ? undefined : JSON.parse(raw)
      } catch {
        params = raw
      }
      return { cmd: 'command', name: rest[0], params }
    }
    case 'users': return { cmd: 'users' }
    case 'safety': return { cmd: 'safety', user: rest[0] }
    case 'history': return { cmd: 'history', user: rest[0] }
    case 'quit': case 'exit': return { cmd: 'quit' }
    default: return { cmd: 'help' }
  }
}

export async function main (argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      server: { type: 'string' }, key: { type: 'string' }, user: { type: 'string' }, name: { type: 'string' },
      out: { type: 'string' }, print: { type: 'boolean' }, register: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }
    }
  })
  const command = positionals[0]
  if (values.help === true || command === undefined) {
    out(HELP)
    return command === undefined && values.help !== true ? 2 : 0
  }
  const o: Options = {
    server: normaliseServerUrl(values.server ?? process.env.WS_SERVER_URL ?? 'http://localhost:3000'),
    key: values.key, user: values.user, name: values.name, out: values.out,
    print: values.print === true, register: values.register === true, json: values.json === true
  }
  const insecureTls = process.env.INSECURE_TLS === 'true'
  if (insecureTls) err('warning: INSECURE_TLS=true: the server certificate is not checked (development only)')
  try {
    if (command === 'keygen') {
      await keygen(o)
      return 0
    }
    const { identity, store, keyFile } = loadIdentity(o)
    // a key given in the environment cannot be saved again, so it is not rotated
    const client = createNodeClient({ serverUrl: o.server, identity, store, insecureTls, ...(keyFile === undefined ? { encryptionKeyRotationMs: 0 } : {}) })
    if (keyFile !== undefined) client.on('identity-changed', (changed) => writeKeyFile(keyFile, changed, { overwrite: true }))
    if (command === 'register') {
      await register(client, o, false)
      return 0
    }
    if (command === 'chat') {
      if (o.register) await register(client, o, true)
      await chat(client, o)
      if (store instanceof FileStore) store.flush()
      return 0
    }
    err(`unknown command ${command}\n\n${HELP}`)
    return 2
  } catch (e) {
    const { code, message } = describe(e)
    if (o.json) out(JSON.stringify({ event: 'error', code, message }))
    else err(`sealwire: ${code}: ${message}`)
    return 1
  }
}
