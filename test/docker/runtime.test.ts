// Reproduces the image's runtime stage on this machine (there is no container engine here): the build
// context as .dockerignore leaves it, the build, `npm ci --omit=dev`, the server started as the image's CMD
// with the compose file's environment and generate-keys.sh's output, its HEALTHCHECK, and two terminal
// clients started as compose starts them, exchanging a message.
import { execFileSync, spawn } from 'node:child_process'
import { cpSync, existsSync, readFileSync, symlinkSync } from 'node:fs'
import { get as httpsGet } from 'node:https'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse } from 'yaml'
import { tempDir } from '../helper.js'
import { JsonLines } from '../json-lines.js'
import { freePort, start } from '../package/processes.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
// a build and an install: minutes on a loaded 2-core machine
t.setTimeout(600_000)

interface ComposeService { environment?: Record<string, string>, command?: string[] }

function dockerfile (): { cmd: string[], healthcheck: string[] } {
  const text = readFileSync(join(root, 'docker/Dockerfile'), 'utf8')
  const json = (re: RegExp): string[] => JSON.parse((re.exec(text) as RegExpExecArray)[1] as string) as string[]
  return { cmd: json(/^CMD (\[.*\])$/m), healthcheck: json(/^HEALTHCHECK .* CMD (\[.*\])$/m) }
}

function interpolate (env: Record<string, string>, vars: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v).replace(/\$\{(\w+)(:\?[^}]*)?\}/g, (_, name: string) => vars[name] ?? '')]))
}

function sh (cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): void {
  execFileSync(cmd, args, { cwd, env, stdio: 'pipe', timeout: 300_000 })
}

