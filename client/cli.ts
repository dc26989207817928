// The Sealwire terminal client: keygen, register, chat (readline, or JSON lines with --json). bin/sealwire.ts runs it.
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import type { JsonValue } from '../schemas/common.js'
import { loadIdentity, privateHome, privateKeyForEnv, type IdentityOptions } from './cli-identity.js'
import { InputLines, parseJsonLine, parseSlash, type Request } from './cli-input.js'
import { createNodeClient, FileStore, generateIdentity, SealwireError, writeKeyFile, type SealwireClient } from './node.js'

const HELP = `sealwire: the Sealwire terminal client

  sealwire keygen --user <id> [--name <name>] [--out <file> | --print]
  sealwire register [--server <url>] [--key <file>]
  sealwire chat [--server <url>] [--key <file>] [--register] [--json]

Options and variables:
  --server, WS_SERVER_URL   server address: http(s)://host:port or ws(s)://host:port/ws (default http://localhost:3000)
  --key                     key file (default ~/.sealwire/<user>.json); or WS_USER_ID + WS_PRIVATE_KEY
  --user, WS_USER_ID        user id;  --name, WS_USERNAME: display name
  WS_PRIVATE_KEY            base64 of the Ed25519 seed followed by the X25519 secret key (64 bytes; 'keygen --print')
  SEALWIRE_HOME             folder of key files and pins (default ~/.sealwire); kept private (mode 700)
  INSECURE_TLS=true         accept a self-signed certificate (development only)
  --register                register first when the user does not exist yet
  --json                    read one JSON command per line from standard input, print every event as one JSON line

Chat: a line without a slash is an end-to-end encrypted direct message to the open conversation, which the
prompt shows (bob> ). With no conversation open the line is refused, never sent in the clear.
  /dm <user> [text]    open the conversation with <user>, and send it text if given (encrypted)
  /open <user>         open the conversation with <user>;  /close  close it
  /all <text>          a PUBLIC broadcast: NOT encrypted; everyone online and the server read it
  /cmd <name> [json]   run a server command;  /users  who is online
  /safety <user>       the safety number to compare out of band, and whether <user>'s key is verified
  /verify <user>       show the safety number and mark <user>'s key verified (you compared it)
  /accept <user>       accept <user>'s changed key (compare the new safety number first); sending resumes
  /history <peer>      the stored conversation with <peer>;  /help;  /quit

--json: one object per line, each may carry a "ref" that its answer repeats:
  {"cmd":"dm","to":"bob","text":"hi"}  {"cmd":"all","text":"public, not encrypted"}  {"cmd":"command","name":"ping"}
  {"cmd":"users"}  {"cmd":"safety","user":"bob"}  {"cmd":"verify","user":"bob"}  {"cmd":"accept","user":"bob"}
  {"cmd":"history","peer":"bob"}  {"cmd":"open","peer":"bob"}
  {"cmd":"say","text":"to the open conversation"}  {"cmd":"close"}  {"cmd":"quit"}
  Lines sent before the connection is up wait and run in order. A command that fails or cannot run prints
  {"event":"error","code":...,"command":...,"ref":...}; then chat exits with status 1 (as it does with piped input
  without --json). Otherwise it exits with 0 when its input ends or at "quit".`

type Out = (line: string) => void
const out: Out = (line) => { process.stdout.write(`${line}\n`) }
const err: Out = (line) => { process.stderr.write(`${line}\n`) }

const NO_CONVERSATION = 'no open conversation: /dm <user> <text> or /open <user>'

