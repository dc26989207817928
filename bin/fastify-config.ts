// fastify-cli's --config file for `npm start` (`fastify start --options --config dist/bin/fastify-config.js
// dist/app.js`): SERVER_ADDR and LOG_LEVEL as fastify-cli's address, port and log level, and a longer grace for
// stopping. fastify-cli's own flags and FASTIFY_* variables still win. The settings are checked here, first: a wrong
// one stops the start with one line that names it.
import { ConfigError, loadConfig } from '../services/config.js'
import type { Config } from '../schemas/config.js'

function settings (): Config {
  try {
    return loadConfig()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${err.message}\n`)
    process.exit(1)
  }
}

const config = settings()
export const address = config.listen.host
export const port = config.listen.port
export const logLevel = config.LOG_LEVEL
// fastify-cli's -g: time for a graceful stop (frames committed and answered, sockets closed) before it gives up
// with exit code 1; its default, 500 ms, is short on a loaded machine. Under Docker's 10 s before SIGKILL.
export const closeGraceDelay = 8000
