import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { ErrorResponse } from '../schemas/common.js'
import { dashboardAssets, dashboardPage, type Asset, type DashboardAssets } from '../services/analytics-dashboard.js'
import { UnavailableError } from '../services/errors.js'

// The page loads its own script and style and talks to this server only.
const CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "base-uri 'self'", "form-action 'none'", "frame-ancestors 'none'"
].join('; ')

const routes: FastifyPluginAsyncTypebox = async (fastify) => {
  const base = `${fastify.prefix}/`

  async function assets (): Promise<DashboardAssets> {
    try {
      return await dashboardAssets()
    } catch (err) {
      fastify.log.error({ err }, 'the dashboard could not be bundled')
      throw new UnavailableError('the dashboard is not available on this server')
    }
  }

  function send (request: FastifyRequest, reply: FastifyReply, file: Asset): FastifyReply {
    void reply.header('etag', file.etag).header('x-content-type-options', 'nosniff').header('vary', 'accept-encoding')
      // the page names each file with its version, so a file never changes under its URL
      .header('cache-control', 'public, max-age=31536000, immutable')
    if (request.headers['if-none-match'] === file.etag) return reply.code(304).send()
    void reply.type(file.type)
    if (/\bgzip\b/.test(request.headers['accept-encoding'] ?? '')) return reply.header('content-encoding', 'gzip').send(file.gzip)
    return reply.send(file.body)
  }

  const page = { 200: Type.String({ description: 'the file' }), 503: ErrorResponse }

  fastify.get('/dashboard', {
    schema: {
      tags: ['dashboard'],
      summary: 'The operator dashboard (an HTML page)',
      description: 'Live connections and online users, messages per minute, daily and weekly active users over 30 days. ' +
        'The page asks for an admin\'s identity key (it signs the login challenge in the browser) or a session token, ' +
        'then reads the /analytics endpoints.',
      response: page
    }
  }, async (_request, reply) => {
    const html = dashboardPage(await assets(), base)
    return await reply.type('text/html; charset=utf-8')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY')
      .header('cache-control', 'no-cache')
      .send(html)
  })

  fastify.get('/dashboard/app.js', {
    schema: { tags: ['dashboard'], summary: 'The dashboard\'s script (Chart.js and @noble/curves bundled in)', response: page }
  }, async (request, reply) => send(request, reply, (await assets()).js))

  fastify.get('/dashboard/app.css', {
    schema: { tags: ['dashboard'], summary: 'The dashboard\'s style sheet', response: page }
  }, async (request, reply) => send(request, reply, (await assets()).css))
}

export default routes
