import type { FastifyRequest } from 'fastify'

const TOKEN_PARAM = /([?&](?:access_)?token=)[^&#]*/gi

/** The URL with any token query parameter replaced, for log lines. */
export function redactUrl (url: string): string {
  return url.replace(TOKEN_PARAM, '$1[redacted]')
}

/**
 * pino serializers for the server's logger: the request line without secrets. Embedders that build
 * their own Fastify logger should use these too.
 */
export const logSerializers = {
  req (request: FastifyRequest) {
    return {
      method: request.method,
      url: redactUrl(request.url),
      host: request.host,
      remoteAddress: request.ip,
      remotePort: request.socket?.remotePort
    }
  }
}

export const logRedactPaths = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization']
