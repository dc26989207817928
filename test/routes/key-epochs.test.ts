import { x25519 } from '@noble/curves/ed25519.js'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { x25519KeyBindingSigningInput, x25519KeySigningInput } from '../../services/protocol/signing.js'
import { testDatabases } from '../databases.js'
import { build, login, makeIdentity, registrationBody, type Identity } from '../helper.js'

// Ordered key bindings (issue 14, §1): an epoch and an expiry signed under a label of their own, stored and
// served; a rotation must grow the epoch. Keys bound the v1 way are epoch 0 and keep working.

const DAY = 24 * 60 * 60 * 1000
const freshKey = (): string => Buffer.from(x25519.getPublicKey(x25519.utils.randomSecretKey())).toString('base64')
const inDays = (days: number): string => new Date(Date.now() + days * DAY).toISOString()

type Binding = Record<string, unknown> & { x25519_public_key: string, x25519_key_epoch: number, x25519_key_expires_at: string, x25519_key_signature: string }

/** An epoch'd binding of `key` to `id`, signed by `signer` (the user's own identity key unless a forgery is wanted). */
function binding (id: Identity, epoch: number, expiresAt = inDays(14), key = freshKey(), signer = id): Binding {
  const signature = signer.sign(x25519KeyBindingSigningInput({ userId: id.user_id, x25519PublicKey: key, epoch, expiresAt }))
  return { x25519_public_key: key, x25519_key_epoch: epoch, x25519_key_expires_at: expiresAt, x25519_key_signature: signature }
}

async function registerWith (app: FastifyInstance, id: Identity, fields: object) {
  return await app.inject({ method: 'POST', url: '/auth/register', payload: { ...registrationBody(id), ...fields } })
}

t.test('register with an epoch: stored and served; v1 registration is epoch 0 without expiry', async (t) => {
  const app = await build(t)
  const alice = makeIdentity('alice')
  const bound = binding(alice, 3)
  const res = await registerWith(app, alice, bound)
  t.equal(res.statusCode, 201, res.body)
  t.match(res.json(), { user_id: 'alice', x25519_public_key: bound.x25519_public_key, x25519_key_epoch: 3, x25519_key_expires_at: bound.x25519_key_expires_at })
  const token = await login(app, alice)
  const served = await app.inject({ url: '/auth/users/alice', headers: { authorization: `Bearer ${token}` } })
  t.match(served.json(), { x25519_key_epoch: 3, x25519_key_expires_at: bound.x25519_key_expires_at, x25519_key_signature: bound.x25519_key_signature })

  const v1 = await registerWith(app, makeIdentity('bob'), {})
  t.equal(v1.statusCode, 201)
  t.match(v1.json(), { x25519_key_epoch: 0, x25519_key_expires_at: null })
  const servedV1 = await app.inject({ url: '/auth/users/bob', headers: { authorization: `Bearer ${token}` } })
  t.match(servedV1.json(), { x25519_key_epoch: 0, x25519_key_expires_at: null })
})

t.test('epoch\'d registrations that are refused, and nothing stored', async (t) => {
  const app = await build(t)
  const id = makeIdentity('carol')
  const other = makeIdentity('mallory')
  const key = freshKey()
  const expiresAt = inDays(30)
  const good = binding(id, 2, expiresAt, key)
  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['epoch without expiry', { ...good, x25519_key_expires_at: undefined }, 'invalid_request', /go together/],
    ['expiry without epoch', { ...good, x25519_key_epoch: undefined }, 'invalid_request', /go together/],
    ['epoch without signature', { ...good, x25519_key_signature: undefined }, 'invalid_request', /x25519_key_signature is required/],
    ['epoch 0', binding(id, 0, expiresAt, key), 'invalid_request', /x25519_key_epoch/],
    ['epoch beyond 2^53 - 1', { ...good, x25519_key_epoch: 2 ** 53 }, 'invalid_request', /x25519_key_epoch/],
    ['epoch not an integer', { ...good, x25519_key_epoch: 1.5 }, 'invalid_request', /x25519_key_epoch/],
    ['expiry not in toISOString form', { ...good, x25519_key_expires_at: expiresAt.replace('Z', '+00:00') }, 'invalid_request', /x25519_key_expires_at/],
    ['expiry not a real time', binding(id, 2, '2026-13-45T10:00:00.000Z', key), 'invalid_request', /not a valid time/],
    ['expiry in the past', binding(id, 2, inDays(-1), key), 'invalid_key', /later than now/],
    ['expiry beyond 400 days', binding(id, 2, inDays(401), key), 'invalid_key', /400 days/],
    ['signature under the old label with epoch fields', { ...good, x25519_key_signature: id.sign(x25519KeySigningInput('carol', key)) }, 'invalid_key_signature', /x25519_key_signature/],
    ['signature over another epoch', { ...good, x25519_key_epoch: 3 }, 'invalid_key_signature', /x25519_key_signature/],
    ['signature over another expiry', { ...good, x25519_key_expires_at: inDays(31) }, 'invalid_key_signature', /x25519_key_signature/],
    ['signature by another identity', binding(id, 2, expiresAt, key, other), 'invalid_key_signature', /x25519_key_signature/]
  ]
  for (const [name, fields, code, message] of cases) {
    const payload = JSON.parse(JSON.stringify({ ...registrationBody(id), ...fields })) as Record<string, unknown>
    const res = await app.inject({ method: 'POST', url: '/auth/register', payload })
    t.equal(res.statusCode, 400, `${name}: 400`)
    t.equal(res.json().code, code, `${name}: ${code}`)
    t.match(res.json().message, message, `${name}: ${String(res.json().message)}`)
  }
  t.equal(await app.users.count(), 0, 'nothing was stored')
  t.equal((await registerWith(app, id, binding(id, 1, inDays(399)))).statusCode, 201, 'an expiry 399 days ahead is fine')
})

