// A host app that takes only the database and authentication plugins (and the ones they depend on) and builds
// its own routes on their decorators.
// plugins/auth's declarations do not import @fastify/jwt, whose types give `request.user`: the host names it
import type {} from '@fastify/jwt'
import Fastify from 'fastify'
import auth from 'sealwire/plugins/auth'
import cluster from 'sealwire/plugins/cluster'
import config from 'sealwire/plugins/config'
import crypto from 'sealwire/plugins/crypto'
import db from 'sealwire/plugins/db'
import security from 'sealwire/plugins/security'

type Registration = Parameters<typeof app.users.register>[0]

const app = Fastify()
await app.register(config, { config: { DB_PATH: process.env.CHAT_DB ?? ':memory:', JWT_SECRET: process.env.CHAT_SECRET } })
await app.register(security)
await app.register(db)
await app.register(cluster)
await app.register(crypto)
await app.register(auth)

app.post<{ Body: Registration }>('/users', async (request, reply) => await reply.code(201).send(await app.users.register(request.body)))
app.get('/users/count', async () => ({ registered: await app.users.count() }))
app.post<{ Body: { user_id: string } }>('/token', async (request, reply) => {
  const user = await app.users.get(request.body.user_id)
  return user === undefined ? await reply.code(404).send({ code: 'unknown_user' }) : app.issueToken(user.user_id)
})
app.get('/me', { preHandler: app.authenticate }, async (request) => ({ user: request.user.sub }))
app.post('/logout', { preHandler: app.authenticate }, async (request, reply) => {
  await app.revokeToken(request.user)
  return await reply.code(204).send()
})

const url = await app.listen({ port: 0, host: '127.0.0.1' })
const inside = ['config', 'db', 'users', 'authenticate', 'hub', 'registerCommand', 'metrics'].filter((name) => app.hasDecorator(name))
process.stdout.write(`${JSON.stringify({ event: 'listening', url, inside })}\n`)
process.once('SIGTERM', () => { void app.close().then(() => process.stdout.write('{"event":"closed"}\n')) })
