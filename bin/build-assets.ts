#!/usr/bin/env node
// The browser files, written by `npm run build` after tsc (and by tap before the tests, from the sources): the SDK
// bundle, the web client and the dashboard. The server serves them from dist/public and never bundles anything.
import { fileURLToPath } from 'node:url'
import { bundleBrowserSdk, bundleDashboard, bundleWebPage } from '../client/bundle.js'

const dist = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../dist/' : '../', import.meta.url))
await Promise.all([
  bundleBrowserSdk(`${dist}client/sealwire.browser.js`),
  bundleWebPage(`${dist}public/web`),
  bundleDashboard(`${dist}public/dashboard`)
])
