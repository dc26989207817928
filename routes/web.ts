import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { UnavailableError } from '../services/errors.js'

export interface WebRoutesOptions {
  /** the folder of the built page; by default the one `npm run build` writes, dist/public/web */
  dir?: string
}

// beside the compiled routes in dist/, or in dist/ when run from the TypeScript sources (tap builds it first)
const BUILT = new URL(import.meta.url.endsWith('.ts') ? '../dist/public/web/' : '../public/web/', import.meta.url)

/**
 * Content-Security-Policy of the page: its own files only, no inline script or style, WebSockets to its own
 * host only, and Trusted Types so that no string can become markup.
 */
function contentSecurityPolicy (request: FastifyRequest): string {
  const host = request.host
  const sockets = /^[A-Za-z0-9.\-:[\]]+$/.test(host)
    ? request.protocol === 'https' ? `wss://${host}` : `ws://${host} wss://${host}`
    : 'ws: wss:'
  return [
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self'", `connect-src 'self' ${sockets}`,
    "font-src 'none'", "object-src 'none'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
    "require-trusted-types-for 'script'", "trusted-types 'none'"
  ].join('; ')
}

/** Headers of the page and of each of its files. */
function commonHeaders (reply: FastifyReply): void {
  void reply
    // small files, revalidated on each load so that an upgrade shows at once
    .header('cache-control', 'no-cache')
    .header('x-content-type-options', 'nosniff')
    .header('cross-origin-resource-policy', 'same-origin')
    .header('referrer-policy', 'no-referrer')
}

/**
 * The web client: the page at `/` and its files under `/web/`, as `npm run build` wrote them. Not part of the API:
 * hidden from the OpenAPI document. The files are sent by @fastify/static (ETag, conditional requests, the gzip copy
 * to clients that accept it); the page itself is small and sent from memory, with a policy that names the host.
 */
const routes: FastifyPluginAsync<WebRoutesOptions> = async (fastify, opts) => {
  const dir = opts.dir ?? fileURLToPath(BUILT)
  if (!existsSync(join(dir, 'index.html'))) {
    fastify.log.warn({ dir }, 'the web page is not built: run npm run build')
    const unbuilt = async (): Promise<never> => { throw new UnavailableError('the web page is not built: run npm run build') }
    fastify.get('/', { schema: { hide: true } }, unbuilt)
    fastify.get('/web/*', { schema: { hide: true } }, unbuilt)
    return
  }
  const page = readFileSync(join(dir, 'index.html'))
  const etag = `"${createHash('sha256').update(page).digest('base64url').slice(0, 22)}"`

  fastify.get('/', { schema: { hide: true } }, async (request, reply) => {
    const [path = '/', query] = request.url.split('?', 2)
    // mounted under a prefix, the page's relative links need the trailing slash
    if (!path.endsWith('/')) return await reply.redirect(`${path}/${query === undefined ? '' : `?${query}`}`)
    commonHeaders(reply)
    void reply.type('text/html; charset=utf-8')
      .header('etag', etag)
      .header('content-security-policy', contentSecurityPolicy(request))
      .header('x-frame-options', 'DENY')
      .header('cross-origin-opener-policy', 'same-origin')
      .header('permissions-policy', 'camera=(), microphone=(), geolocation=(), payment=()')
    if (request.headers['if-none-match'] === etag) return await reply.code(304).send()
    return page
  })

  await fastify.register(fastifyStatic, {
    root: dir,
    prefix: '/web/',
    // the page is served at / only, with its policy
    allowedPath: (path) => path !== '/index.html',
    index: false,
    preCompressed: true,
    cacheControl: false,
    // a host app may have its own @fastify/static on its replies
    decorateReply: false,
    setHeaders: commonHeaders
  })
  // @fastify/static names scripts application/javascript; the page's own type is text/javascript (RFC 9239)
  fastify.addHook('onSend', async (_request, reply, payload) => {
    if (String(reply.getHeader('content-type')).startsWith('application/javascript')) void reply.type('text/javascript; charset=utf-8')
    return payload
  })
}

export default routes
