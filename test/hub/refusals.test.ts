import { randomUUID } from 'node:crypto'
import t from 'tap'
import { makeIdentity, registerAndLogin } from '../helper.js'
import { until } from '../until.js'
import { broadcast, command, direct, hubFixture, idOf, sign, TestClient } from '../ws-client.js'

t.test('every refusal is an error frame with its code; the connection stays open and valid traffic flows', async (t) => {
  const { alice, bob, connect } = await hubFixture(t)
  const a = await connect(alice)
  const b = await connect(bob)
  const mallory = makeIdentity('alice')
  const cases: Array<[string, object | string, string, RegExp]> = [
    ['not JSON', '{"header":', 'invalid_json', /JSON/],
    ['not an object', '[1,2,3]', 'invalid_frame', /message_type/],
    ['unknown type', { header: { message_type: 'shout' } }, 'invalid_frame', /message_type/],
    ['missing signature', (() => { const m = direct(alice.id, 'bob'); delete m.header.signature; return m })(), 'invalid_frame', /signature/],
    ['bad id', direct(alice.id, 'bob', { id: 'NOT-A-UUID' }), 'invalid_frame', /header.id/],
    ['bad timestamp format', direct(alice.id, 'bob', { timestamp: '2026-11-25 10:00' }), 'invalid_frame', /timestamp/],
    ['wrong key length', direct(alice.id, 'bob', { header: { encrypted_key: Buffer.alloc(79).toString('base64') } }), 'invalid_frame', /encrypted_key/],
    ['content not base64', direct(alice.id, 'bob', { content: 'not base64!' }), 'invalid_frame', /content/],
    ['spoofed from', direct(bob.id, 'bob'), 'forbidden', /from/],
    ['bad signature (another key)', direct(alice.id, 'bob', { signer: mallory }), 'bad_signature', /signature/],
    ['tampered body', (() => { const m = direct(alice.id, 'bob'); m.body.content = Buffer.alloc(48).toString('base64'); return m })(), 'bad_signature', /signature/],
    ['tampered extra field', (() => { const m = direct(alice.id, 'bob', { header: { x: '1' } }); m.header.x = '2'; return m })(), 'bad_signature', /signature/],
    ['signature without the label', (() => {
      const m = direct(alice.id, 'bob')
      const { signature: _s, ...header } = m.header
      return { header: { ...header, signature: alice.id.sign(JSON.stringify({ body: m.body, header })) }, body: m.body }
    })(), 'bad_signature', /signature/],
    ['lone surrogate', (() => { const m = direct(alice.id, 'bob'); m.header.note = '\ud800'; return m })(), 'invalid_frame', /surrogate/],
    ['unknown recipient', direct(alice.id, 'nobody'), 'unknown_recipient', /nobody/],
    ['clock skew ahead', direct(alice.id, 'bob', { timestamp: new Date(Date.now() + 6 * 60_000).toISOString() }), 'clock_skew', /timestamp/],
    ['clock skew behind', direct(alice.id, 'bob', { timestamp: new Date(Date.now() - 6 * 60_000).toISOString() }), 'clock_skew', /timestamp/],
    ['broadcast to a user', sign(alice.id, { ...broadcast(alice.id, 'x').header, to: 'bob', signature: undefined }, { content: 'x' }), 'invalid_frame', /to/],
    ['bad command content', sign(alice.id, { ...command(alice.id, 'ping').header, signature: undefined }, { content: 'ping' }), 'invalid_frame', /JSON/],
    ['bad ack', { header: { message_type: 'ack', in_reply_to: 42 } }, 'invalid_frame', /ack/]
  ]
  for (const [name, frame, code, message] of cases) {
    a.send(frame)
    const err = await a.error()
    t.equal(err.body.code, code, `${name}: ${code}`)
    t.match(err.body.message, message, `${name}: ${String(err.body.message)}`)
    const id = typeof frame === 'object' && 'header' in frame ? (frame.header as { id?: unknown }).id : undefined
    if (typeof id === 'string' && /^[0-9a-f-]{36}$/.test(id)) t.equal(err.header.in_reply_to, id, `${name}: in_reply_to`)
  }
  const ok = direct(alice.id, 'bob')
  a.send(ok)
  await a.receipt(idOf(ok), 'accepted')
  // the valid one, sent last on the same connection, is the marker: anything refused would have come first
  t.ok(await b.noneBefore((f) => f.header.message_type === 'direct' && f.header.id !== idOf(ok), (f) => f.header.id === idOf(ok) && f.header.from === 'alice'),
    'nothing refused reached bob')
})

