import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ErrorRef } from '../schemas/common.js'
import { UnavailableError } from '../services/errors.js'

export interface DashboardRoutesOptions {
  /** the folder of the built dashboard; by default the one `npm run build` writes, dist/public/dashboard */
  dir?: string
}

// beside the compiled routes in dist/, or in dist/ when run from the TypeScript sources (tap builds it first)
const BUILT = new URL(import.meta.url.endsWith('.ts') ? '../dist/public/dashboard/' : '../public/dashboard/', import.meta.url)

// The page loads its own script and style and talks to this server only.
const CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "base-uri 'self'", "form-action 'none'", "frame-ancestors 'none'"
].join('; ')

/** The page for an app served under `base` (`/`, or `/chat/` under a prefix): the built page with its base filled in. */
export function dashboardPage (template: string, base: string): string {
  const escaped = base.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
  return template.replace('%BASE%', escaped)
}

/**
 * The operator dashboard: the page at /dashboard, and its script and style sheet, named by version in the page and
 * so cached for good, sent by @fastify/static (with their gzip copies) from what `npm run build` wrote.
 */
const routes: FastifyPluginAsyncTypebox<DashboardRoutesOptions> = async (fastify, opts) => {
  const dir = opts.dir ?? fileURLToPath(BUILT)
  const built = existsSync(join(dir, 'index.html'))
  if (!built) fastify.log.warn({ dir }, 'the dashboard is not built: run npm run build')
  const html = built ? dashboardPage(readFileSync(join(dir, 'index.html'), 'utf8'), `${fastify.prefix}/`) : undefined

  fastify.get('/dashboard', {
    schema: {
      operationId: 'getDashboard',
      tags: ['dashboard'],
      summary: 'The operator dashboard (an HTML page)',
      description: 'Live connections and online users, messages per minute, daily and weekly active users over 30 days. ' +
        'The page asks for an admin\'s identity key (it signs the login challenge in the browser) or a session token, ' +
        'then reads the /analytics endpoints. Its script and style sheet are under /dashboard/.',
      response: { 200: { description: 'the page', content: { 'text/html': { schema: Type.String() } } }, 503: ErrorRef }
    }
  }, async (_request, reply) => {
    if (html === undefined) throw new UnavailableError('the dashboard is not built: run npm run build')
    return await reply.type('text/html; charset=utf-8')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY')
      .header('cache-control', 'no-cache')
      .send(html)
  })

  if (!built) return
  await fastify.register(fastifyStatic, {
    root: dir,
    prefix: '/dashboard/',
    allowedPath: (path) => path === '/app.js' || path === '/app.css',
    index: false,
    preCompressed: true,
    // the page names each file with its version, so a file never changes under its URL
    maxAge: 365 * 86_400_000,
    immutable: true,
    // a host app may have its own @fastify/static on its replies
    decorateReply: false,
    setHeaders: (reply) => { void reply.header('x-content-type-options', 'nosniff') }
  })
  // @fastify/static names scripts application/javascript; text/javascript is the type (RFC 9239)
  fastify.addHook('onSend', async (_request, reply, payload) => {
    if (String(reply.getHeader('content-type')).startsWith('application/javascript')) void reply.type('text/javascript; charset=utf-8')
    return payload
  })
}

export default routes
