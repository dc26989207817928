import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { NotFoundError, UnavailableError } from '../services/errors.js'

export interface WebRoutesOptions {
  /** the folder of the built page; by default the one `npm run build` writes beside the compiled routes */
  dir?: string
}

interface Asset {
  body: Buffer
  type: string
  etag: string
}

const SCRIPT = 'sealwire-web.js'
const TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'styles.css': 'text/css; charset=utf-8',
  'icon.svg': 'image/svg+xml',
  [SCRIPT]: 'text/javascript; charset=utf-8',
  [`${SCRIPT}.map`]: 'application/json; charset=utf-8'
}

// One build per folder and process, shared by every app instance (tests build many).
const pages = new Map<string, Promise<Map<string, Asset>>>()

async function readPage (dir: string): Promise<Map<string, Uint8Array>> {
  // `npm run build` bundles the page into dist/client/web; from the TypeScript sources (tsx, tests) there is no
  // such output, and the page is bundled here, in memory, with esbuild (a development dependency)
  if (existsSync(join(dir, SCRIPT))) {
    return new Map(Object.keys(TYPES).filter((name) => existsSync(join(dir, name))).map((name) => [name, readFileSync(join(dir, name))]))
  }
  const { buildWebPage } = await import('../client/bundle.js')
  return await buildWebPage()
}

function loadPage (dir: string): Promise<Map<string, Asset>> {
  let page = pages.get(dir)
  if (page === undefined) {
    page = readPage(dir).then((files) => new Map([...files].flatMap(([name, contents]) => {
      const type = TYPES[name]
      if (type === undefined) return []
      const body = Buffer.from(contents)
      return [[name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` }]]
    })))
    // a failed build is tried again on the next request
    page.catch(() => pages.delete(dir))
    pages.set(dir, page)
  }
  return page
}

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

async function send (request: FastifyRequest, reply: FastifyReply, asset: Asset): Promise<Buffer | undefined> {
  void reply
    .header('content-type', asset.type)
    .header('etag', asset.etag)
    // small files, revalidated on each load so an upgrade shows at once
    .header('cache-control', 'no-cache')
    .header('x-content-type-options', 'nosniff')
    .header('cross-origin-resource-policy', 'same-origin')
    .header('referrer-policy', 'no-referrer')
  if (request.headers['if-none-match'] === asset.etag) {
    void reply.code(304)
    return undefined
  }
  return asset.body
}

/** The web client: the page at `/` and its files under `/web/`. Not part of the API: hidden from the OpenAPI document. */
const routes: FastifyPluginAsync<WebRoutesOptions> = async (fastify, opts) => {
  const dir = opts.dir ?? fileURLToPath(new URL('../client/web/', import.meta.url))

  const page = async (): Promise<Map<string, Asset>> => {
    try {
      return await loadPage(dir)
    } catch (err) {
      fastify.log.error({ err }, 'the web page could not be built')
      throw new UnavailableError('the web page is not built: run npm run build')
    }
  }

  fastify.get('/', { schema: { hide: true } }, async (request, reply) => {
    const [path = '/', query] = request.url.split('?', 2)
    // mounted under a prefix, the page's relative links need the trailing slash
    if (!path.endsWith('/')) return await reply.redirect(`${path}/${query === undefined ? '' : `?${query}`}`)
    const asset = (await page()).get('index.html')
    if (asset === undefined) throw new NotFoundError()
    void reply
      .header('content-security-policy', contentSecurityPolicy(request))
      .header('x-frame-options', 'DENY')
      .header('cross-origin-opener-policy', 'same-origin')
      .header('permissions-policy', 'camera=(), microphone=(), geolocation=(), payment=()')
    return await send(request, reply, asset)
  })

  fastify.get<{ Params: { file: string } }>('/web/:file', { schema: { hide: true } }, async (request, reply) => {
    const name = request.params.file
    const asset = name === 'index.html' ? undefined : (await page()).get(name)
    if (asset === undefined) throw new NotFoundError()
    return await send(request, reply, asset)
  })
}

export default routes
