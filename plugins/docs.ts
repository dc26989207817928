import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import { errorCodes, type FastifySchema, type RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { ERROR_RESPONSE_ID, ErrorRef, ErrorResponse } from '../schemas/common.js'
import { ERROR_CODES, UnavailableError } from '../services/errors.js'
import { toErrorResponse } from './error-handler.js'

export const API_TAGS = [
  { name: 'auth', description: 'registration, challenge login and user look-up' },
  { name: 'realtime', description: 'the WebSocket' },
  { name: 'messages', description: 'direct messages over HTTP, history and presence' },
  { name: 'health', description: 'liveness and readiness' },
  { name: 'analytics', description: 'usage figures for administrators (ADMIN_USERS)' },
  { name: 'metrics', description: 'Prometheus metrics' },
  { name: 'dashboard', description: 'the operator dashboard page' }
]

/** The Fastify errors that the error handler maps to codes of its own, and any other error (a 500). */
const FASTIFY_ERRORS = [
  errorCodes.FST_ERR_CTP_INVALID_JSON_BODY, errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY, errorCodes.FST_ERR_CTP_BODY_TOO_LARGE,
  errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE, errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH
].map((MakeError) => new MakeError())

/** Every `code` an HTTP answer can carry: the errors of services/errors.ts and what the error handler makes of Fastify's. */
export const HTTP_ERROR_CODES: readonly string[] = [...new Set([
  ...ERROR_CODES,
  ...[...FASTIFY_ERRORS, Object.assign(new Error('a bug'), { code: 'ERR_ANYTHING' })].map((err) => toErrorResponse(err).code)
])].sort()

/** ErrorResponse as the document shows it, once, in components.schemas: its `code` one of HTTP_ERROR_CODES. */
const SharedErrorResponse = {
  ...ErrorResponse,
  $id: ERROR_RESPONSE_ID,
  properties: { ...ErrorResponse.properties, code: { ...ErrorResponse.properties.code, enum: HTTP_ERROR_CODES } }
}

// beside the compiled plugins in dist/, or in dist/ when run from the TypeScript sources (tap builds it first)
const ASYNCAPI = new URL(import.meta.url.endsWith('.ts') ? '../dist/public/asyncapi.json' : '../public/asyncapi.json', import.meta.url)

const refusal = (description: string) => ({ ...ErrorRef, description })
const BODY_REFUSALS = {
  400: refusal('invalid_json or invalid_request: the body is not JSON, or not what the schema asks'),
  413: refusal('payload_too_large: the body is over this route\'s limit'),
  415: refusal('unsupported_media_type: a content type the server does not read (send application/json)')
}
const INTERNAL = refusal('internal: a fault of the server, never explained to the client (it is logged)')

/** Answers every documented route may give: 500, and for a route with a body, the refusals of its body. */
function addCommonResponses (route: RouteOptions): void {
  const schema: FastifySchema | undefined = route.schema
  // @fastify/websocket hides its routes; /ws shows itself again in its swaggerTransform
  if (schema === undefined || (schema.hide === true && route.websocket !== true)) return
  const refusals = schema.body === undefined ? {} : BODY_REFUSALS
  route.schema = { ...schema, response: { ...refusals, ...(schema.response as object | undefined), 500: INTERNAL } }
}

/** The AsyncAPI document that `npm run build` wrote, its server's path set to the app's prefix. */
function asyncApiText (prefix: string): string | undefined {
  const path = fileURLToPath(ASYNCAPI)
  if (!existsSync(path)) return undefined
  const doc = JSON.parse(readFileSync(path, 'utf8')) as { servers: Record<string, Record<string, unknown>> }
  if (prefix !== '') for (const server of Object.values(doc.servers)) server.pathname = prefix
  return JSON.stringify(doc)
}

export default fp(async (fastify) => {
  const prefix = fastify.prefix
  const asyncApiUrl = `${prefix}/docs/asyncapi.json`
  fastify.addSchema(SharedErrorResponse)
  fastify.addHook('onRoute', addCommonResponses)

  await fastify.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Sealwire',
        description: 'End-to-end encrypted real-time messaging. Every refusal is an `ErrorResponse` with a stable `code`. ' +
          `The WebSocket at /ws and its frames are described by the [AsyncAPI document](${asyncApiUrl}), made from the same ` +
          'schemas the server validates frames with; docs/protocol.md in the project explains the protocol in prose.',
        version: '1',
        license: { name: 'MIT', identifier: 'MIT' }
      },
      externalDocs: { description: 'AsyncAPI 3.0 document of the WebSocket protocol', url: asyncApiUrl },
      tags: API_TAGS,
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'a session token from POST /auth/login?verify=true' },
          queryToken: { type: 'apiKey', in: 'query', name: 'token', description: 'the session token in ?token=, for the WebSocket' },
          metricsToken: { type: 'http', scheme: 'bearer', description: 'the METRICS_TOKEN setting, for Prometheus' }
        }
      }
    },
    // shared schemas appear in components.schemas by their $id
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}` }
  })
  // without a trailing slash the UI's page links its files absolutely, from routePrefix alone: add the app's prefix
  await fastify.register(fastifySwaggerUi, { routePrefix: '/docs', indexPrefix: prefix })

  const asyncApi = asyncApiText(prefix)
  if (asyncApi === undefined) fastify.log.warn({ path: fileURLToPath(ASYNCAPI) }, 'the AsyncAPI document is not built: run npm run build')
  fastify.get('/docs/asyncapi.json', { schema: { hide: true } }, async (_request, reply) => {
    if (asyncApi === undefined) throw new UnavailableError('the AsyncAPI document is not built: run npm run build')
    return await reply.type('application/json; charset=utf-8').header('cache-control', 'no-cache').send(asyncApi)
  })
}, { name: 'sealwire-docs' })
