// A host app that embeds the whole service under /chat, beside a route of its own, and adds a server command.
import Fastify from 'fastify'
import { CommandError, embed, logSerializers, type CommandDefinition } from 'sealwire'

const app = Fastify({ logger: { level: 'warn', serializers: logSerializers } })
app.get('/', async () => ({ host: true }))
await app.register(embed, { prefix: '/chat', config: { DB_PATH: process.env.CHAT_DB ?? ':memory:', JWT_SECRET: process.env.CHAT_SECRET } })

const weather: CommandDefinition = {
  description: 'the weather at a place',
  timeoutMs: 2000,
  handler: ({ sender, params }) => {
    if (typeof params !== 'string') throw new CommandError('say where')
    return { sender, place: params, sky: 'clear' }
  }
}
app.sealwire.registerCommand('weather', weather)
const ttl: number = app.sealwire.config.JWT_TTL

const url = await app.listen({ port: 0, host: '127.0.0.1' })
// late commands are fine too
app.sealwire.registerCommand('late', { description: 'added after listen', handler: () => 'late' })
const inside = ['config', 'db', 'hub', 'registerCommand'].filter((name) => app.hasDecorator(name))
process.stdout.write(`${JSON.stringify({ event: 'listening', url, ttl, inside })}\n`)
process.once('SIGTERM', () => { void app.close().then(() => process.stdout.write('{"event":"closed"}\n')) })
