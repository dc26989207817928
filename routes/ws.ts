import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { RawData } from 'ws'
import { ErrorRef } from '../schemas/common.js'
import { CLOSE } from '../services/hub/connection.js'
import { ForbiddenError, InvalidTokenError, TooManyConnectionsError } from '../services/errors.js'
import { originAllowed } from '../services/origins.js'

function text (data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8')
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  return Buffer.from(data).toString('utf8')
}

const routes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { config, hub } = fastify

  fastify.get('/ws', {
    websocket: true,
    config: {
      tokenInQuery: true,
      // @fastify/websocket hides WebSocket routes from the OpenAPI document; this one belongs in it
      swaggerTransform: ({ schema, url }) => ({ schema: { ...schema, hide: false }, url })
    },
    schema: {
      operationId: 'openWebSocket',
      tags: ['realtime'],
      summary: 'Open the real-time connection',
      description: 'Upgrades to a WebSocket carrying the frames of the Sealwire protocol (docs/protocol.md). The token comes ' +
        'from `?token=` or `Authorization: Bearer`; it is checked before the upgrade.',
      security: [{ queryToken: [] }, { bearerAuth: [] }],
      querystring: Type.Object({ token: Type.Optional(Type.String({ maxLength: 4096, description: 'session token' })) }),
      response: {
        101: { description: 'Switching Protocols: a WebSocket carrying the frames of the AsyncAPI document', type: 'null' },
        401: ErrorRef,
        403: ErrorRef,
        429: ErrorRef
      }
    },
    onRequest: async (request) => {
      const origin = request.headers.origin
      if (!originAllowed(origin, config.allowedOrigins)) {
        fastify.audit({ event: 'origin_refused', ip: request.ip, detail: { origin: String(origin).slice(0, 200) } })
        throw new ForbiddenError('origin not allowed')
      }
    },
    preValidation: async (request) => {
      await fastify.authenticate(request)
      const user = await fastify.users.get(request.user.sub)
      if (user === undefined) throw new InvalidTokenError()
      if (hub.connectionCount(user.user_id) >= config.MAX_CONNECTIONS_PER_USER) throw new TooManyConnectionsError()
      request.hubUser = { user_id: user.user_id, public_key: user.public_key, jti: request.user.jti }
    }
  }, (socket, request) => {
    const user = request.hubUser
    if (user === null || hub.closing) {
      socket.close(CLOSE.goingAway, 'server shutting down')
      return
    }
    // revoked between the check before the upgrade and now: from here on, closeToken finds the connection
    if (user.jti !== undefined && fastify.revocations.isKnown(user.jti)) {
      socket.close(CLOSE.policy, 'token revoked')
      return
    }
    const conn = hub.open(user, {
      send: (data) => socket.send(data, { binary: false }),
      close: (code, reason) => socket.close(code, reason),
      terminate: () => socket.terminate(),
      ping: () => socket.ping(),
      get bufferedAmount () { return socket.bufferedAmount }
    }, { remoteAddress: request.ip, userAgent: request.headers['user-agent']?.slice(0, 256) })
    socket.on('message', (data, isBinary) => {
      if (isBinary) {
        socket.close(CLOSE.unsupported, 'binary frames are not supported')
        hub.close(conn)
        return
      }
      hub.handleText(conn, text(data))
    })
    socket.on('pong', () => { conn.alive = true })
    socket.on('close', () => hub.close(conn))
    socket.on('error', (err) => {
      request.log.debug({ err, user: user.user_id }, 'websocket error')
      hub.close(conn)
    })
  })
}

export default routes
