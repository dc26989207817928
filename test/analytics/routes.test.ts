import Fastify from 'fastify'
import t from 'tap'
import sealwire from '../../app.js'
import type { HubEvent } from '../../services/hub/hub.js'
import { build, login, makeIdentity, registerAndLogin, registrationBody, tempDir, TEST_JWT_SECRET } from '../helper.js'

const at = (text: string): number => Date.parse(text)

async function setup (t: Parameters<typeof build>[0]) {
  const app = await build(t, { config: { ADMIN_USERS: 'Root, ops' } })
  const root = await registerAndLogin(app, 'root')
  const alice = await registerAndLogin(app, 'alice')
  // null: no token at all
  const get = async (url: string, token: string | null = root.token) =>
    await app.inject({ url, headers: token === null ? {} : { authorization: `Bearer ${token}` } })
  return { app, root, alice, get }
}

// First: the helper's build() passes `sealwire` through fastify-plugin, which marks that very function as
// non-encapsulating for the rest of the process, and a prefix is then ignored.
t.test('under a prefix, the dashboard page points at the prefixed API', async (t) => {
  const host = Fastify()
  await host.register(sealwire, { prefix: '/chat', env: {}, config: { DB_PATH: `${tempDir(t)}/prefix.db`, JWT_SECRET: TEST_JWT_SECRET, ADMIN_USERS: 'boss' } })
  t.teardown(() => host.close())
  await host.ready()
  const boss = makeIdentity('boss')
  const registered = await host.inject({ method: 'POST', url: '/chat/auth/register', payload: registrationBody(boss) })
  t.equal(registered.statusCode, 201, registered.body)
  const token = await login(host, boss, '/chat')
  t.equal((await host.inject({ url: '/chat/analytics/live', headers: { authorization: `Bearer ${token}` } })).statusCode, 200)
  const page = await host.inject({ url: '/chat/dashboard' })
  t.equal(page.statusCode, 200)
  t.match(page.body, '<base href="/chat/">')
  t.match(page.headers['content-security-policy'], "script-src 'self'")
  const script = page.body.match(/src="(dashboard\/app\.js\?v=[\w-]+)"/)?.[1]
  t.ok(script, 'the script is named with its version')
  const js = await host.inject({ url: `/chat/${script ?? ''}` })
  t.equal(js.statusCode, 200)
  t.match(js.headers['content-type'], /javascript/)
  t.equal((await host.inject({ url: `/chat/${script ?? ''}`, headers: { 'if-none-match': js.headers.etag as string } })).statusCode, 304)
})

t.test('admin only: 401 without a valid token, 403 admin_required for other users', async (t) => {
  const { get, alice } = await setup(t)
  for (const url of ['/analytics/summary', '/analytics/users/daily', '/analytics/messages/stats', '/analytics/live']) {
    const anonymous = await get(url, null)
    t.equal(anonymous.statusCode, 401, `${url} without a token`)
    t.equal(anonymous.json().code, 'unauthorized')
    t.equal((await get(url, 'not.a.token')).statusCode, 401)
    const user = await get(url, alice.token)
    t.equal(user.statusCode, 403, `${url} as a user who is not an admin`)
    t.same(user.json(), { statusCode: 403, code: 'admin_required', error: 'Forbidden', message: 'this endpoint is for administrators (ADMIN_USERS)' })
    const admin = await get(url)
    t.equal(admin.statusCode, 200, `${url} as an admin (ADMIN_USERS compared without case)`)
    t.equal(admin.headers['cache-control'], 'no-store')
  }
})

t.test('query validation: format, unknown parameters, intervals and ranges', async (t) => {
  const { get } = await setup(t)
  const cases: Array<[string, number, string, RegExp]> = [
    ['/analytics/summary?from=yesterday', 400, 'invalid_request', /from has an invalid format/],
    ['/analytics/summary?form=2026-01-01', 400, 'invalid_request', /unknown property "form"/],
    ['/analytics/summary?from=2026-13-01', 400, 'invalid_range', /from is not a valid date/],
    ['/analytics/summary?from=2026-03-02&to=2026-03-01', 400, 'invalid_range', /from must be before to/],
    ['/analytics/summary?from=2020-01-01&to=2026-01-01', 400, 'invalid_range', /more than 366 days/],
    ['/analytics/users/daily?from=2020-01-01&to=2026-01-01', 400, 'invalid_range', /more than 366 days/],
    ['/analytics/messages/stats?interval=week', 400, 'invalid_request', /interval/],
    ['/analytics/messages/stats?interval=minute&from=2026-01-01&to=2026-01-05', 400, 'invalid_range', /more than 2 days/],
    ['/analytics/live?minutes=0', 400, 'invalid_request', /minutes/],
    ['/analytics/live?minutes=1441', 400, 'invalid_request', /minutes/]
  ]
  for (const [url, status, code, message] of cases) {
    const res = await get(url)
    t.equal(res.statusCode, status, url)
    t.equal(res.json().code, code, `${url}: ${code}`)
    t.match(res.json().message, message)
  }
})

