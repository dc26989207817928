import t, { type Test } from 'tap'
import type { ConfigOverrides } from '../../services/config.js'
import { testDeployments } from '../databases.js'
import { registerAndLogin } from '../helper.js'
import { until } from '../until.js'
import { broadcast, command, direct, hubFixture, idOf, type Frame } from '../ws-client.js'

// a deadline for the whole file, not a wait: it runs long on a loaded machine
t.setTimeout(600_000)

// Every test runs on one node as `npm start` runs it (SQLite), and on one node of a cluster (PostgreSQL and Redis).
for (const deployment of testDeployments) {
  t.test(deployment.name, { skip: deployment.skip }, async (t) => {
    const setup = async (t: Test, config: ConfigOverrides = {}) => await hubFixture(t, { ...await deployment.config(t), ...config })

    t.test('direct message: accepted, delivered with meta, acknowledged, delivered receipt', async (t) => {
      const { app, alice, bob, connect } = await setup(t)
      const a = await connect(alice)
      const b = await connect(bob)
      const msg = direct(alice.id, 'bob', { header: { sender_encrypted_key: Buffer.alloc(80, 1).toString('base64'), custom: 'signed too' } })
      a.send(msg)
      const accepted = await a.receipt(idOf(msg), 'accepted')
      t.match(accepted.header, { from: 'server', to: 'alice', message_type: 'receipt' })
      const row = await app.db.selectFrom('messages').selectAll().where('id', '=', idOf(msg)).executeTakeFirstOrThrow()
      t.equal(row.status, 'pending', 'stored before accepted was sent')

      const got = await b.envelope(idOf(msg))
      t.same(got.header, msg.header, 'the header arrives exactly as signed, extra fields included')
      t.same(got.body, msg.body)
      t.match(got.meta?.received_at, /^\d{4}-.*Z$/)
      // the delivery to bob and any copy to alice are sent in the same turn: bob has it, so alice would too
      t.ok(await a.noneSoFar((f) => f.header.id === idOf(msg) && f.header.from === 'alice'), 'the sender does not get its own message')

      b.ack(idOf(msg))
      await a.receipt(idOf(msg), 'delivered')
      const after = await app.db.selectFrom('messages').selectAll().where('id', '=', idOf(msg)).executeTakeFirstOrThrow()
      t.equal(after.status, 'delivered')
      t.ok(after.delivered_at)
    })

    t.test('every connection of the recipient gets the message', async (t) => {
      const { alice, bob, connect } = await setup(t)
      const a = await connect(alice)
      const b1 = await connect(bob)
      const b2 = await connect(bob)
      const msg = direct(alice.id, 'bob')
      a.send(msg)
      await b1.envelope(idOf(msg))
      await b2.envelope(idOf(msg))
    })

    t.test('messages arrive in the order they were sent', async (t) => {
      const { alice, bob, connect } = await setup(t)
      const a = await connect(alice)
      const b = await connect(bob)
      const sent = Array.from({ length: 50 }, (_, i) => direct(alice.id, 'bob', { content: Buffer.from(`message number ${i}, padded to a tag`).toString('base64') }))
      for (const m of sent) a.send(m)
      const got: string[] = []
      for (let i = 0; i < sent.length; i++) got.push(idOf(await b.next((f) => f.header.message_type === 'direct')))
      t.same(got, sent.map(idOf))
    })

    t.test('offline delivery, in order, after reconnect; redelivery until acknowledged', async (t) => {
      const { app, alice, bob, connect } = await setup(t)
      const a = await connect(alice)
      const sent = [direct(alice.id, 'bob'), direct(alice.id, 'bob'), direct(alice.id, 'bob')]
      for (const m of sent) {
        a.send(m)
        await a.receipt(idOf(m), 'accepted')
      }
      const b = await connect(bob)
      for (const m of sent) t.equal(idOf(await b.next((f) => f.header.message_type === 'direct')), idOf(m), 'queued in order')
      b.ack(idOf(sent[0]!))
      await a.receipt(idOf(sent[0]!), 'delivered')
      await b.close()

      const again = await connect(bob)
      t.equal(idOf(await again.next((f) => f.header.message_type === 'direct')), idOf(sent[1]!), 'unacknowledged ones come again')
      t.equal(idOf(await again.next((f) => f.header.message_type === 'direct')), idOf(sent[2]!))
      // the queue is sent in one pass, in order: once the last one is here, so is everything the pass sent
      t.ok(await again.noneSoFar((f) => f.header.id === idOf(sent[0]!)), 'the acknowledged one does not')
      const pending = await app.db.selectFrom('messages').select('id').where('status', '=', 'pending').execute()
      t.equal(pending.length, 2)
    })

    t.test('the sender gets the delivered receipt on its next connection when it was away', async (t) => {
      const { app, alice, bob, connect } = await setup(t)
      const a = await connect(alice)
      const msg = direct(alice.id, 'bob')
      a.send(msg)
      await a.receipt(idOf(msg), 'accepted')
      await a.close()
      const b = await connect(bob)
      await b.envelope(idOf(msg))
      b.ack(idOf(msg))
      const status = async (id: string): Promise<string> => (await app.db.selectFrom('messages').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status
      await until(async () => await status(idOf(msg)) === 'delivered', 'the ack is stored')
      const a2 = await connect(alice)
      await a2.receipt(idOf(msg), 'delivered')
      await app.messages.flush()
      const row = await app.db.selectFrom('messages').selectAll().where('id', '=', idOf(msg)).executeTakeFirstOrThrow()
      t.ok(row.receipt_sent_at, 'and it is not owed any more')
      // a marker on the same path: a receipt owed for another message, sent in the same pass as any owed for msg
      const marker = direct(alice.id, 'bob')
      a2.send(marker)
      await a2.receipt(idOf(marker), 'accepted')
      await a2.close()
      await until(() => app.hub.connectionCount('alice') === 0, 'alice is away')
      await b.envelope(idOf(marker))
      b.ack(idOf(marker))
      await until(async () => await status(idOf(marker)) === 'delivered', 'the marker\'s ack is stored')
      const a3 = await connect(alice)
      await a3.receipt(idOf(marker), 'delivered')
      t.ok(await a3.noneSoFar((f) => f.header.in_reply_to === idOf(msg)), 'not sent twice')
    })

    t.test('a resend with the same id is answered duplicate and never delivered twice', async (t) => {
      const { app, alice, bob, connect } = await setup(t)
      const a = await connect(alice)
      const b = await connect(bob)
      const msg = direct(alice.id, 'bob')
      a.send(msg)
      a.send(msg)
      await a.receipt(idOf(msg), 'accepted')
      await a.receipt(idOf(msg), 'duplicate')
      a.send(msg)
      await a.receipt(idOf(msg), 'duplicate')
      await b.envelope(idOf(msg))
      // a delivery goes out in the same turn as the receipt to the sender: both duplicates are answered
      t.ok(await b.noneSoFar((f) => f.header.id === idOf(msg)), 'delivered once')
      const rows = await app.db.selectFrom('messages').select('id').execute()
      t.equal(rows.length, 1)
    })

    t.test('a resend of a message delivered meanwhile is answered duplicate, then delivered', async (t) => {
      const { alice, bob, connect } = await setup(t)
      const a = await connect(alice)
      const b = await connect(bob)
      const msg = direct(alice.id, 'bob')
      a.send(msg)
      await a.receipt(idOf(msg), 'accepted')
      await b.envelope(idOf(msg))
      b.ack(idOf(msg))
      await a.receipt(idOf(msg), 'delivered')
      // as a sender does that lost its connection before the answers came and sends again what is unanswered
      a.send(msg)
      await a.receipt(idOf(msg), 'duplicate')
      await a.receipt(idOf(msg), 'delivered')
      t.ok(await b.noneSoFar((f) => f.header.id === idOf(msg)), 'and the recipient does not get it again')
    })

    t.test('broadcast reaches every other connected user and is stored', async (t) => {
      const { app, alice, bob, connect } = await setup(t)
      const carol = await registerAndLogin(app, 'carol')
      const a = await connect(alice)
      const b = await connect(bob)
      const c = await connect(carol)
      const msg = broadcast(alice.id, 'hello everyone ✓')
      a.send(msg)
      await a.receipt(idOf(msg), 'accepted')
      for (const client of [b, c]) {
        const got = await client.envelope(idOf(msg))
        t.equal(got.body.content, 'hello everyone ✓')
        t.equal(got.header.to, '*')
      }
      const row = await app.db.selectFrom('messages').selectAll().where('id', '=', idOf(msg)).executeTakeFirstOrThrow()
      t.equal(row.status, 'sent')
    })

    t.test('presence: first connection opens, last one closes', async (t) => {
      const { app, alice, bob, connect } = await setup(t)
      const a = await connect(alice)
      const b1 = await connect(bob)
      t.match((await a.next((f) => f.header.message_type === 'presence')).body, { user_id: 'bob', status: 'online' })
      const b2 = await connect(bob)
      // markers: a broadcast from bob, sent once the server has his second connection, comes after any news of it
      const marker = async (from: typeof b1, what: string): Promise<(f: Frame) => boolean> => {
        const m = broadcast(bob.id, what)
        from.send(m)
        await from.receipt(idOf(m), 'accepted')
        return (f) => f.header.id === idOf(m)
      }
      await until(() => app.hub.connectionCount('bob') === 2, 'the server has both of bob\'s connections')
      t.ok(await a.noneBefore((f) => f.header.message_type === 'presence', await marker(b2, 'second')), 'a second connection is not news')
      await b2.close()
      await until(() => app.hub.connectionCount('bob') === 1, 'the server has closed bob\'s second connection')
      t.ok(await a.noneBefore((f) => f.header.message_type === 'presence', await marker(b1, 'one left')), 'nor is closing one of two')
      await b1.close()
      t.match((await a.next((f) => f.header.message_type === 'presence')).body, { user_id: 'bob', status: 'offline' })
    })

    t.test('built-in server commands', async (t) => {
      const { alice, connect } = await setup(t)
      const a = await connect(alice)
      const run = async (name: string, params?: unknown) => {
        const msg = command(alice.id, name, params)
        a.send(msg)
        const res = await a.reply(idOf(msg), 'server_response')
        return JSON.parse(res.body.content as string) as { command: string, ok: boolean, result?: unknown }
      }
      t.same(await run('ping'), { command: 'ping', ok: true, result: 'pong' })
      t.same(await run('echo', { a: [1, 'two'] }), { command: 'echo', ok: true, result: { a: [1, 'two'] } })
      t.match(await run('server_info'), { ok: true, result: { name: 'sealwire', protocol: 'sealwire/v1' } })
      t.match(await run('user_count'), { ok: true, result: { registered: 2, online: 1 } })
      const list = await run('list_commands')
      t.same((list.result as Array<{ name: string }>).map((c) => c.name), ['echo', 'list_commands', 'ping', 'server_info', 'user_count'])
      const unknown = command(alice.id, 'nope')
      a.send(unknown)
      t.match((await a.error(idOf(unknown))).body, { code: 'unknown_command' })
    })

    t.test('an embedder registers its own command; throws and timeouts become command_failed', async (t) => {
      const { app, alice, connect } = await setup(t, { COMMAND_TIMEOUT_MS: 100 })
      app.registerCommand('whoami', { description: 'the sender', handler: ({ sender, params }) => ({ sender, params: params as string }) })
      app.registerCommand('boom', { description: 'fails', handler: () => { throw new Error('secret internals') } })
      let aborted = false
      app.registerCommand('slow', {
        description: 'never ends',
        handler: async ({ signal }) => await new Promise((_resolve, reject) => signal.addEventListener('abort', () => { aborted = true; reject(new Error('aborted')) }))
      })
      t.throws(() => app.registerCommand('ping', { description: 'again', handler: () => null }), /already registered/)
      const a = await connect(alice)
      const run = async (name: string, params?: unknown) => {
        const msg = command(alice.id, name, params)
        a.send(msg)
        return JSON.parse((await a.reply(idOf(msg), 'server_response')).body.content as string) as Record<string, unknown>
      }
      t.same(await run('whoami', 'x'), { command: 'whoami', ok: true, result: { sender: 'alice', params: 'x' } })
      t.same(await run('boom'), { command: 'boom', ok: false, error: { code: 'command_failed', message: 'command failed' } }, 'internals are not shown')
      t.match(await run('slow'), { ok: false, error: { code: 'command_failed', message: /timed out/ } })
      t.ok(aborted, 'the handler saw its signal abort')
    })

    t.test('REST: active users, direct message over HTTP, history', async (t) => {
      const { app, alice, bob, connect } = await setup(t)
      const b = await connect(bob)
      const auth = { authorization: `Bearer ${alice.token}` }
      const active = await app.inject({ url: '/active-users', headers: auth })
      t.same(active.json(), { users: ['bob'], count: 1 })
      t.equal((await app.inject({ url: '/active-users' })).statusCode, 401)

      const msg = direct(alice.id, 'bob')
      const res = await app.inject({ method: 'POST', url: '/direct-message/', headers: auth, payload: msg })
      t.same(res.json(), { id: idOf(msg), status: 'accepted' })
      await b.envelope(idOf(msg))
      const again = await app.inject({ method: 'POST', url: '/direct-message/', headers: auth, payload: msg })
      t.same(again.json(), { id: idOf(msg), status: 'duplicate' })

      const spoof = await app.inject({ method: 'POST', url: '/direct-message/', headers: { authorization: `Bearer ${bob.token}` }, payload: direct(alice.id, 'bob') })
      t.equal(spoof.statusCode, 403)
      t.equal(spoof.json().code, 'forbidden')
      const nobody = await app.inject({ method: 'POST', url: '/direct-message/', headers: auth, payload: direct(alice.id, 'nobody') })
      t.equal(nobody.statusCode, 404)
      t.equal(nobody.json().code, 'unknown_recipient')
      const plain = direct(alice.id, 'bob')
      const { encrypted_key: _k, encryption_nonce: _n, signature: _s, ...header } = plain.header
      const { sign } = await import('../ws-client.js')
      const unencrypted = await app.inject({ method: 'POST', url: '/direct-message/', headers: auth, payload: sign(alice.id, header, plain.body) })
      t.equal(unencrypted.statusCode, 400)
      t.match(unencrypted.json(), { code: 'invalid_frame', message: /must be encrypted/ })

      for (let i = 0; i < 4; i++) {
        const m = direct(bob.id, 'alice')
        b.send(m)
        await b.receipt(idOf(m), 'accepted')
      }
      const page1 = await app.inject({ url: '/messages?peer=bob&limit=3', headers: auth })
      t.equal(page1.statusCode, 200)
      const body1 = page1.json()
      t.equal(body1.messages.length, 3)
      t.ok(body1.messages[0].seq > body1.messages[1].seq, 'newest first')
      const page2 = (await app.inject({ url: `/messages?peer=bob&limit=3&before=${body1.next_before}`, headers: auth })).json()
      t.equal(page2.messages.length, 2)
      t.equal(page2.next_before, null)
      t.equal(page2.messages[1].header.id, idOf(msg), 'the oldest is the first message')
      const carolView = await registerAndLogin(app, 'carol')
      const none = (await app.inject({ url: '/messages?peer=bob', headers: { authorization: `Bearer ${carolView.token}` } })).json()
      t.equal(none.messages.length, 0, 'nobody reads another pair\'s history')
    })

    t.test('plaintext direct messages when ALLOW_PLAINTEXT_DIRECT=true', async (t) => {
      const { alice, bob, connect } = await setup(t, { ALLOW_PLAINTEXT_DIRECT: true })
      const a = await connect(alice)
      const b = await connect(bob)
      const { sign } = await import('../ws-client.js')
      const msg = sign(alice.id, { id: crypto.randomUUID(), from: 'alice', to: 'bob', message_type: 'direct', timestamp: new Date().toISOString() }, { content: 'hi bob' })
      a.send(msg)
      await a.receipt(idOf(msg), 'accepted')
      t.equal((await b.envelope(idOf(msg))).body.content, 'hi bob')
    })

    t.test('the hub tells listeners about sessions, outcomes and deliveries', async (t) => {
      const { app, alice, bob, connect } = await setup(t)
      const events: Array<{ kind: string } & Record<string, unknown>> = []
      app.hub.onEvent((e) => events.push(e))
      app.hub.onEvent(() => { throw new Error('a broken listener') })
      const a = await connect(alice)
      const b = await connect(bob)
      const msg = direct(alice.id, 'bob')
      a.send(msg)
      await b.envelope(idOf(msg))
      a.send(msg)
      await a.receipt(idOf(msg), 'duplicate')
      const bad = direct(alice.id, 'nobody')
      a.send(bad)
      await a.error(idOf(bad))
      b.ack(idOf(msg))
      await a.receipt(idOf(msg), 'delivered')
      await b.close()
      t.match(events.filter((e) => e.kind === 'session-open'), [{ userId: 'alice', remoteAddress: '127.0.0.1' }, { userId: 'bob' }])
      t.match(events.filter((e) => e.kind === 'message'), [
        { messageType: 'direct', userId: 'alice', outcome: 'accepted' },
        { messageType: 'direct', outcome: 'duplicate' },
        { messageType: 'direct', outcome: 'refused', code: 'unknown_recipient' }
      ])
      const delivered = events.find((e) => e.kind === 'delivered')
      t.match(delivered, { userId: 'alice' })
      t.ok((delivered?.latencyMs as number) >= 0)
      await until(() => events.some((e) => e.kind === 'session-close'), 'the server has seen bob go')
      t.match(events.filter((e) => e.kind === 'session-close'), [{ userId: 'bob' }])
    })
  })
}
