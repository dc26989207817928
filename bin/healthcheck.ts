#!/usr/bin/env node
// The container's HEALTHCHECK: GET /health on this server's own address, over HTTPS when TLS is on.
// Exit 0 when healthy, 1 otherwise. The certificate is not checked: this is the server asking itself.
import { get as httpGet } from 'node:http'
import { get as httpsGet } from 'node:https'
import { loadConfig } from '../services/config.js'

const config = loadConfig()
const host = config.listen.host === '0.0.0.0' || config.listen.host === '::' ? '127.0.0.1' : config.listen.host
const get = config.tls === null ? httpGet : httpsGet
const request = get({ host, port: config.listen.port, path: '/health', timeout: 4000, rejectUnauthorized: false }, (res) => {
  res.resume()
  process.exitCode = res.statusCode === 200 ? 0 : 1
})
request.on('timeout', () => request.destroy(new Error('timeout')))
request.on('error', () => { process.exitCode = 1 })
