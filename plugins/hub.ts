import fastifyWebsocket from '@fastify/websocket'
import fp from 'fastify-plugin'
import { CommandRegistry, type CommandDefinition } from '../services/commands.js'
import type { HubUser } from '../services/hub/connection.js'
import { Hub } from '../services/hub/hub.js'
import { MessageStore } from '../services/message-store.js'
import { TokenBuckets } from '../services/token-bucket.js'

declare module 'fastify' {
  interface FastifyInstance {
    hub: Hub
    messages: MessageStore
    commands: CommandRegistry
    /** adds a server command that signed `server` messages can run */
    registerCommand: (name: string, definition: CommandDefinition) => void
  }
  interface FastifyRequest {
    /** the authenticated user of a WebSocket upgrade */
    hubUser: HubUser | null
  }
}

const VERSION = '0.1.0'

export default fp(async (fastify) => {
  const { config } = fastify
  const messages = new MessageStore(fastify.db)
  const commands = new CommandRegistry(config.COMMAND_TIMEOUT_MS)
  const { cluster } = fastify
  const hub = new Hub({
    store: messages,
    broker: cluster.broker,
    presence: cluster.presence,
    users: fastify.users,
    verifier: fastify.ed25519,
    buckets: new TokenBuckets(config.MESSAGE_RATE_LIMIT, config.MESSAGE_BURST_LIMIT),
    // acks cost a write each, so they have a bucket too, ten times as generous
    ackBuckets: new TokenBuckets(config.MESSAGE_RATE_LIMIT * 10, config.MESSAGE_BURST_LIMIT * 10),
    commands,
    log: fastify.log,
    clockSkewMs: config.CLOCK_SKEW_MS,
    allowPlaintextDirect: config.ALLOW_PLAINTEXT_DIRECT,
    sendBufferLimit: config.SEND_BUFFER_LIMIT_BYTES,
    maxStrikes: Math.max(20, config.MESSAGE_BURST_LIMIT * 2),
    presenceMaxUsers: config.PRESENCE_MAX_USERS
  })
  const startedAt = Date.now()

  commands.register('ping', { description: 'answers "pong"', handler: () => 'pong' })
  commands.register('echo', { description: 'returns its params', handler: ({ params }) => (params ?? null) as never })
  commands.register('server_info', {
    description: 'name, version, protocol and uptime of this server',
    handler: () => ({ name: 'sealwire', version: VERSION, protocol: 'sealwire/v1', uptime_s: Math.round((Date.now() - startedAt) / 1000), time: new Date().toISOString() })
  })
  commands.register('user_count', {
    description: 'registered users, and users online on any node',
    handler: async () => ({ registered: await fastify.users.count(), online: (await cluster.presence.online()).length })
  })
  commands.register('list_commands', { description: 'the commands this server runs', handler: () => commands.list() })

  hub.onEvent((event) => {
    if (event.kind !== 'message' || event.outcome === 'accepted') return
    const ip = event.remoteAddress ?? null
    if (event.outcome === 'duplicate') {
      fastify.audit({ event: 'replay', ip, user_id: event.userId, detail: { message_type: event.messageType } })
    } else if (event.code === 'bad_signature') {
      fastify.audit({ event: 'bad_signature', ip, user_id: event.userId, detail: { message_type: event.messageType } })
    } else if (event.code === 'rate_limited') {
      const counts = fastify.ipGuard.rateLimited(ip ?? 'unknown', event.userId)
      fastify.audit({ event: 'rate_limited', ip, user_id: event.userId, detail: { limiter: 'messages', hits_from_ip: counts.ip, hits_by_user: counts.user } })
    }
  })

  // a revocation learnt in any way (here, from another node, from the table) closes the token's connections
  fastify.revocations.onRevoked((jti) => hub.closeToken(jti))
  cluster.control.onResync((users) => hub.resync(users))

  fastify.decorate('hub', hub)
  fastify.decorate('messages', messages)
  fastify.decorate('commands', commands)
  fastify.decorate('registerCommand', (name: string, definition: CommandDefinition) => commands.register(name, definition))
  fastify.decorateRequest('hubUser', null)

  await fastify.register(fastifyWebsocket, {
    options: { maxPayload: config.MAX_MESSAGE_BYTES, perMessageDeflate: false },
    preClose: async () => {
      await hub.shutdown()
      await new Promise<void>((resolve) => fastify.websocketServer.close(() => resolve()))
    }
  })
  fastify.addHook('onReady', async () => hub.startHeartbeat(config.HEARTBEAT_MS))
}, { name: 'sealwire-hub', dependencies: ['sealwire-config', 'sealwire-security', 'sealwire-db', 'sealwire-cluster', 'sealwire-crypto', 'sealwire-auth'] })