/** http(s)://host:port from any of the forms users write. */
export function normaliseServerUrl (url: string): string {
  return url.trim().replace(/^ws(s?):\/\//, 'http$1://').replace(/\/ws\/?$/, '').replace(/\/+$/, '')
}

interface Options extends IdentityOptions {
  server: string
  out: string | undefined
  print: boolean
  register: boolean
  json: boolean
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
  const path = o.out ?? join(privateHome(), `${userId}.json`)
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

function optional (request: Request, field: string): string | undefined {
  const value = request[field]
  if (value === undefined) return undefined
  if (typeof value !== 'string') throw new SealwireError('invalid_request', `"${field}" must be a string`)
  return value
}

function required (request: Request, field: string, what = field): string {
  const value = optional(request, field)
  if (value === undefined || value === '') throw new SealwireError('invalid_request', `${String(request.cmd)} needs ${what}`)
  return value
}

/**
 * Refuses a user the server does not know (`unknown_user`, from GET /auth/users/:id). The safety number is
 * the SDK's public look-up; it pins nothing (the first message does).
 */
async function requireUser (client: SealwireClient, userId: string): Promise<void> {
  await client.safetyNumber(userId)
}

/**
 * The chat session: runs each input line as a command, in order, once connected. Returns how many commands
 * failed or could not run (interactive sessions count none: the person at the terminal saw each one).
 */
async function chat (client: SealwireClient, o: Options): Promise<number> {
  const json = o.json
  const interactive = !json && process.stdin.isTTY === true
  const rl = createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined, terminal: interactive })
  const input = new InputLines(rl)
  let conversation: string | undefined
  let failures = 0
  const print = (event: Record<string, unknown>, text: string): void => {
    if (json) return out(JSON.stringify(event))
    if (!interactive) return out(text)
    // clear the prompt line, print, then draw the prompt again with what the user had typed
    process.stdout.write(`\r\x1b[K${text}\n`)
    rl.prompt(true)
  }
  const fail = (request: Request | undefined, code: string, message: string): void => {
    failures++
    const named = request === undefined ? {} : { command: request.cmd ?? null, ...ref(request) }
    print({ event: 'error', code, message, ...named }, `! ${code}: ${message}`)
  }

  client.on('connected', ({ reconnected }) => print({ event: 'connected', reconnected }, reconnected ? '* reconnected' : `* connected as ${client.userId}`))
  client.on('disconnected', ({ code, willReconnect }) => print({ event: 'disconnected', code, will_reconnect: willReconnect }, `* disconnected (${code})${willReconnect ? ', reconnecting' : ''}`))
  client.on('message', (m) => print({ event: 'message', id: m.id, from: m.from, text: m.text, timestamp: m.timestamp }, `[${m.from}] ${m.text}`))
  client.on('broadcast', (m) => print({ event: 'broadcast', id: m.id, from: m.from, text: m.text, timestamp: m.timestamp }, `[${m.from} → all, public] ${m.text}`))
  client.on('presence', (p) => print({ event: 'presence', user_id: p.userId, status: p.status }, `* ${p.userId} is ${p.status}`))
  client.on('receipt', (r) => { if (r.status === 'delivered') print({ event: 'delivered', id: r.id }, `* delivered ${r.id.slice(0, 8)}`) })
  client.on('rejected', (r) => print({ event: 'rejected', id: r.id, from: r.from, reason: r.reason, message: r.message }, `! refused a message from ${r.from ?? '?'} (${r.reason}): ${r.message}`))
  client.on('rejected-receipt', (e) => print({ event: 'rejected_receipt', id: e.messageId, user_id: e.recipient, reason: e.reason }, `! ${e.recipient} refused ${e.messageId.slice(0, 8)} (${e.reason}): not delivered`))
  client.on('key-changed', (e) => print({ event: 'key_changed', user_id: e.userId }, `!!! ${e.message}; then /accept ${e.userId}`))
  client.on('error', (e) => {
    // a refused key is reported by the command that tried to use it
    if (e.code === 'key_rollback' || e.code === 'key_expired') return
    print({ event: 'error', code: e.code, message: e.message }, `! ${e.code}: ${e.message}`)
  })

  const parse = (line: string): Request | undefined => json ? parseJsonLine(line) : parseSlash(line)

  try {
    if (o.register) await register(client, o, true)
    await client.connect()
  } catch (e) {
    // what was typed or piped in so far cannot run: say so for each command, then fail as before
    const { code } = describe(e)
    for (const line of input.take()) {
      try {
        const request = parse(line)
        if (request !== undefined) fail(request, 'not_run', `not run: there is no connection (${code})`)
      } catch (bad) {
        fail(undefined, describe(bad).code, describe(bad).message)
      }
    }
    rl.close()
    client.close()
    throw e
  }

  const send = async (request: Request, to: string, body: string): Promise<void> => {
    const sent = await client.sendDirect(to, body)
    conversation = to
    print({ event: 'sent', id: sent.id, to, ...ref(request) }, `* sent ${sent.id.slice(0, 8)} to ${to} (encrypted)`)
  }
  const open = async (request: Request, peer: string): Promise<void> => {
    await requireUser(client, peer)
    conversation = peer
    print({ event: 'opened', peer, ...ref(request) }, `* conversation with ${peer}: lines without a slash go to ${peer}, encrypted`)
  }

  /** Runs one command; false when it asks to quit. */
  const run = async (request: Request): Promise<boolean> => {
    const reply = (event: Record<string, unknown>, text: string): void => print({ ...event, ...ref(request) }, text)
    switch (request.cmd) {
      case 'dm': {
        const to = required(request, 'to', 'a user')
        const body = optional(request, 'text')
        await (body === undefined ? open(request, to) : send(request, to, body))
        return true
      }
      case 'open':
        await open(request, required(request, 'peer', 'a user'))
        return true
      case 'close':
        reply({ event: 'closed', peer: conversation ?? null }, conversation === undefined ? '* no conversation was open' : `* closed the conversation with ${conversation}`)
        conversation = undefined
        return true
      case 'say': {
        if (conversation === undefined) throw new SealwireError('no_conversation', NO_CONVERSATION)
        await send(request, conversation, required(request, 'text', 'a text'))
        return true
      }
      case 'all': {
        const { id } = await client.broadcast(required(request, 'text', 'a text'))
        reply({ event: 'sent', id, to: '*' }, `* broadcast ${id.slice(0, 8)} (public, not encrypted)`)
        return true
      }
      case 'command': {
        const result = await client.command(required(request, 'name', 'a command name'), request.params as JsonValue | undefined)
        reply({ event: 'result', command: request.name, result }, JSON.stringify(result, null, 2))
        return true
      }
      case 'users': {
        const users = await client.activeUsers()
        reply({ event: 'users', users }, `online: ${users.join(', ') || '(nobody)'}`)
        return true
      }
      case 'safety': {
        const user = required(request, 'user', 'a user')
        const number = await client.safetyNumber(user)
        const trust = await client.trust(user)
        const state = trust === undefined ? 'not pinned yet (pinned when you first write)' : trust.state
        reply({ event: 'safety', user_id: user, safety_number: number, trust: trust?.state ?? null },
          `safety number with ${user}:\n  ${number}\nkey: ${state}; compare it with theirs out of band, then /verify ${user}`)
        return true
      }
      case 'verify': {
        const user = required(request, 'user', 'a user')
        const number = await client.safetyNumber(user)
        const trust = await client.markVerified(user, number)
        reply({ event: 'verified', user_id: user, safety_number: number, trust: trust.state }, `safety number with ${user}:\n  ${number}\n* ${user}'s key is now marked verified`)
        return true
      }
      case 'accept': {
        const user = required(request, 'user', 'a user')
        const trust = await client.acceptKeyChange(user)
        const number = await client.safetyNumber(user)
        reply({ event: 'accepted', user_id: user, safety_number: number, trust: trust.state },
          `* accepted ${user}'s key (unverified); its safety number:\n  ${number}\ncompare it, then /verify ${user}`)
        return true
      }
      case 'history': {
        // "user" was its name before "peer"; still read, not documented
        const peer = request.peer === undefined ? required(request, 'user', 'a peer') : required(request, 'peer', 'a peer')
        await requireUser(client, peer)
        const { messages } = await client.history(peer, { limit: 20 })
        reply({ event: 'history', peer, messages }, messages.reverse().map((m) => `${m.timestamp} [${m.from}] ${m.text ?? `(${m.error ?? 'unreadable'})`}`).join('\n') || '(no messages)')
        return true
      }
      case 'help':
        reply({ event: 'help' }, HELP)
        return true
      case 'quit':
        return false
      default:
        throw new SealwireError('unknown_command', `unknown command ${JSON.stringify(request.cmd)}: /help lists them`)
    }
  }

  const prompt = (): void => {
    if (!interactive) return
    rl.setPrompt(`${conversation ?? ''}> `)
    rl.prompt()
  }
  prompt()
  for await (const line of input) {
    let request: Request | undefined
    try {
      request = parse(line)
      if (request !== undefined && !await run(request)) break
    } catch (e) {
      const { code, message } = describe(e)
      fail(request, code, message)
    }
    prompt()
  }
  rl.close()
  client.close()
  return interactive ? 0 : failures
}

function ref (request: Request): Record<string, unknown> {
  return request.ref === undefined ? {} : { ref: request.ref }
}

export async function main (argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      server: { type: 'string' },
      key: { type: 'string' },
      user: { type: 'string' },
      name: { type: 'string' },
      out: { type: 'string' },
      print: { type: 'boolean' },
      register: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  const command = positionals[0]
  if (values.help === true || command === undefined) {
    out(HELP)
    return command === undefined && values.help !== true ? 2 : 0
  }
  const o: Options = {
    server: normaliseServerUrl(values.server ?? process.env.WS_SERVER_URL ?? 'http://localhost:3000'),
    key: values.key,
    user: values.user,
    name: values.name,
    out: values.out,
    print: values.print === true,
    register: values.register === true,
    json: values.json === true
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
      const failures = await chat(client, o)
      if (store instanceof FileStore) store.flush()
      return failures > 0 ? 1 : 0
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
