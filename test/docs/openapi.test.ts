import SwaggerParser from '@apidevtools/swagger-parser'
import { errorCodes } from 'fastify'
import t, { type Test } from 'tap'
import { Value } from 'typebox/value'
import { toErrorResponse } from '../../plugins/error-handler.js'
import * as errors from '../../services/errors.js'
import { build, registerAndLogin } from '../helper.js'

const METRICS_TOKEN = 'metrics-token-0123456789abcdef'

interface Media { schema: object, example?: unknown, examples?: Record<string, { value: unknown }> }
interface Operation {
  operationId?: string
  security?: Array<Record<string, string[]>>
  requestBody?: { content: Record<string, Media> }
  responses: Record<string, { content?: Record<string, Media> }>
}
interface Document {
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, { properties: { code: { enum: string[] } } }>, securitySchemes: Record<string, { type: string, scheme?: string }> }
}

async function documented (t: Test, config: { METRICS_TOKEN?: string } = {}) {
  const app = await build(t, { config })
  const doc = (await app.inject({ url: '/docs/json' })).json<Document>()
  const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, path, method, op })))
  return { app, doc, operations }
}

/** Every object in `value` whose properties are the error shape's, where it is not the shared schema itself. */
function inlineErrorShapes (value: unknown, where = '#', found: string[] = []): string[] {
  if (typeof value !== 'object' || value === null) return found
  const properties = (value as { properties?: Record<string, unknown> }).properties
  if (where !== '#/components/schemas/ErrorResponse' && properties !== undefined &&
    ['statusCode', 'code', 'error', 'message'].every((key) => key in properties)) found.push(where)
  for (const [key, child] of Object.entries(value)) inlineErrorShapes(child, `${where}/${key}`, found)
  return found
}

/** Every code the errors of services/errors.ts carry, found by making each one. */
function errorModuleCodes (): string[] {
  const makers = Object.values(errors).flatMap((value) => typeof value === 'function' ? [value] : typeof value === 'object' ? Object.values(value) : [])
  return makers.filter((make): make is new (arg: string) => { code: string } => typeof make === 'function' && new (make as new (arg: string) => unknown)('x') instanceof Error)
    .map((Make) => new Make('x').code.toLowerCase())
}

t.test('every operation has a unique operationId, and the document is valid OpenAPI 3.1', async (t) => {
  const { doc, operations } = await documented(t)
  const ids = operations.map(({ op }) => op.operationId)
  t.ok(operations.length >= 18, `${operations.length} operations`)
  for (const { name, op } of operations) t.type(op.operationId, 'string', `${name} has an operationId`)
  t.equal(new Set(ids).size, ids.length, 'operationIds are unique')
  // the validator dereferences in place: give it a copy
  await t.resolves(SwaggerParser.validate(structuredClone(doc) as never), 'swagger-parser finds no error')
})

t.test('the error shape is defined once and referenced everywhere', async (t) => {
  const { doc, operations } = await documented(t)
  t.ok(doc.components.schemas.ErrorResponse, 'ErrorResponse is in components.schemas')
  t.same(inlineErrorShapes(doc), [], 'no inline copy of it')
  for (const { name, op } of operations) {
    for (const [status, response] of Object.entries(op.responses)) {
      if (Number(status) < 400) continue
      t.same(response.content?.['application/json']?.schema, { $ref: '#/components/schemas/ErrorResponse' }, `${name} ${status}`)
    }
  }
})

t.test('every route documents 500, and every route with a body 413 and 415', async (t) => {
  const { operations } = await documented(t)
  for (const { name, op } of operations) {
    t.ok(op.responses['500'], `${name}: 500`)
    if (op.requestBody !== undefined) {
      t.ok(op.responses['413'] && op.responses['415'], `${name}: 413 and 415`)
      t.ok(Object.keys(op.requestBody.content).every((type) => type === 'application/json'), `${name} takes JSON`)
    }
  }
})

