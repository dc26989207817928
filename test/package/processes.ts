// Servers started as their own processes for the package tests: their output, line by line, and the events in it.
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import type { Test } from 'tap'
import WebSocket from 'ws'
import { makeIdentity, registrationBody } from '../helper.js'

export async function freePort (): Promise<number> {
  return await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

export interface Server {
  /** every line the process wrote, stdout and stderr */
  lines: string[]
  /** the first line that matches, as it is written (at most `ms` to wait) */
  line: (match: RegExp, ms?: number) => Promise<string>
  /** the URL of pino's `Server listening at …` line */
  listening: () => Promise<string>
  /** SIGTERM, then the exit code */
  stop: () => Promise<number | null>
  exited: Promise<number | null>
}

/** Starts `command` and keeps what it writes; killed when the test ends if it still runs. */
export function start (t: Test, command: string, args: string[], options: { cwd: string, env: NodeJS.ProcessEnv }): Server {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  const waiters: Array<{ match: RegExp, resolve: (line: string) => void }> = []
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const take = (): ((chunk: Buffer) => void) => {
    let buffer = ''
    return (chunk) => {
      buffer += chunk.toString('utf8')
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const text = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        lines.push(text)
        for (const w of waiters.filter((w) => w.match.test(text))) {
          waiters.splice(waiters.indexOf(w), 1)
          w.resolve(text)
        }
      }
    }
  }
  child.stdout.on('data', take())
  child.stderr.on('data', take())
  t.teardown(() => { child.kill('SIGKILL') })

  const line = async (match: RegExp, ms = 60_000): Promise<string> => {
    const seen = lines.find((l) => match.test(l))
    if (seen !== undefined) return seen
    let timer: NodeJS.Timeout | undefined
    try {
      return await new Promise((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no line matching ${String(match)} within ${ms} ms:\n${lines.join('\n')}`)), ms)
        void exited.then((code) => reject(new Error(`exited (${String(code)}) before a line matching ${String(match)}:\n${lines.join('\n')}`)))
        waiters.push({ match, resolve })
      })
    } finally {
      clearTimeout(timer)
    }
  }
  return {
    lines,
    line,
    listening: async () => (/Server listening at (\S+?)"/.exec(await line(/Server listening at/)) as RegExpExecArray)[1] as string,
    stop: async () => {
      child.kill('SIGTERM')
      return await exited
    },
    exited
  }
}

async function post (url: string, body: object): Promise<Response> {
  return await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
}

/** A new user registered over HTTP and logged in with the signed challenge: its session token. */
export async function userToken (base: string, userId: string): Promise<string> {
  const id = makeIdentity(userId)
  const registered = await post(`${base}/auth/register`, registrationBody(id))
  if (registered.status !== 201) throw new Error(`register: ${registered.status} ${await registered.text()}`)
  const { challenge } = await (await post(`${base}/auth/login`, { user_id: userId })).json() as { challenge: string }
  const signature = id.sign(`sealwire/v1/login:${userId}:${challenge}`)
  const res = await post(`${base}/auth/login?verify=true`, { user_id: userId, challenge, signature })
  if (res.status !== 200) throw new Error(`login: ${res.status} ${await res.text()}`)
  return (await res.json() as { token: string }).token
}

/** Opens a WebSocket and closes it: the status of the upgrade (101 when it opened). */
export async function upgrade (url: string): Promise<number> {
  const ws = new WebSocket(url)
  return await new Promise((resolve, reject) => {
    ws.on('open', () => { ws.close(); resolve(101) })
    ws.on('unexpected-response', (req, res) => { req.destroy(); resolve(res.statusCode ?? 0) })
    ws.on('error', reject)
  })
}
