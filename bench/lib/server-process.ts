import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BenchOptions } from './args.js'
import { spawnTsNode, type Child } from './child.js'
import { onCleanup } from './cleanup.js'
import { sleep } from './pool.js'
import { readCpuSeconds, readRssBytes } from './proc.js'

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url))
const SERVER_SCRIPT = fileURLToPath(new URL('../../bin/sealwire-server.ts', import.meta.url))

export interface ServerHandle {
  /** http://127.0.0.1:PORT (the first node's, with several) */
  baseUrl: string
  /** every node's, in order; one entry unless --nodes */
  baseUrls: string[]
  /** what the nodes store in: SQLite, or PostgreSQL and Redis */
  stores: string
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
export async function startSealwire (extraEnv: Record<string, string>, label = 'server'): Promise<ServerHandle> {
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
  const child = spawnTsNode(SERVER_SCRIPT, [], env, PROJECT_ROOT, label)
  const baseUrl = `http://127.0.0.1:${port}`
  try {
    await waitHealthy(baseUrl, 30_000, child)
  } catch (err) {
    await child.stop()
    throw err
  }
  return {
    baseUrl,
    baseUrls: [baseUrl],
    stores: env.DATABASE_URL === undefined ? 'SQLite' : 'PostgreSQL',
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
  return { baseUrl, baseUrls: [baseUrl], stores: 'unknown', pid: undefined, rssBytes: () => undefined, cpuSeconds: () => undefined, stop: async () => {} }
}

function sum (values: Array<number | undefined>): number | undefined {
  return values.some((v) => v === undefined) ? undefined : values.reduce<number>((a, v) => a + (v as number), 0)
}

/**
 * The server of a run: one child on a fresh SQLite file by default; with --database-url and --redis-url,
 * `--nodes` children sharing a fresh PostgreSQL database and a fresh Redis key prefix (and one JWT secret,
 * so that a token from one node is good on every node). RSS and CPU are the sums over the nodes.
 */
export async function sealwireServer (opts: Pick<BenchOptions, 'serverUrl' | 'serverEnv' | 'nodes' | 'databaseUrl' | 'redisUrl'>): Promise<ServerHandle> {
  if (opts.serverUrl !== undefined) return await attachToServer(opts.serverUrl)
  const { sharedStores } = await import('./shared-stores.js')
  const stores = await sharedStores(opts.databaseUrl, opts.redisUrl, PROJECT_ROOT)
  const env = { JWT_SECRET: randomSecret(), ...stores.env, ...opts.serverEnv }
  let nodes: ServerHandle[]
  try {
    nodes = await Promise.all(Array.from({ length: opts.nodes }, async (_, i) => await startSealwire(env, opts.nodes === 1 ? 'server' : `node ${i + 1}`)))
  } catch (err) {
    await stores.remove()
    throw err
  }
  return {
    baseUrl: (nodes[0] as ServerHandle).baseUrl,
    baseUrls: nodes.map((n) => n.baseUrl),
    stores: stores.describe,
    pid: opts.nodes === 1 ? nodes[0]?.pid : undefined,
    rssBytes: () => sum(nodes.map((n) => n.rssBytes())),
    cpuSeconds: () => sum(nodes.map((n) => n.cpuSeconds())),
    stop: async () => {
      await Promise.all(nodes.map(async (n) => { await n.stop() }))
      await stores.remove()
    }
  }
}
