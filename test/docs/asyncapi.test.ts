import { join } from 'node:path'
import { Parser } from '@asyncapi/parser'
import Fastify from 'fastify'
import t from 'tap'
import { Value } from 'typebox/value'
import sealwire from '../../app.js'
import { BOB_PUBLIC_KEY, PUBLIC_USER_EXAMPLE } from '../../schemas/examples.js'
import { CLIENT_FRAMES, FRAME_ERROR_CODES, SERVER_FRAMES } from '../../schemas/frames.js'
import { asyncApiDocument } from '../../services/asyncapi.js'
import { verifyStrict } from '../../services/protocol/signature.js'
import { messageSigningInput } from '../../services/protocol/signing.js'
import { build, tempDir, TEST_JWT_SECRET } from '../helper.js'

interface Message { name: string, payload: { $ref: string }, examples: Array<{ payload: { header: Record<string, unknown>, body: Record<string, unknown> } }> }
const doc = asyncApiDocument() as unknown as {
  asyncapi: string
  info: { description: string }
  servers: Record<string, { pathname?: string }>
  channels: { ws: { address: string, messages: Record<string, { $ref: string }> } }
  operations: Record<string, { action: 'send' | 'receive', messages: Array<{ $ref: string }> }>
  components: { messages: Record<string, Message>, schemas: Record<string, unknown> }
}
const schemaOf = (message: Message): unknown => doc.components.schemas[message.payload.$ref.split('/').pop() ?? '']
const keyOf = (ref: { $ref: string }): string => ref.$ref.split('/').pop() ?? ''

t.test('the AsyncAPI parser finds no error in the document', async (t) => {
  const diagnostics = await new Parser().validate(JSON.stringify(doc))
  const errors = diagnostics.filter((d) => d.severity === 0)
  t.same(errors.map((d) => `${d.code}: ${d.message} at ${d.path.join('/')}`), [], 'no errors')
  // Spectral's severities: 0 error, 1 warning, 2 information, 3 hint. Today there is one piece of information:
  // asyncapi-latest-version, as 3.1.0 exists and the document is 3.0.0 on purpose.
  t.same(diagnostics.filter((d) => d.severity === 1).map((d) => d.code), [], 'no warnings either')
  for (const d of diagnostics.filter((d) => d.severity > 1)) t.comment(`${d.code}: ${d.message}`)
  const { document } = await new Parser().parse(JSON.stringify(doc))
  t.equal(document?.channels().all().map((c) => c.address()).join(), '/ws')
  t.equal(document?.messages().length, Object.keys(CLIENT_FRAMES).length + Object.keys(SERVER_FRAMES).length)
})

t.test('every frame is a message, its payload the schema the server validates with, in the right direction', async (t) => {
  const byDirection = { receive: CLIENT_FRAMES, send: SERVER_FRAMES }
  for (const [action, frames] of Object.entries(byDirection)) {
    const operations = Object.values(doc.operations).filter((op) => op.action === action)
    const messages = operations.flatMap((op) => op.messages.map((ref) => doc.components.messages[keyOf(ref)] as Message))
    for (const [type, schema] of Object.entries(frames)) {
      const message = messages.find((m) => m.name === type)
      t.ok(message, `${action}: ${type}`)
      if (message === undefined) continue
      t.same(schemaOf(message), JSON.parse(JSON.stringify(schema)), `${action} ${type}: the frame's schema`)
      t.ok(Object.values(doc.channels.ws.messages).some((ref) => doc.components.messages[keyOf(ref)] === message), `${type} is on /ws`)
    }
    t.equal(messages.length, Object.keys(frames).length, `${action}: no other message`)
  }
  t.equal(doc.channels.ws.address, '/ws')
  for (const code of FRAME_ERROR_CODES) t.match(doc.info.description, `\`${code}\``, `error code ${code} is described`)
})

t.test('every example is a valid frame, and the signed ones verify with their signer\'s key', async (t) => {
  const keys: Record<string, Buffer> = {
    alice: Buffer.from(PUBLIC_USER_EXAMPLE.public_key, 'base64'),
    bob: Buffer.from(BOB_PUBLIC_KEY, 'base64')
  }
  let signed = 0
  for (const [key, message] of Object.entries(doc.components.messages)) {
    for (const { payload } of message.examples) {
      t.ok(Value.Check(schemaOf(message) as never, payload), `${key}: the example matches the schema`)
      const signature = payload.header.signature
      if (typeof signature !== 'string') continue
      signed++
      const input = new TextEncoder().encode(messageSigningInput(payload.header, payload.body))
      const signer = keys[String(payload.header.from)]
      t.ok(signer !== undefined && verifyStrict(signer, input, Buffer.from(signature, 'base64')), `${key}: the signature verifies`)
    }
  }
  t.equal(signed, 6, 'direct, broadcast, server and reject as sent, direct and broadcast as delivered')
})

t.test('served at /docs/asyncapi.json as the build wrote it, and linked from the OpenAPI document', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/docs/asyncapi.json' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  t.same(res.json(), JSON.parse(JSON.stringify(doc)), 'the document of the frame schemas')
  const openapi = (await app.inject({ url: '/docs/json' })).json<{ info: { description: string }, externalDocs: { url: string } }>()
  t.equal(openapi.externalDocs.url, '/docs/asyncapi.json')
  t.match(openapi.info.description, '](/docs/asyncapi.json)')
})

t.test('under a prefix: served there, its server\'s path the prefix', async (t) => {
  const host = Fastify()
  await host.register(sealwire, { prefix: '/chat', env: {}, config: { DB_PATH: join(tempDir(t), 'prefixed.db'), JWT_SECRET: TEST_JWT_SECRET } })
  t.teardown(() => host.close())
  const res = await host.inject({ url: '/chat/docs/asyncapi.json' })
  t.equal(res.statusCode, 200)
  const served = res.json<typeof doc>()
  t.equal(served.servers.sealwire?.pathname, '/chat')
  t.equal((await host.inject({ url: '/docs/asyncapi.json' })).statusCode, 404, 'nothing outside the prefix')
  const openapi = (await host.inject({ url: '/chat/docs/json' })).json<{ externalDocs: { url: string } }>()
  t.equal(openapi.externalDocs.url, '/chat/docs/asyncapi.json')
  const diagnostics = await new Parser().validate(res.body)
  t.same(diagnostics.filter((d) => d.severity === 0), [], 'still valid')
})
