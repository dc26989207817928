import { join } from 'node:path'
import Fastify from 'fastify'
import t from 'tap'
import { loadConfig, serverOptions } from '../../app.js'
import { logCapture, tempDir, registerAndLogin, sealwireUnencapsulated, TEST_JWT_SECRET } from '../helper.js'
import { until } from '../until.js'
import { direct, idOf, listen, TestClient } from '../ws-client.js'

async function start (dbPath: string, stream?: NodeJS.WritableStream) {
  const options = serverOptions(loadConfig({ LOG_LEVEL: 'info' }))
  const app = Fastify(stream === undefined ? {} : { ...options, logger: { ...(options.logger as object), stream } })
  await app.register(sealwireUnencapsulated, { env: {}, config: { DB_PATH: dbPath, JWT_SECRET: TEST_JWT_SECRET, MESSAGE_RATE_LIMIT: 10_000, MESSAGE_BURST_LIMIT: 10_000 } })
  const url = await listen(app)
  return { app, url }
}

t.test('shutdown with messages in flight loses nothing accepted; a restart delivers the queue', async (t) => {
  const dbPath = join(tempDir(t), 'restart.db')
  const first = await start(dbPath)
  const alice = await registerAndLogin(first.app, 'alice')
  const bob = await registerAndLogin(first.app, 'bob')
  const a = await TestClient.connect(first.url, alice.token)
  const sent = Array.from({ length: 200 }, () => direct(alice.id, 'bob'))
  for (const m of sent) a.send(m)
  // close while the frames are still arriving and being committed: once the first is accepted
  await until(() => a.frames.some((f) => f.header.in_reply_to === idOf(sent[0]!)), 'the first message is answered', 30_000, 1)
  const closing = first.app.close()
  const { code } = await a.closed
  await closing
  t.equal(code, 1001, 'clients are told the server is going away')
  const accepted = a.frames.filter((f) => f.header.message_type === 'receipt' && f.body.status === 'accepted').map((f) => f.header.in_reply_to as string)
  t.ok(accepted.length > 0, `${accepted.length} of ${sent.length} were accepted before the close`)

  const second = await start(dbPath)
  t.teardown(() => second.app.close())
  const b = await TestClient.connect(second.url, bob.token)
  t.teardown(() => b.close())
  // what is stored is known: take that many, then prove by a ping that nothing else was sent
  const queued = await second.app.db.selectFrom('messages').select('id').where('status', '=', 'pending').execute()
  const got: string[] = []
  for (let i = 0; i < queued.length; i++) got.push(idOf(await b.next((f) => f.header.message_type === 'direct')))
  t.ok(await b.noneSoFar((f) => f.header.message_type === 'direct'), 'nothing more is delivered')
  for (const id of accepted) t.ok(got.includes(id), `accepted ${id.slice(0, 8)} is delivered after the restart`)
  const order = sent.map(idOf).filter((id) => got.includes(id))
  t.same(got, order, 'in the order they were sent')
  const stored = await second.app.db.selectFrom('messages').select('id').execute()
  t.equal(stored.length, got.length, 'what is stored is what is delivered')
})

t.test('the WebSocket token never reaches a log line', async (t) => {
  const { stream, lines } = logCapture()
  const { app, url } = await start(join(tempDir(t), 'log.db'), stream)
  t.teardown(() => app.close())
  const alice = await registerAndLogin(app, 'alice')
  const a = await TestClient.connect(url, alice.token)
  await a.close()
  await t.rejects(TestClient.connect(url, `${alice.token}tampered`))
  t.ok(lines.some((l) => l.includes('/ws?token=[redacted]')), 'the upgrade is logged, redacted')
  t.notOk(lines.some((l) => l.includes(alice.token.split('.')[2] as string)), 'no line has the token')
})

t.test('a slow reader is closed when its send buffer passes the bound; its messages stay pending', async (t) => {
  const dbPath = join(tempDir(t), 'slow.db')
  const app = Fastify()
  await app.register(sealwireUnencapsulated, { env: {}, config: { DB_PATH: dbPath, JWT_SECRET: TEST_JWT_SECRET, MESSAGE_RATE_LIMIT: 100_000, MESSAGE_BURST_LIMIT: 100_000, SEND_BUFFER_LIMIT_BYTES: 65536, MAX_MESSAGE_BYTES: 65536 } })
  const url = await listen(app)
  t.teardown(() => app.close())
  const alice = await registerAndLogin(app, 'alice')
  const bob = await registerAndLogin(app, 'bob')
  const b = await TestClient.connect(url, bob.token)
  ;(b.ws as unknown as { _socket: { pause: () => void } })._socket.pause()
  const a = await TestClient.connect(url, alice.token)
  t.teardown(() => a.close())
  const big = Buffer.alloc(30_000).toString('base64')
  const sent = Array.from({ length: 300 }, () => direct(alice.id, 'bob', { content: big }))
  for (const m of sent) a.send(m)
  for (const m of sent) await a.receipt(idOf(m), 'accepted')
  await until(() => app.hub.connectionCount('bob') === 0, 'the slow reader is dropped')
  t.equal(app.hub.connectionCount('bob'), 0, 'the slow reader was dropped')
  b.ws.terminate()
  const pending = await app.db.selectFrom('messages').select('id').where('status', '=', 'pending').execute()
  t.equal(pending.length, sent.length, 'every message is still pending for its next connection')
})
