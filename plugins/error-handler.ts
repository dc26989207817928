import type { FastifyError } from 'fastify'
import fp from 'fastify-plugin'
import type { ErrorResponse } from '../schemas/common.js'
import { NotFoundError } from '../services/errors.js'

const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_request'
}
const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable'
}

/** Turns any error into {statusCode, code, error, message}; 5xx never show what went wrong inside. */
export function toErrorResponse (err: FastifyError): ErrorResponse {
  const statusCode = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500
  const error = STATUS_TEXT[statusCode] ?? 'Error'
  if (statusCode >= 500) {
    return statusCode === 503 && err.code === 'UNAVAILABLE'
      ? { statusCode, code: 'unavailable', error, message: err.message }
      : { statusCode, code: 'internal', error, message: 'internal server error' }
  }
  if (err.validation !== undefined) {
    // TypeBox reports an unknown property twice (as `schema is false` and as additionalProperties): say it once, by name
    const first = err.validation.find((e) => e.keyword !== 'boolean') ?? err.validation[0]
    const context = err.validationContext ?? 'request'
    const unknown = first?.params.additionalProperties
    const where = `${context}${first?.instancePath ?? ''}`
    const message = Array.isArray(unknown)
      ? `${where} has unknown property ${unknown.map((p) => JSON.stringify(p)).join(', ')}`
      // a regular expression helps nobody: the OpenAPI document describes each format
      : first?.keyword === 'pattern' ? `${where} has an invalid format` : `${where} ${first?.message ?? 'is invalid'}`
    return { statusCode: 400, code: 'invalid_request', error, message }
  }
  // @fastify/error upper-cases codes; clients see them in lower case, as on the WebSocket.
  const code = FASTIFY_CODES[err.code] ?? (err.code === undefined || err.code.startsWith('FST_') ? 'invalid_request' : err.code.toLowerCase())
  return { statusCode, code, error, message: err.message }
}

export default fp(async (fastify) => {
  fastify.setErrorHandler((err: FastifyError, request, reply) => {
    const body = toErrorResponse(err)
    if (body.statusCode >= 500) request.log.error({ err }, 'request failed')
    else request.log.info({ code: body.code, statusCode: body.statusCode }, body.message)
    return reply.code(body.statusCode).send(body)
  })
  fastify.setNotFoundHandler((request, reply) => {
    return reply.code(404).send(toErrorResponse(new NotFoundError()))
  })
}, { name: 'sealwire-error-handler' })
