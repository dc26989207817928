// package.json's overrides hold three packages at a major that runs on Node 20: each exercised through the
// package that calls it.
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import fastifyStatic from '@fastify/static'
import Fastify from 'fastify'
import t from 'tap'
import { tempDir } from './helper.js'

const require = createRequire(import.meta.url)

t.test('cookie 1.x: light-my-request writes inject\'s cookies with it', async (t) => {
  const app = Fastify()
  app.get('/', async (request) => ({ cookie: request.headers.cookie }))
  t.teardown(() => app.close())
  t.same((await app.inject({ url: '/', cookies: { a: '1', b: 'x y' } })).json(), { cookie: 'a=1; b=x%20y' })
})

t.test('content-disposition 2.x: @fastify/static names a download with it', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'report.txt'), 'figures\n')
  const app = Fastify()
  await app.register(fastifyStatic, { root: dir, serve: false })
  app.get('/', (_request, reply) => reply.download('report.txt', 'the report.txt'))
  t.teardown(() => app.close())
  const res = await app.inject({ url: '/' })
  t.equal(res.body, 'figures\n')
  t.equal(res.headers['content-disposition'], 'attachment; filename="the report.txt"')
})

t.test('chalk 5.x: fastify-cli loads it as it starts', async (t) => {
  const cli = require.resolve('fastify-cli/cli.js')
  const run = spawnSync(process.execPath, [cli, 'version'], { encoding: 'utf8', timeout: 60_000 })
  t.equal(run.status, 0, run.stderr)
  t.match(run.stdout.trim(), /^\d+\.\d+\.\d+$/)
  const chalk = (createRequire(cli)('chalk') as { default: { bold: (s: string) => string } }).default
  t.type(chalk.bold('x'), 'string', 'and gets the default export it calls')
})
