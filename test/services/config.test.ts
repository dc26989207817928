import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { ConfigError, loadConfig, parseAddress } from '../../services/config.js'
import { tempDir } from '../helper.js'

t.test('defaults need no environment at all', async (t) => {
  const config = loadConfig({}, {}, tempDir(t))
  t.equal(config.SERVER_ADDR, undefined)
  t.same(config.listen, { host: '0.0.0.0', port: 3000 }, ':3000 without TLS')
  t.equal(config.tls, null)
  t.equal(config.httpRedirect, null)
  t.equal(config.DB_PATH, './data/sealwire.db')
  t.equal(config.MESSAGE_RATE_LIMIT, 5)
  t.equal(config.MESSAGE_BURST_LIMIT, 10)
  t.equal(config.MAX_MESSAGE_BYTES, 65536)
  t.equal(config.JWT_TTL, 86400)
  t.ok(config.jwtSecretGenerated)
  t.ok(config.JWT_SECRET.length >= 32)
  t.not(loadConfig({}).JWT_SECRET, config.JWT_SECRET, 'a new random secret for each run')
  t.same(config.allowedOrigins, [])
})

t.test('values are read from strings and programmatic overrides win', async (t) => {
  const config = loadConfig(
    { MESSAGE_RATE_LIMIT: '2.5', MESSAGE_BURST_LIMIT: '20', ALLOW_PLAINTEXT_DIRECT: 'true', ALLOWED_ORIGINS: 'https://a.example, http://b.example:8080/', ADMIN_USERS: 'alice,bob', SERVER_ADDR: '127.0.0.1:4000', DB_PATH: '' },
    { MESSAGE_BURST_LIMIT: 30 }
  )
  t.equal(config.MESSAGE_RATE_LIMIT, 2.5)
  t.equal(config.MESSAGE_BURST_LIMIT, 30)
  t.equal(config.ALLOW_PLAINTEXT_DIRECT, true)
  t.same(config.allowedOrigins, ['https://a.example', 'http://b.example:8080'])
  t.same(config.adminUsers, ['alice', 'bob'])
  t.same(config.listen, { host: '127.0.0.1', port: 4000 })
  t.equal(config.DB_PATH, './data/sealwire.db', 'an empty variable counts as unset')
})

t.test('SERVER_ADDR forms', async (t) => {
  t.same(parseAddress(':8080'), { host: '0.0.0.0', port: 8080 })
  t.same(parseAddress('localhost:1'), { host: 'localhost', port: 1 })
  t.same(parseAddress('[::1]:3000'), { host: '::1', port: 3000 })
  t.throws(() => parseAddress(':70000'), { name: 'ConfigError', variable: 'SERVER_ADDR' })
})

t.test('an invalid value names the variable in one line', async (t) => {
  const cases: Array<[Record<string, string>, string, RegExp]> = [
    [{ MESSAGE_RATE_LIMIT: '-1' }, 'MESSAGE_RATE_LIMIT', /must be > 0/],
    [{ MESSAGE_RATE_LIMIT: 'fast' }, 'MESSAGE_RATE_LIMIT', /number/],
    [{ MESSAGE_BURST_LIMIT: '1.5' }, 'MESSAGE_BURST_LIMIT', /integer/],
    [{ MAX_MESSAGE_BYTES: '10' }, 'MAX_MESSAGE_BYTES', />= 1024/],
    [{ SERVER_ADDR: 'localhost' }, 'SERVER_ADDR', /pattern/],
    [{ SERVER_ADDR: ':99999' }, 'SERVER_ADDR', /out of range/],
    [{ JWT_TTL: '10' }, 'JWT_TTL', />= 60/],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', /./],
    [{ ALLOW_PLAINTEXT_DIRECT: 'maybe' }, 'ALLOW_PLAINTEXT_DIRECT', /boolean/],
    [{ ALLOWED_ORIGINS: 'https://ok.example,not a url' }, 'ALLOWED_ORIGINS', /invalid entry/],
    [{ ALLOWED_ORIGINS: 'https://a.example/path' }, 'ALLOWED_ORIGINS', /invalid entry/]
  ]
  for (const [env, variable, problem] of cases) {
    const err = t.throws(() => loadConfig(env)) as ConfigError
    t.equal(err.variable, variable, `${JSON.stringify(env)} names ${variable}`)
    t.match(err.message, problem)
    t.match(err.message, new RegExp(`^Invalid configuration: ${variable} `))
    t.notMatch(err.message, /\n/, 'one line')
  }
})

t.test('JWT_SECRET: at least 32 characters, required in production, never echoed', async (t) => {
  const short = t.throws(() => loadConfig({ JWT_SECRET: 'hunter2-is-short' })) as ConfigError
  t.equal(short.variable, 'JWT_SECRET')
  t.notMatch(short.message, /hunter2/, 'the secret itself is not in the message')
  const missing = t.throws(() => loadConfig({ NODE_ENV: 'production' })) as ConfigError
  t.equal(missing.variable, 'JWT_SECRET')
  t.match(missing.message, /required when NODE_ENV=production/)
  const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) })
  t.equal(config.jwtSecretGenerated, false)
  t.equal(config.JWT_SECRET, 'x'.repeat(32))
})

t.test('DATABASE_URL and REDIS_URL: their schemes are checked, their passwords never echoed', async (t) => {
  const config = loadConfig({ DATABASE_URL: 'postgresql://app:pw@db.internal:5432/chat', REDIS_URL: 'rediss://:pw@cache:6380/2', JWT_SECRET: 'x'.repeat(32) })
  t.equal(config.DATABASE_URL, 'postgresql://app:pw@db.internal:5432/chat')
  t.equal(config.DATABASE_POOL_SIZE, 10)
  t.equal(config.REDIS_KEY_PREFIX, 'sealwire:')
  t.equal(config.CLUSTER_NODE_TTL_MS, 15000)
  for (const [variable, value] of [['DATABASE_URL', 'mysql://app:hunter2@db/chat'], ['REDIS_URL', 'http://:hunter2@cache:6379']]) {
    const err = t.throws(() => loadConfig({ [variable as string]: value, JWT_SECRET: 'x'.repeat(32) })) as ConfigError
    t.equal(err.variable, variable)
    t.notMatch(err.message, /hunter2/, `${variable}: the URL (and its password) is not in the message`)
  }
  const alone = t.throws(() => loadConfig({ REDIS_URL: 'redis://cache:6379' })) as ConfigError
  t.equal(alone.variable, 'JWT_SECRET', 'nodes sharing Redis must share a JWT_SECRET: a random one per node cannot work')
  t.match(alone.message, /required with REDIS_URL/)
  const prefix = t.throws(() => loadConfig({ REDIS_KEY_PREFIX: 'has spaces *' })) as ConfigError
  t.equal(prefix.variable, 'REDIS_KEY_PREFIX')
  t.equal((t.throws(() => loadConfig({ CLUSTER_NODE_TTL_MS: '10' })) as ConfigError).variable, 'CLUSTER_NODE_TTL_MS')
})

t.test('the start command stops with that one line on a bad setting', async (t) => {
  const bin = fileURLToPath(new URL('../../bin/sealwire-server.ts', import.meta.url))
  const run = spawnSync(process.execPath, ['--import', 'tsx', bin], {
    env: { PATH: process.env.PATH, MESSAGE_BURST_LIMIT: 'lots' },
    encoding: 'utf8',
    timeout: 30_000
  })
  t.equal(run.status, 1)
  t.equal(run.stderr.trim(), 'Invalid configuration: MESSAGE_BURST_LIMIT must be integer (got "lots")')
})
