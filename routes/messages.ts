import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorRef, withExamples } from '../schemas/common.js'
import { DIRECT_EXAMPLE } from '../schemas/examples.js'
import { DirectEnvelope } from '../schemas/frames.js'
import { ActiveUsersResponse, HistoryQuery, HistoryResponse, QueueResponse, SubmitResponse } from '../schemas/messages.js'
import { FrameErrors, InvalidTokenError } from '../services/errors.js'

const routes: FastifyPluginAsyncTypebox = async (fastify) => {
  const bearer = [{ bearerAuth: [] }]

  fastify.get('/active-users', {
    onRequest: fastify.authenticate,
    schema: {
      operationId: 'listActiveUsers',
      tags: ['messages'],
      summary: 'Who is online, on any node',
      security: bearer,
      response: { 200: ActiveUsersResponse, 401: ErrorRef }
    }
  }, async () => {
    const users = (await fastify.cluster.presence.online()).sort()
    return { users, count: users.length }
  })

  fastify.post('/direct-message/', {
    onRequest: fastify.authenticate,
    bodyLimit: fastify.config.MAX_MESSAGE_BYTES,
    schema: {
      operationId: 'sendDirectMessage',
      tags: ['messages'],
      summary: 'Send a signed direct message over HTTP',
      description: 'The same envelope as over the WebSocket, stored and delivered the same way and subject to the same ' +
        'per-user rate limit. Answers once the message is stored durably.',
      security: bearer,
      body: withExamples(DirectEnvelope, [DIRECT_EXAMPLE]),
      response: { 200: SubmitResponse, 400: ErrorRef, 401: ErrorRef, 403: ErrorRef, 404: ErrorRef, 429: ErrorRef }
    }
  }, async (request, reply) => {
    const userId = request.user.sub
    const user = await fastify.users.get(userId)
    if (user === undefined) throw new InvalidTokenError()
    const result = await fastify.hub.submit({ user_id: userId, public_key: user.public_key }, request.body, request.ip)
    if (!result.ok) {
      const { code, message, retryAfterMs } = result.refusal
      if (retryAfterMs !== undefined) void reply.header('retry-after', Math.ceil(retryAfterMs / 1000))
      throw new FrameErrors[code](message)
    }
    return { id: request.body.header.id, status: result.status }
  })

  fastify.get('/messages/queue', {
    onRequest: fastify.authenticate,
    schema: {
      operationId: 'getQueue',
      tags: ['messages'],
      summary: 'How many messages wait for your acknowledgement',
      description: 'Direct messages to you that are stored and not yet acknowledged. Clients that rotated their encryption ' +
        'key erase the old secret key once this is zero.',
      security: bearer,
      response: { 200: QueueResponse, 401: ErrorRef }
    }
  }, async (request) => ({ pending: await fastify.messages.pendingCount(request.user.sub) }))

  fastify.get('/messages', {
    onRequest: fastify.authenticate,
    schema: {
      operationId: 'getHistory',
      tags: ['messages'],
      summary: 'Your stored direct messages with one peer',
      description: 'Newest first, paginated with `before`. Direct messages are ciphertext: the client decrypts them ' +
        '(its own sent messages through `sender_encrypted_key`).',
      security: bearer,
      querystring: HistoryQuery,
      response: { 200: HistoryResponse, 400: ErrorRef, 401: ErrorRef }
    }
  }, async (request) => {
    const { peer, limit = 50, before } = request.query
    const rows = await fastify.messages.history(request.user.sub, peer, before, limit)
    return {
      messages: rows.map((row) => {
        const { header, body } = JSON.parse(row.envelope) as { header: Record<string, unknown>, body: Record<string, unknown> }
        return { seq: Number(row.seq), header, body, status: row.status === 'delivered' || row.status === 'rejected' ? row.status : 'pending' as const, received_at: row.created_at, delivered_at: row.delivered_at }
      }),
      next_before: rows.length === limit ? Number(rows[rows.length - 1]?.seq) : null
    }
  })
}

export default routes
