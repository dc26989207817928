import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'

export const API_TAGS = [
  { name: 'auth', description: 'registration, challenge login and user look-up' },
  { name: 'realtime', description: 'the WebSocket' },
  { name: 'messages', description: 'direct messages over HTTP, history and presence' },
  { name: 'health', description: 'liveness and readiness' },
  { name: 'analytics', description: 'usage figures for administrators (ADMIN_USERS)' },
  { name: 'metrics', description: 'Prometheus metrics' },
  { name: 'dashboard', description: 'the operator dashboard page' }
]

export default fp(async (fastify) => {
  await fastify.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Sealwire',
        description: 'End-to-end encrypted real-time messaging. The WebSocket protocol is described in docs/PROTOCOL.md.',
        version: '1'
      },
      tags: API_TAGS,
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }
        }
      }
    }
  })
  // without a trailing slash the UI's page links its files absolutely, from routePrefix alone: add the app's prefix
  await fastify.register(fastifySwaggerUi, { routePrefix: '/docs', indexPrefix: fastify.prefix })
}, { name: 'sealwire-docs' })