for (const database of testDatabases) {
  t.test(`${database.name}: rotation must grow the epoch; v1 rotation is refused once a key has one`, { skip: database.skip }, async (t) => {
    const app = await build(t, { config: await database.config(t) })
    const alice = makeIdentity('alice')
    t.equal((await registerWith(app, alice, {})).statusCode, 201)
    const token = await login(app, alice)
    const headers = { authorization: `Bearer ${token}` }
    const put = async (payload: object) => await app.inject({ method: 'PUT', url: '/auth/keys/x25519', headers, payload })
    const served = async () => (await app.inject({ url: '/auth/users/alice', headers })).json()

    const v1Key = freshKey()
    const v1 = await put({ x25519_public_key: v1Key, x25519_key_signature: alice.sign(x25519KeySigningInput('alice', v1Key)) })
    t.equal(v1.statusCode, 200, 'a v1 rotation of a v1 key works as before')
    t.match(v1.json(), { x25519_public_key: v1Key, x25519_key_epoch: 0, x25519_key_expires_at: null })

    const first = binding(alice, 1)
    t.match((await put(first)).json(), { x25519_public_key: first.x25519_public_key, x25519_key_epoch: 1, x25519_key_expires_at: first.x25519_key_expires_at })
    const fifth = binding(alice, 5)
    t.equal((await put(fifth)).statusCode, 200, 'epochs may skip')

    const refusals: Array<[string, object, number, string]> = [
      ['the same epoch', binding(alice, 5), 409, 'stale_key_epoch'],
      ['a lower epoch', binding(alice, 4), 409, 'stale_key_epoch'],
      ['a v1 rotation after an epoch', (() => { const k = freshKey(); return { x25519_public_key: k, x25519_key_signature: alice.sign(x25519KeySigningInput('alice', k)) } })(), 409, 'stale_key_epoch'],
      ['only the epoch', { ...binding(alice, 6), x25519_key_expires_at: undefined }, 400, 'invalid_request'],
      ['an expiry in the past', binding(alice, 6, inDays(-1)), 400, 'invalid_key'],
      ['an expiry beyond 400 days', binding(alice, 6, inDays(401)), 400, 'invalid_key'],
      ['a signature by another identity', binding(alice, 6, inDays(7), freshKey(), makeIdentity('alice')), 400, 'invalid_key_signature'],
      ['the old label with epoch fields', (() => {
        const b = binding(alice, 6)
        return { ...b, x25519_key_signature: alice.sign(x25519KeySigningInput('alice', b.x25519_public_key)) }
      })(), 400, 'invalid_key_signature']
    ]
    for (const [name, payload, status, code] of refusals) {
      const res = await put(JSON.parse(JSON.stringify(payload)) as object)
      t.equal(res.statusCode, status, `${name}: ${status}`)
      t.equal(res.json().code, code, `${name}: ${code}`)
    }
    t.equal((await put(binding(alice, 5))).json().message, 'the key epoch must grow')
    t.match(await served(), { x25519_public_key: fifth.x25519_public_key, x25519_key_epoch: 5 }, 'the refused rotations changed nothing')

    // two rotations at once with the same epoch: one wins, the other is told the epoch must grow
    const racing = await Promise.all([put(binding(alice, 6)), put(binding(alice, 6))])
    t.same(racing.map((r) => r.statusCode).sort(), [200, 409])

    const top = binding(alice, Number.MAX_SAFE_INTEGER)
    t.equal((await put(top)).statusCode, 200)
    t.match(await served(), { x25519_key_epoch: Number.MAX_SAFE_INTEGER }, 'epochs up to 2^53 - 1 are stored exactly')
  })
}
