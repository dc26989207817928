import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** the plain-HTTP listener that redirects to HTTPS, while it runs */
    httpRedirectServer: Server | null
  }
}

const HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d+)?$/

/** Where an HTTP request should go instead: the same host and path on HTTPS, on the HTTPS listener's port. */
export function httpsLocation (hostHeader: string | undefined, url: string, httpsPort: number): string | undefined {
  const match = HOST.exec(hostHeader ?? '')
  if (match === null) return undefined
  const port = httpsPort === 443 ? '' : `:${httpsPort}`
  return `https://${match[1] as string}${port}${url.startsWith('/') ? url : '/'}`
}

/**
 * With TLS on, a second, plain-HTTP listener on HTTP_REDIRECT_ADDR answers every request with a 301 to the
 * same path on HTTPS. It starts when the HTTPS server listens and closes with it.
 */
export default fp(async (fastify) => {
  const { config } = fastify
  fastify.decorate('httpRedirectServer', null)
  if (!config.tls || config.httpRedirect === null) return
  const { host, port } = config.httpRedirect

  fastify.addHook('onListen', async () => {
    const httpsPort = (fastify.server.address() as AddressInfo).port
    const server = createServer((req, res) => {
      const location = httpsLocation(req.headers.host, req.url ?? '/', httpsPort)
      if (location === undefined) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('bad Host header\n')
        return
      }
      res.writeHead(301, { location, 'content-type': 'text/plain', connection: 'close' }).end(`moved to ${location}\n`)
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => resolve())
    })
    fastify.httpRedirectServer = server
    fastify.log.info({ address: server.address() }, 'redirecting HTTP to HTTPS')
  })
  fastify.addHook('onClose', async () => {
    const server = fastify.httpRedirectServer
    if (server === null) return
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
}, { name: 'sealwire-https-redirect', dependencies: ['sealwire-config'] })
