import { parseArgs } from 'node:util'

export type Scenario = 'dm' | 'broadcast' | 'idle'

export interface BenchOptions {
  scenario: Scenario
  durationS: number
  warmupS: number
  /** dm: users in pairs */
  users: number
  /** dm: random bytes before base64; broadcast: bytes of plain text */
  size: number
  /** total messages per second; 0 = closed loop */
  rate: number
  /** closed loop: messages in flight per sender */
  window: number
  receivers: number
  senders: number
  connections: number
  serverEnv: Record<string, string>
  serverUrl: string | undefined
  /** dm: server processes sharing PostgreSQL and Redis; users connect round-robin, partners on different nodes */
  nodes: number
  /** PostgreSQL server for a fresh database of the run's own */
  databaseUrl: string | undefined
  /** Redis server for a fresh key prefix of the run's own */
  redisUrl: string | undefined
  json: boolean
  registerConcurrency: number
  openConcurrency: number
}

export class UsageError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

export const USAGE = `Usage: npx tsx bench/run.ts --scenario dm|broadcast|idle [options]

  --duration S            measured seconds (default 20)
  --warmup S              seconds of load before measuring (default 2)
  --rate R                total messages/s; 0 = closed loop (dm default 0, broadcast default 50)
  --window W              closed loop: messages in flight per sender (dm 32 until delivered, broadcast 8 until accepted)
  --size B                dm: random bytes of content before base64; broadcast: bytes of text (default 256)
  --users N               dm: users, in pairs (default 200)
  --receivers N           broadcast: connected users (default 1000)
  --senders N             broadcast: how many of them send (default 4)
  --connections N         idle: authenticated connections (default 10000)
  --register-concurrency  HTTP requests in parallel while registering (default 50)
  --open-concurrency      WebSocket upgrades in parallel (default 200)
  --server-env KEY=VALUE  extra environment for the server child (repeatable)
  --server-url URL        use a running server (http://127.0.0.1:PORT) instead of starting one; no RSS then
  --database-url URL      PostgreSQL server: the run gets a fresh database on it (default: SQLite)
  --redis-url URL         Redis server: the run gets a fresh key prefix on it
  --nodes N               dm: N server processes sharing --database-url and --redis-url (default 1);
                          users connect round-robin, so every pair talks across two nodes
  --json                  print the report as one JSON object
`

function number (raw: string | undefined, name: string, fallback: number, min: number, integer = true): number {
  if (raw === undefined) return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${JSON.stringify(raw)}`)
  }
  return value
}

function serverEnv (pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {}
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new UsageError(`--server-env wants KEY=VALUE, got ${JSON.stringify(pair)}`)
    env[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return env
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])

function serverUrl (raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new UsageError(`--server-url is not a URL: ${raw}`)
  }
  if (url.protocol !== 'http:' || !LOOPBACK.has(url.hostname)) {
    throw new UsageError('--server-url must be http:// on the loopback interface (127.0.0.1)')
  }
  return url.origin
}

/** PostgreSQL and Redis stay on this machine, as all bench traffic does. */
function storeUrl (raw: string | undefined, name: string, schemes: string[]): string | undefined {
  if (raw === undefined) return undefined
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new UsageError(`--${name} is not a URL: ${raw}`)
  }
  if (!schemes.includes(url.protocol) || !LOOPBACK.has(url.hostname)) {
    throw new UsageError(`--${name} must be ${schemes.map((s) => `${s}//`).join(' or ')} on the loopback interface (127.0.0.1)`)
  }
  return raw
}

export function parseOptions (argv: string[]): BenchOptions | 'help' {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      options: {
        scenario: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        rate: { type: 'string' },
        window: { type: 'string' },
        size: { type: 'string' },
        users: { type: 'string' },
        receivers: { type: 'string' },
        senders: { type: 'string' },
        connections: { type: 'string' },
        'register-concurrency': { type: 'string' },
        'open-concurrency': { type: 'string' },
        'server-env': { type: 'string', multiple: true },
        'server-url': { type: 'string' },
        'database-url': { type: 'string' },
        'redis-url': { type: 'string' },
        nodes: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
  const v = parsed.values
  if (v.help === true) return 'help'
  const scenario = v.scenario
  if (scenario !== 'dm' && scenario !== 'broadcast' && scenario !== 'idle') {
    throw new UsageError('--scenario must be dm, broadcast or idle')
  }
  const options: BenchOptions = {
    scenario,
    durationS: number(v.duration, 'duration', 20, 0.1, false),
    warmupS: number(v.warmup, 'warmup', 2, 0, false),
    rate: number(v.rate, 'rate', scenario === 'broadcast' ? 50 : 0, 0, false),
    window: number(v.window, 'window', scenario === 'broadcast' ? 8 : 32, 1),
    size: number(v.size, 'size', 256, 1),
    users: number(v.users, 'users', 200, 2),
    receivers: number(v.receivers, 'receivers', 1000, 2),
    senders: number(v.senders, 'senders', 4, 1),
    connections: number(v.connections, 'connections', 10_000, 1),
    registerConcurrency: number(v['register-concurrency'], 'register-concurrency', 50, 1),
    openConcurrency: number(v['open-concurrency'], 'open-concurrency', 200, 1),
    serverEnv: serverEnv(v['server-env'] ?? []),
    serverUrl: serverUrl(v['server-url']),
    nodes: number(v.nodes, 'nodes', 1, 1),
    databaseUrl: storeUrl(v['database-url'], 'database-url', ['postgres:', 'postgresql:']),
    redisUrl: storeUrl(v['redis-url'], 'redis-url', ['redis:']),
    json: v.json === true
  }
  if (options.nodes > 1 && (options.databaseUrl === undefined || options.redisUrl === undefined)) {
    throw new UsageError('--nodes above 1 needs --database-url and --redis-url: the nodes share them')
  }
  if (options.nodes > 1 && scenario !== 'dm') throw new UsageError('--nodes is for the dm scenario')
  if (options.serverUrl !== undefined && (options.nodes > 1 || options.databaseUrl !== undefined || options.redisUrl !== undefined)) {
    throw new UsageError('--server-url uses a running server: --nodes, --database-url and --redis-url start servers')
  }
  if (options.users % 2 === 1) options.users += 1
  if (options.senders > options.receivers) throw new UsageError('--senders cannot exceed --receivers')
  if (options.connections > 10_000) throw new UsageError('--connections is capped at 10000')
  return options
}