t.test('token bucket: a burst, then rate_limited with retry_after_ms, then refill', async (t) => {
  const { alice, connect } = await hubFixture(t, { MESSAGE_RATE_LIMIT: 5, MESSAGE_BURST_LIMIT: 10 })
  const a = await connect(alice)
  const sent = Array.from({ length: 12 }, () => command(alice.id, 'ping'))
  for (const m of sent) a.send(m)
  for (const m of sent.slice(0, 10)) await a.reply(idOf(m), 'server_response')
  for (const m of sent.slice(10)) {
    const err = await a.error(idOf(m))
    t.equal(err.body.code, 'rate_limited')
    t.ok((err.body.retry_after_ms as number) > 0 && (err.body.retry_after_ms as number) <= 200, `retry_after_ms ${String(err.body.retry_after_ms)}`)
  }
  // the refill itself is timed by an injected clock in test/services/token-bucket.test.ts; here the server is
  // asked until a token is there, each refusal naming the wait (a few refusals stay far below the 20 strikes)
  let refusals = 0
  await until(async () => {
    const m = command(alice.id, 'ping')
    a.send(m)
    const answer = await a.reply(idOf(m))
    if (answer.header.message_type === 'server_response') return true
    t.equal(answer.body.code, 'rate_limited', `refused while the bucket is empty, retry_after_ms ${String(answer.body.retry_after_ms)}`)
    refusals++
    return false
  }, 'a token comes back', 30_000, 50)
  t.ok(refusals < 10, `a token came back with time (after ${refusals} more refusals)`)
})

t.test('the bucket is shared by all connections of a user and by HTTP', async (t) => {
  const { app, alice, connect } = await hubFixture(t, { MESSAGE_RATE_LIMIT: 1, MESSAGE_BURST_LIMIT: 2 })
  const a1 = await connect(alice)
  const a2 = await connect(alice)
  const m1 = command(alice.id, 'ping')
  const m2 = command(alice.id, 'ping')
  a1.send(m1)
  await a1.reply(idOf(m1), 'server_response')
  a2.send(m2)
  await a2.reply(idOf(m2), 'server_response')
  const res = await app.inject({ method: 'POST', url: '/direct-message/', headers: { authorization: `Bearer ${alice.token}` }, payload: direct(alice.id, 'bob') })
  t.equal(res.statusCode, 429)
  t.equal(res.json().code, 'rate_limited')
  t.ok(Number(res.headers['retry-after']) >= 1)
})

t.test('a client that keeps hammering is closed with 1008', async (t) => {
  const { alice, connect } = await hubFixture(t, { MESSAGE_RATE_LIMIT: 1, MESSAGE_BURST_LIMIT: 2 })
  const a = await connect(alice)
  for (let i = 0; i < 40; i++) a.send(command(alice.id, 'ping'))
  const { code } = await a.closed
  t.equal(code, 1008)
})

t.test('oversize frames close with 1009, binary frames with 1003', async (t) => {
  const { alice, bob, connect } = await hubFixture(t, { MAX_MESSAGE_BYTES: 4096 })
  const a = await connect(alice)
  a.send(direct(alice.id, 'bob', { content: Buffer.alloc(4096).toString('base64') }))
  t.equal((await a.closed).code, 1009)
  const b = await connect(bob)
  b.ws.send(Buffer.from('{"header":{}}'), { binary: true })
  t.equal((await b.closed).code, 1003)
  const again = await connect(alice)
  const m = command(alice.id, 'ping')
  again.send(m)
  await again.reply(idOf(m), 'server_response')
  t.pass('the server is fine afterwards')
})

t.test('the upgrade is refused before it happens', async (t) => {
  const { app, url, alice } = await hubFixture(t, { ALLOWED_ORIGINS: 'https://chat.example', MAX_CONNECTIONS_PER_USER: 2 })
  await t.rejects(TestClient.connect(url), /HTTP 401/, 'no token')
  await t.rejects(TestClient.connect(url, 'garbage'), /HTTP 401/, 'bad token')
  await t.rejects(TestClient.connect(url, `${alice.token}x`), /HTTP 401/, 'tampered token')
  await t.rejects(TestClient.connect(url, alice.token, { origin: 'https://evil.example' }), /HTTP 403/, 'foreign origin')
  const fromPage = await TestClient.connect(url, alice.token, { origin: 'https://chat.example' })
  const byHeader = await TestClient.connect(url, undefined, { authorization: `Bearer ${alice.token}` })
  await t.rejects(TestClient.connect(url, alice.token), /HTTP 429/, 'too many connections')
  await fromPage.close()
  await byHeader.close()
  const plain = await app.inject({ url: '/ws', headers: { authorization: `Bearer ${alice.token}` } })
  t.equal(plain.statusCode, 404, 'a plain GET is not an upgrade')
})

t.test('a peer that stops answering pings is dropped', async (t) => {
  const { alice, connect, app } = await hubFixture(t, { HEARTBEAT_MS: 100 })
  const a = await connect(alice)
  // a client whose pong handler is gone: ws answers pings automatically, so stop the socket from reading
  ;(a.ws as unknown as { _socket: { pause: () => void } })._socket.pause()
  await until(() => app.hub.connectionCount('alice') === 0, 'the silent peer is dropped')
  t.equal(app.hub.connectionCount('alice'), 0)
  a.ws.terminate()
})

t.test('a replayed frame from another user\'s session is refused', async (t) => {
  const { app, alice, connect } = await hubFixture(t)
  const carol = await registerAndLogin(app, 'carol')
  const c = await connect(carol)
  const stolen = direct(alice.id, 'bob', { id: randomUUID() })
  c.send(stolen)
  t.equal((await c.error(idOf(stolen))).body.code, 'forbidden')
})