t.test('the image\'s runtime stage, reproduced: production dependencies only, TLS, healthcheck, two clients', async (t) => {
  const work = tempDir(t)
  const src = join(work, 'src')
  const app = join(work, 'app')

  // stage 1: the build context (what .dockerignore leaves), built with the dependencies already installed here
  sh('bash', ['-c', `mkdir -p "${src}" && tar -c --exclude-from=.dockerignore . | tar -x -C "${src}"`], root)
  t.notOk(existsSync(join(src, 'node_modules')), '.dockerignore keeps node_modules out of the context')
  t.notOk(existsSync(join(src, '.git')), 'and .git')
  symlinkSync(join(root, 'node_modules'), join(src, 'node_modules'))
  sh('npm', ['run', 'build', '--silent'], src)

  // stage 2: production dependencies only, the compiled native module reused
  cpSync(join(src, 'package.json'), join(app, 'package.json'))
  cpSync(join(src, 'package-lock.json'), join(app, 'package-lock.json'))
  sh('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--ignore-scripts'], app)
  cpSync(join(root, 'node_modules/better-sqlite3/build'), join(app, 'node_modules/better-sqlite3/build'), { recursive: true })
  for (const dev of ['typescript', 'tap', 'esbuild', 'tsx', 'chart.js']) t.notOk(existsSync(join(app, 'node_modules', dev)), `no ${dev} in the image`)

  // stage 3: the runtime files
  cpSync(join(src, 'dist'), join(app, 'dist'), { recursive: true })

  // a development certificate, made with the production dependencies alone
  const certs = join(work, 'certs')
  sh('npm', ['run', 'gen-cert', '--silent', '--', '--out', certs], app)
  t.ok(existsSync(join(certs, 'server.crt')) && existsSync(join(certs, 'server.key')), 'npm run gen-cert works in the production install')

  // generate-keys.sh writes what compose reads
  const keys = join(work, 'keys')
  sh('bash', [join(root, 'docker/generate-keys.sh')], root, { ...process.env, OUT_DIR: keys })
  const dotenv = Object.fromEntries(readFileSync(join(keys, '.env'), 'utf8').split('\n').filter((l) => /^\w+=/.test(l)).map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string]))
  t.ok(dotenv.JWT_SECRET !== undefined && dotenv.JWT_SECRET.length >= 32)

  const compose = parse(readFileSync(join(root, 'docker/compose.yaml'), 'utf8')) as { services: Record<string, ComposeService> }
  const port = await freePort()
  const paths = (v: string): string => v.replace('/app/tls', join(keys, 'tls')).replace('/app/data', join(work, 'data'))
  const serverEnv = Object.fromEntries(Object.entries(interpolate(compose.services.server?.environment ?? {}, dotenv)).map(([k, v]) => [k, paths(v)]))
  const env: Record<string, string | undefined> = { PATH: process.env.PATH, ...serverEnv, SERVER_ADDR: `127.0.0.1:${port}`, LOG_LEVEL: 'info' }
  t.equal(env.NODE_ENV, 'production')

  const { cmd, healthcheck } = dockerfile()
  const script = (JSON.parse(readFileSync(join(src, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start
  t.same(cmd, ['node_modules/.bin/fastify', ...script.split(' ').slice(1)], 'the image runs what npm start runs')
  const server = start(t, cmd[0] as string, cmd.slice(1), { cwd: app, env })
  t.equal(await server.listening(), `https://127.0.0.1:${port}`)
  let healthy = true
  try {
    sh(healthcheck[0] as string, healthcheck.slice(1), app, env)
  } catch {
    healthy = false
  }
  t.ok(healthy, `the HEALTHCHECK passes over HTTPS ${healthy ? '' : server.lines.join('\n')}`)
  // without esbuild in the image, the pages are what `npm run build` wrote
  for (const path of ['/', '/dashboard', '/dashboard/app.js']) {
    const status = await new Promise<number>((resolve) => {
      httpsGet({ host: '127.0.0.1', port, path, rejectUnauthorized: false }, (res) => { res.resume(); resolve(res.statusCode ?? 0) }).on('error', () => resolve(0))
    })
    t.equal(status, 200, `GET ${path} is served`)
  }

  const clients: Record<string, JsonLines> = {}
  for (const name of ['client-alice', 'client-bob']) {
    const service = compose.services[name] as ComposeService
    const clientEnv = interpolate(service.environment ?? {}, dotenv)
    const child = spawn(service.command?.[0] as string, [...(service.command?.slice(1) ?? []), '--json'], {
      cwd: app,
      env: { PATH: process.env.PATH, ...clientEnv, WS_SERVER_URL: (clientEnv.WS_SERVER_URL ?? '').replace('server:3000', `127.0.0.1:${port}`), SEALWIRE_HOME: join(work, name) },
      stdio: ['pipe', 'pipe', 'pipe']
    })
    t.teardown(() => { child.kill('SIGKILL') })
    clients[name] = new JsonLines(child)
  }
  const alice = clients['client-alice'] as JsonLines
  const bob = clients['client-bob'] as JsonLines
  t.match(await alice.next((e) => e.event === 'registered'), { user_id: 'alice' }, 'alice registers with the key from .env')
  t.match(await bob.next((e) => e.event === 'registered'), { user_id: 'bob' })
  await alice.next((e) => e.event === 'connected')
  await bob.next((e) => e.event === 'connected')
  alice.send({ cmd: 'dm', to: 'bob', text: 'hello from the alice container' })
  t.match(await bob.next((e) => e.event === 'message'), { from: 'alice', text: 'hello from the alice container' }, 'an encrypted message over WSS')
  await alice.next((e) => e.event === 'delivered')

  for (const c of [alice, bob]) c.proc.stdin?.write('{"cmd":"quit"}\n')
  t.equal(await server.stop(), 0, 'SIGTERM stops the server cleanly')
  t.ok(server.lines.some((l) => l.includes('"url":"/ws?token=[redacted]"')), 'the clients\' connections are logged, their tokens redacted')
})

const hasCompose = (() => {
  try {
    execFileSync('docker-compose', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

t.test('docker-compose validates the compose file with generate-keys.sh\'s .env', {
  skip: hasCompose ? false : 'docker-compose is not installed (apt-get install docker-compose; .ci/run does)'
}, async (t) => {
  const keys = tempDir(t)
  sh('bash', [join(root, 'docker/generate-keys.sh')], root, { ...process.env, OUT_DIR: keys })
  const out = execFileSync('docker-compose', ['-f', join(root, 'docker/compose.yaml'), '--env-file', join(keys, '.env'), 'config'], { encoding: 'utf8' })
  const config = parse(out) as { services: Record<string, { environment?: Record<string, string> }> }
  t.same(Object.keys(config.services).sort(), ['client-alice', 'client-bob', 'server'])
  t.match(config.services.server?.environment, { NODE_ENV: 'production', TLS_CERT: '/app/tls/server.crt' })
  t.ok((config.services['client-alice']?.environment?.WS_PRIVATE_KEY ?? '').length > 80, 'the key from .env is filled in')
  let refused = ''
  try {
    execFileSync('docker-compose', ['-f', join(root, 'docker/compose.yaml'), 'config'], { encoding: 'utf8', stdio: 'pipe', env: { PATH: process.env.PATH }, cwd: keys })
  } catch (err) {
    refused = String((err as { stderr?: string }).stderr)
  }
  t.match(refused, /run docker\/generate-keys.sh first/, 'without .env it says what to do')
})

t.test('docker-compose validates the three-node compose file: one secret, database and Redis for every node, nginx in front', {
  skip: hasCompose ? false : 'docker-compose is not installed (apt-get install docker-compose; .ci/run does)'
}, async (t) => {
  const keys = tempDir(t)
  sh('bash', [join(root, 'docker/generate-keys.sh')], root, { ...process.env, OUT_DIR: keys })
  const out = execFileSync('docker-compose', ['-f', join(root, 'docker/compose.cluster.yaml'), '--env-file', join(keys, '.env'), 'config'], { encoding: 'utf8' })
  const config = parse(out) as { services: Record<string, { environment?: Record<string, string>, build?: unknown, image?: string }> }
  t.same(Object.keys(config.services).sort(), ['node1', 'node2', 'node3', 'postgres', 'proxy', 'redis'])
  const nodes = ['node1', 'node2', 'node3'].map((n) => config.services[n]?.environment ?? {})
  for (const env of nodes) {
    t.match(env, { NODE_ENV: 'production', DATABASE_URL: /^postgres:\/\/sealwire:[0-9a-f]{48}@postgres:5432\/sealwire$/, REDIS_URL: /^redis:\/\/:[0-9a-f]{48}@redis:6379$/ })
    t.same(env, nodes[0], 'every node has the same settings: one JWT secret, one database, one Redis')
  }
  t.ok(config.services.node1?.build !== undefined && config.services.node2?.image === 'sealwire:latest', 'one node builds the image, the others use it')
  t.ok(!out.includes('3000:3000'), 'only the proxy is published')

  const nginx = readFileSync(join(root, 'docker/nginx.conf'), 'utf8')
  for (const n of ['node1', 'node2', 'node3']) t.match(nginx, new RegExp(`server ${n}:3000`), `nginx balances over ${n}`)
  t.match(nginx, /proxy_set_header Upgrade \$http_upgrade/, 'and passes WebSocket upgrades on')

  let refused = ''
  try {
    execFileSync('docker-compose', ['-f', join(root, 'docker/compose.cluster.yaml'), 'config'], { encoding: 'utf8', stdio: 'pipe', env: { PATH: process.env.PATH }, cwd: keys })
  } catch (err) {
    refused = String((err as { stderr?: string }).stderr)
  }
  t.match(refused, /run docker\/generate-keys.sh first/, 'without .env it says what to do')
})
