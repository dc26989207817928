#!/usr/bin/env node
// npm run gen-cert [-- --force] [-- --name chat.local]: a self-signed development certificate as
// server.crt and server.key in the working folder, which `npm start` then uses.
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { makeDevCertificate, writeDevCertificate } from '../services/dev-cert.js'

const { values } = parseArgs({ options: { force: { type: 'boolean' }, name: { type: 'string', multiple: true }, out: { type: 'string' } } })
const dir = values.out ?? process.cwd()
const cert = join(dir, 'server.crt')
const key = join(dir, 'server.key')
try {
  writeDevCertificate(await makeDevCertificate(values.name ?? []), cert, key, values.force === true)
  process.stdout.write(`wrote ${cert} and ${key} (self-signed, 30 days): npm start (and fastify start --options) now serves HTTPS on :443 and redirects :80\n` +
    'for other ports: SERVER_ADDR=:8443 HTTP_REDIRECT_ADDR=:8080 npm start; clients need INSECURE_TLS=true\n')
} catch (err) {
  process.stderr.write(`gen-cert: ${(err as Error).message}\n`)
  process.exitCode = 1
}
