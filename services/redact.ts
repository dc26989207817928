import type { FastifyInstance, FastifyRequest } from 'fastify'

// token, access_token, refresh_token, id_token…, named as the query parser reads the name (decoded)
const SECRET_PARAM = /(^|_)token$/i

function decodedName (name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '))
  } catch {
    return name
  }
}

/**
 * The URL with the value of every token parameter replaced, for log lines. Parameters are split on `&` and their
 * names decoded as Fastify's query parser does, so `?%74oken=…` (which authenticates as `?token=…`) is hidden too.
 */
export function redactUrl (url: string): string {
  const q = url.indexOf('?')
  if (q < 0) return url
  const params = url.slice(q + 1).split('&').map((param) => {
    const eq = param.indexOf('=')
    if (eq < 0 || !SECRET_PARAM.test(decodedName(param.slice(0, eq)))) return param
    return `${param.slice(0, eq)}=[redacted]`
  })
  return `${url.slice(0, q + 1)}${params.join('&')}`
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

/**
 * The request loggers of Sealwire's routes use its serializers whatever logger the server was made with (fastify-cli
 * without `--options`, or a host app's own), so a token in a URL never reaches a log line.
 */
export const redactingChildLoggerFactory: Parameters<FastifyInstance['setChildLoggerFactory']>[0] = function (logger, bindings, opts) {
  return logger.child(bindings, { ...opts, serializers: { ...opts.serializers, ...logSerializers } })
}
