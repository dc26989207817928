#!/usr/bin/env node
// The browser files `npm run build` writes after tsc, so that an install without development dependencies
// (the container image) serves them without esbuild: the SDK bundle, the web client and the dashboard.
import { fileURLToPath } from 'node:url'
import { bundleBrowserSdk, bundleWebPage } from '../client/bundle.js'
import { writeDashboard } from '../services/analytics-dashboard.js'

const dist = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../dist/' : '../', import.meta.url))
await bundleBrowserSdk(`${dist}client/sealwire.browser.js`)
await bundleWebPage(`${dist}client/web/`)
await writeDashboard(`${dist}dashboard`)
