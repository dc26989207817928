import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import type { ConfigOverrides } from '../../services/config.js'
import type { Identity } from '../helper.js'
import { registrationBody } from '../helper.js'

const root = fileURLToPath(new URL('../..', import.meta.url))

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export interface Proc {
  child: ChildProcess
  /** everything it wrote, for failure messages */
  output: () => string
  exited: Promise<void>
  alive: () => boolean
}

function watch (child: ChildProcess): Proc {
  let output = ''
  child.stdout?.on('data', (d: Buffer) => { output = (output + d.toString()).slice(-20_000) })
  child.stderr?.on('data', (d: Buffer) => { output = (output + d.toString()).slice(-20_000) })
  let alive = true
  const exited = new Promise<void>((resolve) => child.once('exit', () => { alive = false; resolve() }))
  return { child, output: () => output, exited, alive: () => alive }
}

async function waitFor (check: () => Promise<boolean>, proc: Proc, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!await check()) {
    if (!proc.alive()) throw new Error(`${what}: the process exited\n${proc.output()}`)
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms\n${proc.output()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

export interface NodeProcess extends Proc {
  name: string
  /** http://127.0.0.1:port */
  http: string
  /** ws://127.0.0.1:port */
  url: string
  /** as a crash or an OOM killer would: no shutdown, no goodbye to Redis */
  kill: () => Promise<void>
}

/** Starts `bin/sealwire-server.ts` as its own process, as `npm start` would, and waits for /health. */
export async function startNodeProcess (t: Test, name: string, settings: ConfigOverrides): Promise<NodeProcess> {
  const port = await freePort()
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, LOG_LEVEL: 'warn', SERVER_ADDR: `127.0.0.1:${port}` }
  for (const [key, value] of Object.entries(settings)) env[key] = String(value)
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/sealwire-server.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const proc = watch(child)
  t.teardown(async () => {
    if (!proc.alive()) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await proc.exited
    clearTimeout(timer)
  })
  const http = `http://127.0.0.1:${port}`
  await waitFor(async () => {
    try {
      return (await fetch(`${http}/health`)).status === 200
    } catch {
      return false
    }
  }, proc, 120_000, `node ${name} starting`)
  return {
    ...proc,
    name,
    http,
    url: `ws://127.0.0.1:${port}`,
    kill: async () => {
      child.kill('SIGKILL')
      await proc.exited
    }
  }
}

export async function health (node: { http: string }): Promise<{ status: string, redis: string }> {
  return await (await fetch(`${node.http}/health`)).json() as { status: string, redis: string }
}

async function post (url: string, body: object): Promise<Response> {
  return await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
}

export async function registerOver (node: { http: string }, id: Identity): Promise<void> {
  const res = await post(`${node.http}/auth/register`, registrationBody(id))
  if (res.status !== 201) throw new Error(`register ${id.user_id}: ${res.status} ${await res.text()}`)
}

/** The whole challenge login over HTTP, begun on `first` and finished on `second`. */
export async function loginOver (first: { http: string }, second: { http: string }, id: Identity): Promise<string> {
  const { challenge } = await (await post(`${first.http}/auth/login`, { user_id: id.user_id })).json() as { challenge: string }
  const signature = id.sign(`sealwire/v1/login:${id.user_id}:${challenge}`)
  const res = await post(`${second.http}/auth/login?verify=true`, { user_id: id.user_id, challenge, signature })
  if (res.status !== 200) throw new Error(`login ${id.user_id}: ${res.status} ${await res.text()}`)
  return (await res.json() as { token: string }).token
}

/** Why a Redis of the test's own cannot be started here, or false. */
export const NEEDS_REDIS_SERVER = spawnSync('redis-server', ['--version']).status === 0
  ? false
  : 'redis-server is not on the PATH: the restart test runs a Redis of its own'

export interface RedisServer {
  url: string
  stop: () => Promise<void>
  start: () => Promise<void>
}

/**
 * A Redis of the test's own on a free port, keeping nothing on disk, that the test can stop and start again
 * (and start later, with `started` false).
 */
export async function redisServer (t: Test, started = true): Promise<RedisServer> {
  const port = await freePort()
  let current: Proc | undefined
  const start = async (): Promise<void> => {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] })
    const proc = watch(child)
    current = proc
    await waitFor(async () => proc.output().includes('Ready to accept connections'), proc, 10_000, 'redis-server starting')
  }
  const stop = async (): Promise<void> => {
    if (current === undefined || !current.alive()) return
    current.child.kill('SIGKILL')
    await current.exited
  }
  if (started) await start()
  t.teardown(stop)
  return { url: `redis://127.0.0.1:${port}`, stop, start }
}
