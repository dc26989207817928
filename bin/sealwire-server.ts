#!/usr/bin/env node
// `sealwire-server`: the server `npm start` starts, from wherever the package is installed (and from the sources,
// for `npm run dev` and the tests): fastify-cli's `start` on app.js, through its public helper, on SERVER_ADDR, at
// LOG_LEVEL, with the server options of the settings.
import { fileURLToPath } from 'node:url'
import helper from 'fastify-cli/helper.js'
import { loadConfig, serverOptions } from '../app.js'
// first, it checks the settings: a wrong one stops the start here with one line that names it
import { address, closeGraceDelay, logLevel, port } from './fastify-config.js'

const app = fileURLToPath(new URL(`../app${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url))
const args = ['--address', address, '--port', String(port), '--log-level', logLevel, '--close-grace-delay', String(closeGraceDelay), app]
await helper.listen(args, {}, serverOptions(loadConfig()))
