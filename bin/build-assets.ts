#!/usr/bin/env node
// The browser files, written by `npm run build` after tsc (and by tap before the tests, from the sources): the SDK
// bundle, the web client and the dashboard; and the AsyncAPI document of the WebSocket, made from the frame schemas.
// The server serves them from dist/public and never bundles or generates anything.
import { mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { bundleBrowserSdk, bundleDashboard, bundleWebPage } from '../client/bundle.js'
import { asyncApiDocument } from '../services/asyncapi.js'

const dist = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../dist/' : '../', import.meta.url))
mkdirSync(`${dist}public`, { recursive: true })
writeFileSync(`${dist}public/asyncapi.json`, `${JSON.stringify(asyncApiDocument(), null, 2)}\n`)
await Promise.all([
  bundleBrowserSdk(`${dist}client/sealwire.browser.js`),
  bundleWebPage(`${dist}public/web`),
  bundleDashboard(`${dist}public/dashboard`)
])
