import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import t from 'tap'
import sealwire from '../../app.js'
import { createDatabase } from '../../services/database.js'
import type { HubEvent } from '../../services/hub/hub.js'
import { build, registerAndLogin, tempDir, TEST_JWT_SECRET } from '../helper.js'
import { broadcast, command, direct, hubFixture, idOf, listen, TestClient } from '../ws-client.js'

/**
 * The hub's next session end for this user. Listeners run in the order they were added, so by then the
 * analytics and metrics plugins, registered at the start, have taken the event too.
 */
async function sessionClosed (app: FastifyInstance, userId: string): Promise<HubEvent> {
  return await new Promise((resolve) => {
    app.hub.onEvent((event) => { if (event.kind === 'session-close' && event.userId === userId) resolve(event) })
  })
}

interface Sample { name: string, labels: Record<string, string>, value: number }

/** The Prometheus text format, parsed: every sample line, with its labels unescaped. */
function parseMetrics (text: string): { samples: Sample[], types: Map<string, string> } {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    const type = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (type !== null) types.set(type[1] as string, type[2] as string)
    if (line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line)
    if (m === null) throw new Error(`not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] as string] = (l[2] as string).replace(/\\(["\\n])/g, (_, c: string) => c === 'n' ? '\n' : c)
    }
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) })
  }
  return { samples, types }
}

function value (samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => (s.labels[k] ?? '') === v))?.value
}

t.test('real traffic through the WebSocket: /metrics and /analytics agree with what was sent', async (t) => {
  const { app, alice, bob, connect } = await hubFixture(t, { ADMIN_USERS: 'alice' })
  const a = await connect(alice)
  const b = await connect(bob)
  const dms = Array.from({ length: 5 }, () => direct(alice.id, 'bob'))
  for (const m of dms) a.send(m)
  for (const m of dms) {
    await a.receipt(idOf(m), 'accepted')
    await b.envelope(idOf(m))
    b.ack(idOf(m))
  }
  for (const m of dms) await a.receipt(idOf(m), 'delivered')
  a.send(dms[0] as object)
  await a.receipt(idOf(dms[0] as never), 'duplicate')
  const forged = direct(alice.id, 'bob', { signer: bob.id })
  a.send(forged)
  t.equal((await a.error(idOf(forged))).body.code, 'bad_signature')
  const nobody = direct(alice.id, 'nobody')
  a.send(nobody)
  t.equal((await a.error(idOf(nobody))).body.code, 'unknown_recipient')
  const hello = broadcast(bob.id, 'hello')
  b.send(hello)
  await b.receipt(idOf(hello), 'accepted')
  const ping = command(alice.id, 'ping')
  a.send(ping)
  await a.reply(idOf(ping), 'server_response')
  await app.analytics.flush()

  const res = await app.inject({ url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const { samples, types } = parseMetrics(res.body)
  const messages = (type: string, outcome: string, code = ''): number | undefined => value(samples, 'sealwire_messages_total', { type, outcome, code })
  t.equal(messages('direct', 'accepted'), 5)
  t.equal(messages('direct', 'duplicate'), 1)
  t.equal(messages('direct', 'delivered'), 5)
  t.equal(messages('direct', 'refused', 'bad_signature'), 1)
  t.equal(messages('direct', 'refused', 'unknown_recipient'), 1)
  t.equal(messages('broadcast', 'accepted'), 1)
  t.equal(messages('server', 'accepted'), 1)
  t.equal(types.get('sealwire_messages_total'), 'counter')
  t.equal(value(samples, 'sealwire_connections'), 2)
  t.equal(value(samples, 'sealwire_online_users'), 2)
  t.equal(value(samples, 'sealwire_sessions_total'), 2)
  t.equal(types.get('sealwire_delivery_latency_seconds'), 'histogram')
  t.equal(value(samples, 'sealwire_delivery_latency_seconds_count'), 5)
  t.equal(value(samples, 'sealwire_delivery_latency_seconds_bucket', { le: '+Inf' }), 5)
  const latencySum = value(samples, 'sealwire_delivery_latency_seconds_sum') ?? -1
  t.ok(latencySum >= 0 && latencySum < 10, 'latencies are in seconds')
  t.equal(value(samples, 'sealwire_http_request_duration_seconds_count', { method: 'POST', route: '/auth/login', status_code: '200' }), 4,
    'two challenges and two answers, by route pattern')
  t.ok((value(samples, 'sealwire_http_request_duration_seconds_count', { method: 'POST', route: '/auth/register', status_code: '201' }) ?? 0) === 2)
  t.ok((value(samples, 'sealwire_db_commits_total', { store: 'messages' }) ?? 0) > 0, 'message store commits are counted')
  t.ok((value(samples, 'sealwire_db_commit_duration_seconds_count', { store: 'analytics' }) ?? 0) >= 1, 'analytics commits are timed')
  t.ok(samples.some((s) => s.name === 'nodejs_eventloop_lag_seconds'), 'event-loop lag')
  t.ok(samples.some((s) => s.name === 'nodejs_eventloop_lag_p99_seconds'), 'and its percentiles')
  t.ok(samples.some((s) => s.name === 'process_resident_memory_bytes' || s.name === 'nodejs_heap_size_used_bytes'), 'process metrics')
  t.equal(value(samples, 'sealwire_analytics_buffered_rows'), 0, 'everything was written')

  const summary = (await app.inject({ url: '/analytics/summary', headers: { authorization: `Bearer ${alice.token}` } })).json()
  t.same(summary.live, { connections: 2, online_users: 2 })
  t.same(summary.users, { registered: 2, new: 2, active: 2 })
  t.same(summary.sessions, { started: 2, ended: 0, average_duration_s: null, longest_duration_s: null })
  t.same(summary.messages, { accepted: 7, duplicate: 1, delivered: 5, refused: 2 })
  t.same(summary.refused_by_code, [{ code: 'bad_signature', count: 1 }, { code: 'unknown_recipient', count: 1 }])
  t.equal(summary.delivery_latency.count, 5)
  t.same([summary.active_users.dau, summary.active_users.wau, summary.active_users.mau], [2, 2, 2])

  const bobLeft = sessionClosed(app, 'bob')
  await b.close()
  await bobLeft
  const after = parseMetrics((await app.inject({ url: '/metrics' })).body).samples
  t.equal(value(after, 'sealwire_connections'), 1)
  t.equal(value(after, 'sealwire_session_duration_seconds_count'), 1, 'the ended session is measured')
  const live = (await app.inject({ url: '/analytics/live?minutes=2', headers: { authorization: `Bearer ${alice.token}` } })).json()
  t.equal(live.connections, 1)
  t.equal(live.series.at(-1).connections, 2, 'the minute\'s peak')
})

t.test('METRICS_TOKEN guards /metrics; each app has its own registry', async (t) => {
  const token = 'metrics-token-0123456789abcdef'
  const guarded = await build(t, { config: { METRICS_TOKEN: token } })
  const open = await build(t)
  for (const authorization of [undefined, 'Bearer wrong', `Bearer ${token}x`, `Basic ${token}`, token]) {
    const res = await guarded.inject({ url: '/metrics', headers: authorization === undefined ? {} : { authorization } })
    t.equal(res.statusCode, 401, `refused with ${authorization ?? 'no header'}`)
    t.equal(res.json().code, 'unauthorized')
    t.equal(res.headers['www-authenticate'], 'Bearer realm="metrics"')
  }
  t.equal((await guarded.inject({ url: '/metrics', headers: { authorization: `Bearer ${token}` } })).statusCode, 200)
  await registerAndLogin(open, 'carol')
  const openSamples = parseMetrics((await open.inject({ url: '/metrics' })).body).samples
  const guardedSamples = parseMetrics((await guarded.inject({ url: '/metrics', headers: { authorization: `Bearer ${token}` } })).body).samples
  t.equal(value(openSamples, 'sealwire_http_request_duration_seconds_count', { route: '/auth/register' }), 1)
  t.equal(value(guardedSamples, 'sealwire_http_request_duration_seconds_count', { route: '/auth/register' }), undefined, 'not counted in the other app')
  t.not(open.metrics, guarded.metrics)
})

t.test('a short METRICS_TOKEN stops the start without showing it; METRICS_ENABLED=false removes /metrics', async (t) => {
  await t.rejects(build(t, { config: { METRICS_TOKEN: 'short-secret' } }), {
    name: 'ConfigError',
    message: 'Invalid configuration: METRICS_TOKEN must be at least 16 characters'
  })
  const app = await build(t, { config: { METRICS_ENABLED: false } })
  t.equal((await app.inject({ url: '/metrics' })).statusCode, 404)
})

t.test('shutdown: the last analytics are written before the database closes', async (t) => {
  const dbPath = join(tempDir(t), 'shutdown.db')
  const app = Fastify()
  // a flush interval longer than the test: only the close writes
  await app.register(fp(sealwire), { env: {}, config: { DB_PATH: dbPath, JWT_SECRET: TEST_JWT_SECRET, ANALYTICS_FLUSH_MS: 10_000, MESSAGE_RATE_LIMIT: 1000, MESSAGE_BURST_LIMIT: 1000 } })
  const url = await listen(app)
  const alice = await registerAndLogin(app, 'alice')
  const bob = await registerAndLogin(app, 'bob')
  const a = await TestClient.connect(url, alice.token, { 'user-agent': 'shutdown-test/1' })
  const b = await TestClient.connect(url, bob.token)
  const m = direct(alice.id, 'bob')
  a.send(m)
  await a.receipt(idOf(m), 'accepted')
  await b.envelope(idOf(m))
  b.ack(idOf(m))
  await a.receipt(idOf(m), 'delivered')
  const bobLeft = sessionClosed(app, 'bob')
  await b.close()
  // bob's session ends as a disconnect, before the shutdown
  await bobLeft
  await app.close()
  await a.closed

  const db = createDatabase({ path: dbPath })
  t.teardown(() => db.destroy())
  const sessions = await db.selectFrom('sessions').selectAll().orderBy('user_id').execute()
  t.equal(sessions.length, 2)
  t.match(sessions[0], { user_id: 'alice', closed_by: 'shutdown', user_agent: 'shutdown-test/1', remote_address: '127.0.0.1' })
  t.match(sessions[1], { user_id: 'bob', closed_by: 'disconnect' })
  t.ok(sessions.every((s) => s.disconnected_at !== null && Number(s.duration_ms) >= 0))
  const counts = await db.selectFrom('analytics_message_counts').select(['message_type', 'outcome', 'count']).orderBy('outcome').execute()
  t.same(counts.map((c) => [c.message_type, c.outcome, Number(c.count)]), [['direct', 'accepted', 1], ['direct', 'delivered', 1]])
  const instance = await db.selectFrom('analytics_instances').selectAll().executeTakeFirstOrThrow()
  t.ok(instance.stopped_at, 'the process noted its clean stop')

  // started again on the same file, the figures cover both runs
  const again = await build(t, { config: { DB_PATH: dbPath } })
  const summary = await again.analytics.summary({})
  t.same([summary.sessions.started, summary.sessions.ended, summary.messages.accepted, summary.messages.delivered], [2, 2, 1, 1])
})

t.test('ANALYTICS_ENABLED=false records nothing; the endpoints still answer', async (t) => {
  const { app, alice, bob, connect } = await hubFixture(t, { ANALYTICS_ENABLED: false, ADMIN_USERS: 'alice' })
  const a = await connect(alice)
  await connect(bob)
  const m = direct(alice.id, 'bob')
  a.send(m)
  await a.receipt(idOf(m), 'accepted')
  const db = app.db
  t.equal((await db.selectFrom('sessions').selectAll().execute()).length, 0)
  t.equal((await db.selectFrom('analytics_instances').selectAll().execute()).length, 0)
  const res = await app.inject({ url: '/analytics/summary', headers: { authorization: `Bearer ${alice.token}` } })
  t.equal(res.statusCode, 200)
  t.same(res.json().live, { connections: 2, online_users: 2 }, 'live figures come from the hub')
  t.equal(res.json().messages.accepted, 0)
  const metrics = parseMetrics((await app.inject({ url: '/metrics' })).body).samples
  t.equal(value(metrics, 'sealwire_messages_total', { type: 'direct', outcome: 'accepted' }), 1, '/metrics does not depend on analytics')
})