t.test('the figures over HTTP match a known script, across midnight', async (t) => {
  const { app, get } = await setup(t)
  const script: HubEvent[] = [
    { kind: 'session-open', connectionId: 'c1', userId: 'alice', remoteAddress: '198.51.100.1', userAgent: 'ua', at: at('2026-01-10T22:00:00Z') },
    { kind: 'session-open', connectionId: 'c2', userId: 'root', remoteAddress: null, userAgent: null, at: at('2026-01-10T23:50:00Z') },
    { kind: 'message', messageType: 'direct', userId: 'alice', outcome: 'accepted', at: at('2026-01-10T23:59:59.999Z') },
    { kind: 'message', messageType: 'direct', userId: 'alice', outcome: 'refused', code: 'clock_skew', at: at('2026-01-10T23:59:59.999Z') },
    { kind: 'message', messageType: 'broadcast', userId: 'root', outcome: 'accepted', at: at('2026-01-11T00:00:00Z') },
    { kind: 'delivered', userId: 'alice', latencyMs: 7, at: at('2026-01-11T00:00:01Z') },
    { kind: 'session-close', connectionId: 'c1', userId: 'alice', at: at('2026-01-10T23:00:00Z') },
    { kind: 'session-close', connectionId: 'c2', userId: 'root', at: at('2026-01-11T00:20:00Z') }
  ]
  for (const event of script) app.analytics.record(event)

  const jan10 = (await get('/analytics/summary?from=2026-01-10&to=2026-01-11')).json()
  t.same(jan10.users.active, 2)
  t.same(jan10.sessions, { started: 2, ended: 1, average_duration_s: 3600, longest_duration_s: 3600 })
  t.same(jan10.messages, { accepted: 1, duplicate: 0, delivered: 0, refused: 1 })
  t.same(jan10.refused_by_code, [{ code: 'clock_skew', count: 1 }])
  t.same(jan10.active_users, { day: '2026-01-10', dau: 2, wau: 2, mau: 2 })

  const jan11 = (await get(`/analytics/summary?from=${at('2026-01-11T00:00:00Z')}&to=2026-01-12T00:00:00Z`)).json()
  t.same(jan11.users.active, 1, 'root, online across midnight')
  t.same(jan11.sessions, { started: 0, ended: 1, average_duration_s: 1800, longest_duration_s: 1800 })
  t.same(jan11.messages_by_type.broadcast, { accepted: 1, duplicate: 0, delivered: 0, refused: 0 })
  t.same(jan11.delivery_latency, { count: 1, mean_ms: 7, p50_ms: 10, p90_ms: 10, p99_ms: 10 })
  t.same(jan11.active_users, { day: '2026-01-11', dau: 1, wau: 2, mau: 2 })

  const daily = (await get('/analytics/users/daily?from=2026-01-09&to=2026-01-13')).json()
  t.same(daily.days.map((d: { day: string, dau: number, wau: number, sessions_started: number }) => [d.day, d.dau, d.wau, d.sessions_started]), [
    ['2026-01-09', 0, 0, 0], ['2026-01-10', 2, 2, 2], ['2026-01-11', 1, 2, 0], ['2026-01-12', 0, 2, 0]
  ])
  t.equal(daily.to, '2026-01-13')

  const stats = (await get('/analytics/messages/stats?from=2026-01-10T23:58:00Z&to=2026-01-11T00:02:00Z&interval=minute')).json()
  t.same(stats.series.map((p: { start: string, accepted: number, refused: number, delivered: number }) => [p.start.slice(11, 16), p.accepted, p.refused, p.delivered]), [
    ['23:58', 0, 0, 0], ['23:59', 1, 1, 0], ['00:00', 1, 0, 1], ['00:01', 0, 0, 0]
  ])
  t.same(stats.totals, { accepted: 2, duplicate: 0, delivered: 1, refused: 1 })
})

t.test('the routes are in the OpenAPI document, tagged, with their security', async (t) => {
  const { get } = await setup(t)
  const doc = (await get('/docs/json')).json()
  for (const path of ['/analytics/summary', '/analytics/users/daily', '/analytics/messages/stats', '/analytics/live']) {
    t.same(doc.paths[path].get.tags, ['analytics'], path)
    t.same(doc.paths[path].get.security, [{ bearerAuth: [] }])
    t.ok(doc.paths[path].get.responses['403'], `${path} documents its 403`)
  }
  t.same(doc.paths['/metrics'].get.tags, ['metrics'])
  t.same(doc.paths['/dashboard'].get.tags, ['dashboard'])
  t.ok(doc.tags.some((tag: { name: string }) => tag.name === 'analytics'))
})
