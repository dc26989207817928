import t from 'tap'
import { build } from '../helper.js'

t.test('GET /health checks the database', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/health' })
  t.equal(res.statusCode, 200)
  t.match(res.json(), { status: 'ok', database: 'ok', redis: 'off', node: app.cluster.nodeId })
})

t.test('GET /health answers 503 when the database is gone', async (t) => {
  const app = await build(t)
  await app.db.destroy()
  const res = await app.inject({ url: '/health' })
  t.equal(res.statusCode, 503)
  t.same(res.json(), { statusCode: 503, code: 'unavailable', error: 'Service Unavailable', message: 'database unreachable' })
})

t.test('unknown routes get a coded 404', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/nope' })
  t.equal(res.statusCode, 404)
  t.equal(res.json().code, 'not_found')
})
