import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnTsNode, type Child } from './child.js'
import { onCleanup } from './cleanup.js'
import { sleep } from './pool.js'
import { readCpuSeconds, readRssBytes } from './proc.js'

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url))
const SERVER_SCRIPT = fileURLToPath(new URL('../../bin/sealwire-server.ts', import.meta.url))

export interface ServerHandle {
  /** http://127.0.0.1:PORT */
  baseUrl: string
  /** undefined when attached to a server started elsewhere */
  pid: number | undefined
  rssBytes: () => number | undefined
  cpuSeconds: () => number | undefined
  stop: () => Promise<void>
}

export function wsUrl (baseUrl: string, path: string): string {
  return baseUrl.replace(/^http/, 'ws') + path
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** 32 random bytes as 48 base64url characters: a JWT secret for this run only. */
function randomSecret (): string {
  return randomBytes(36).toString('base64url')
}

async function waitHealthy (baseUrl: string, timeoutMs: number, child?: Child): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let exited = false
  void child?.exited.then(() => { exited = true })
  let last = ''
  while (Date.now() < deadline) {
    if (exited) throw new Error(`the server exited during start:\n${child?.tail() ?? ''}`)
    try {
      const res = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(2000) })
      if (res.status === 200) return
      last = `status ${res.status}`
    } catch (err) {
      last = err instanceof Error ? err.message : String(err)
    }
    await sleep(100)
  }
  throw new Error(`GET ${baseUrl}/health did not answer 200 within ${timeoutMs / 1000} s (${last})`)
}

/** Starts Sealwire as a child process on a free loopback port with a fresh database and waits for /health. */
export async function startSealwire (extraEnv: Record<string, string>): Promise<ServerHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'sealwire-bench-'))
  const forgetDir = onCleanup(() => rmSync(dir, { recursive: true, force: true }))
  const port = await freePort()
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SERVER_ADDR: `127.0.0.1:${port}`,
    DB_PATH: join(dir, 'bench.db'),
    JWT_SECRET: randomSecret(),
    LOG_LEVEL: 'warn',
    MESSAGE_RATE_LIMIT: '1000000',
    MESSAGE_BURST_LIMIT: '1000000',
    AUTH_RATE_LIMIT_MAX: '1000000',
    MAX_CONNECTIONS_PER_USER: '16',
    ...extraEnv
  }
  const child = spawnTsNode(SERVER_SCRIPT, [], env, PROJECT_ROOT, 'server')
  const baseUrl = `http://127.0.0.1:${port}`
  try {
    await waitHealthy(baseUrl, 30_000, child)
  } catch (err) {
    await child.stop()
    throw err
  }
  return {
    baseUrl,
    pid: child.pid,
    rssBytes: () => readRssBytes(child.pid),
    cpuSeconds: () => readCpuSeconds(child.pid),
    stop: async () => {
      await child.stop()
      rmSync(dir, { recursive: true, force: true })
      forgetDir()
    }
  }
}

export async function attachToServer (baseUrl: string): Promise<ServerHandle> {
  await waitHealthy(baseUrl, 10_000)
  return { baseUrl, pid: undefined, rssBytes: () => undefined, cpuSeconds: () => undefined, stop: async () => {} }
}

export async function sealwireServer (serverUrl: string | undefined, extraEnv: Record<string, string>): Promise<ServerHandle> {
  return serverUrl === undefined ? await startSealwire(extraEnv) : await attachToServer(serverUrl)
}
