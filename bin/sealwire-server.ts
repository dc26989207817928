#!/usr/bin/env node
// Starts Sealwire with fastify-cli on SERVER_ADDR. Settings are checked first so that a wrong one stops the
// start with one line that names it.
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { ConfigError, loadConfig, serverOptions } from '../app.js'

type RunFastify = (args: string[], additional?: object, options?: FastifyServerOptions) => Promise<FastifyInstance>
const require = createRequire(import.meta.url)
const { runFastify } = require('fastify-cli/start.js') as { runFastify: RunFastify }

let config
try {
  config = loadConfig()
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  process.stderr.write(`${err.message}\n`)
  process.exit(1)
}

const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js'
const appPath = fileURLToPath(new URL(`../app${extension}`, import.meta.url))
const { host, port } = config.listen

await runFastify(['--address', host, '--port', String(port), '--log-level', config.LOG_LEVEL, appPath], undefined, serverOptions(config))