t.test('the code enum holds every code of services/errors.ts and of the error handler, and the codes really sent', async (t) => {
  const { app, doc } = await documented(t)
  const codes = doc.components.schemas.ErrorResponse?.properties.code.enum ?? []
  const fromModule = errorModuleCodes()
  t.ok(fromModule.length >= 20, `${fromModule.length} errors in services/errors.ts`)
  for (const code of fromModule) t.ok(codes.includes(code), `services/errors.ts: ${code}`)
  const fastify = [errorCodes.FST_ERR_CTP_BODY_TOO_LARGE, errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE, errorCodes.FST_ERR_CTP_INVALID_JSON_BODY]
  for (const Make of fastify) t.ok(codes.includes(toErrorResponse(new Make()).code), `error handler: ${new Make().code}`)

  const { token } = await registerAndLogin(app, 'alice')
  const headers = { authorization: `Bearer ${token}` }
  const sent = [
    await app.inject({ method: 'POST', url: '/auth/login', headers: { 'content-type': 'application/json' }, payload: '{"user_id": ' }),
    await app.inject({ method: 'POST', url: '/auth/login', headers: { 'content-type': 'application/xml' }, payload: '<user>alice</user>' }),
    await app.inject({ method: 'POST', url: '/auth/register', payload: { user_id: 'bob', padding: 'x'.repeat(5000) } }),
    await app.inject({ method: 'GET', url: '/analytics/live', headers }),
    await app.inject({ method: 'GET', url: '/auth/users/nobody', headers })
  ].map((res) => res.json<{ code: string }>().code)
  t.same(sent, ['invalid_json', 'unsupported_media_type', 'payload_too_large', 'admin_required', 'unknown_user'])
  for (const code of sent) t.ok(codes.includes(code), `sent: ${code}`)
})

t.test('content types: /metrics is Prometheus text, /dashboard HTML, as the server really sends them', async (t) => {
  const { app, doc } = await documented(t, { METRICS_TOKEN })
  const metrics = doc.paths['/metrics']?.get
  t.same(Object.keys(metrics?.responses['200']?.content ?? {}), ['text/plain; version=0.0.4'])
  const dashboard = doc.paths['/dashboard']?.get
  t.same(Object.keys(dashboard?.responses['200']?.content ?? {}), ['text/html'])
  const scraped = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
  t.match(scraped.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.match((await app.inject({ url: '/dashboard' })).headers['content-type'], /^text\/html/)
  t.same(doc.paths['/ws']?.get?.responses['101'] !== undefined, true, '/ws answers 101')
})

t.test('security: METRICS_TOKEN on /metrics, the session token on authenticated routes', async (t) => {
  const { doc, operations } = await documented(t, { METRICS_TOKEN })
  t.same(doc.paths['/metrics']?.get?.security, [{ metricsToken: [] }])
  t.match(doc.components.securitySchemes.metricsToken, { type: 'http', scheme: 'bearer' })
  t.same(doc.paths['/ws']?.get?.security, [{ queryToken: [] }, { bearerAuth: [] }])
  const open = new Set(['GET /health', 'POST /auth/register', 'POST /auth/login', 'GET /auth/check-userid/{user_id}', 'GET /dashboard', 'GET /metrics', 'GET /ws'])
  for (const { name, op } of operations) {
    if (!open.has(name)) t.same(op.security, [{ bearerAuth: [] }], `${name} asks for a session token`)
  }
  const { doc: openDoc } = await documented(t)
  t.same(openDoc.paths['/metrics']?.get?.security, [], 'without METRICS_TOKEN /metrics is open')
})

t.test('every example in the document matches its schema', async (t) => {
  const { doc } = await documented(t)
  const resolved = await SwaggerParser.dereference(structuredClone(doc) as never) as unknown as Document
  let checked = 0
  for (const [path, methods] of Object.entries(resolved.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const media = [...Object.values(op.requestBody?.content ?? {}), ...Object.values(op.responses).flatMap((r) => Object.values(r.content ?? {}))]
      for (const { schema, example, examples } of media) {
        const values = [...(example === undefined ? [] : [example]), ...Object.values(examples ?? {}).map((e) => e.value)]
        for (const value of values) {
          checked++
          t.ok(Value.Check(schema, value), `${method.toUpperCase()} ${path}: example ${JSON.stringify(value).slice(0, 60)}`)
        }
      }
    }
  }
  t.ok(checked >= 15, `${checked} examples`)
  const bodies = Object.values(resolved.paths).flatMap((methods) => Object.values(methods)).filter((op) => op.requestBody !== undefined)
  for (const op of bodies) {
    const media = Object.values(op.requestBody?.content ?? {})[0]
    t.ok(media?.example !== undefined || media?.examples !== undefined, `${op.operationId}: the request body has an example`)
  }
})
