import { createHmac } from 'node:crypto'
import { ed25519 } from '@noble/curves/ed25519.js'
import t from 'tap'
import { mixedOrderKey, SMALL_ORDER_KEYS } from '../crafted-signatures.js'
import { build, login, makeIdentity, register, registerAndLogin, registrationBody, TEST_JWT_SECRET } from '../helper.js'

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')
const b64url = (s: string | Buffer): string => Buffer.from(s).toString('base64url')

function jwt (header: object, payload: object, secret: string | null): string {
  const head = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`
  return `${head}.${secret === null ? '' : b64url(createHmac('sha256', secret).update(head).digest())}`
}

t.test('register stores the public keys and returns them', async (t) => {
  const app = await build(t)
  const alice = makeIdentity('alice')
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: registrationBody(alice) })
  t.equal(res.statusCode, 201)
  const body = res.json()
  t.match(body, { user_id: 'alice', username: 'alice (test)', public_key: alice.public_key, x25519_public_key: alice.x25519_public_key, x25519_key_signature: alice.x25519_key_signature })
  t.match(body.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  const row = await app.db.selectFrom('users').selectAll().where('user_id', '=', 'alice').executeTakeFirstOrThrow()
  t.equal(row.public_key, alice.public_key)

  const bare = makeIdentity('bareuser')
  const { x25519_key_signature: _omit, ...withoutBinding } = registrationBody(bare)
  const res2 = await app.inject({ method: 'POST', url: '/auth/register', payload: withoutBinding })
  t.equal(res2.statusCode, 201, 'the binding signature is optional')
  t.equal(res2.json().x25519_key_signature, null)
})

t.test('every invalid registration field gets a 400 with a code and a clear message', async (t) => {
  const app = await build(t)
  const id = makeIdentity('valid_user')
  const other = makeIdentity('someone')
  const good = registrationBody(id)
  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['user_id too short', { user_id: 'ab' }, 'invalid_request', /user_id/],
    ['user_id bad character', { user_id: 'al ice' }, 'invalid_request', /user_id/],
    ['user_id starts with punctuation', { user_id: '.alice' }, 'invalid_request', /user_id/],
    ['user_id too long', { user_id: 'a'.repeat(33) }, 'invalid_request', /user_id/],
    ['user_id reserved', { user_id: 'server' }, 'invalid_request', /reserved/],
    ['user_id reserved in another case', { user_id: 'Server' }, 'invalid_request', /reserved/],
    ['user_id not a string', { user_id: 42 }, 'invalid_request', /user_id/],
    ['username empty', { username: '' }, 'invalid_request', /username/],
    ['username control character', { username: 'bad\u0000name' }, 'invalid_request', /username/],
    ['username too long', { username: 'x'.repeat(65) }, 'invalid_request', /username/],
    ['public_key not base64', { public_key: '!'.repeat(44) }, 'invalid_request', /public_key/],
    ['public_key url-safe alphabet', { public_key: b64(new Uint8Array(32).fill(0xfb)).replaceAll('+', '-').replaceAll('/', '_') }, 'invalid_request', /public_key/],
    ['public_key wrong length', { public_key: b64(new Uint8Array(31)) }, 'invalid_request', /public_key/],
    ['public_key missing padding', { public_key: id.public_key.slice(0, -1) }, 'invalid_request', /public_key/],
    ['public_key not a point', { public_key: b64(new Uint8Array(32).fill(0xff)) }, 'invalid_key', /public_key/],
    ['public_key small order', { public_key: b64(SMALL_ORDER_KEYS[0] as Uint8Array) }, 'invalid_key', /public_key/],
    ['public_key mixed order', { public_key: b64(mixedOrderKey(Buffer.from(id.public_key, 'base64'))) }, 'invalid_key', /public_key/],
    ['x25519_public_key wrong length', { x25519_public_key: b64(new Uint8Array(33)) }, 'invalid_request', /x25519_public_key/],
    ['x25519_public_key low order', { x25519_public_key: b64(new Uint8Array(32)) }, 'invalid_key', /x25519_public_key/],
    ['x25519_key_signature wrong length', { x25519_key_signature: b64(new Uint8Array(63)) }, 'invalid_request', /x25519_key_signature/],
    ['x25519_key_signature by another key', { x25519_key_signature: other.sign(`sealwire/v1/x25519-key:valid_user:${id.x25519_public_key}`) }, 'invalid_key_signature', /x25519_key_signature/],
    ['x25519_key_signature for another user id', { x25519_key_signature: id.sign(`sealwire/v1/x25519-key:someone:${id.x25519_public_key}`) }, 'invalid_key_signature', /x25519_key_signature/],
    ['unknown field', { admin: true }, 'invalid_request', /unknown property "admin"/],
    ['missing field', { username: undefined }, 'invalid_request', /username/]
  ]
  for (const [name, change, code, message] of cases) {
    const payload = JSON.parse(JSON.stringify({ ...good, ...change })) as Record<string, unknown>
    const res = await app.inject({ method: 'POST', url: '/auth/register', payload })
    t.equal(res.statusCode, 400, `${name}: 400`)
    const body = res.json()
    t.equal(body.code, code, `${name}: code ${code}`)
    t.match(body.message, message, `${name}: message names the field (${body.message})`)
  }
  const broken = await app.inject({ method: 'POST', url: '/auth/register', headers: { 'content-type': 'application/json' }, payload: '{"user_id":' })
  t.equal(broken.statusCode, 400)
  t.equal(broken.json().code, 'invalid_json')
  const huge = await app.inject({ method: 'POST', url: '/auth/register', payload: { ...good, username: 'x'.repeat(10_000) } })
  t.equal(huge.statusCode, 413)
  t.equal(huge.json().code, 'payload_too_large')
  t.equal(await app.users.count(), 0, 'nothing was stored')
})

t.test('a taken user id answers 409, also in another case', async (t) => {
  const app = await build(t)
  await register(app, makeIdentity('alice'))
  const again = await app.inject({ method: 'POST', url: '/auth/register', payload: registrationBody(makeIdentity('alice')) })
  t.equal(again.statusCode, 409)
  t.equal(again.json().code, 'user_exists')
  const upper = await app.inject({ method: 'POST', url: '/auth/register', payload: registrationBody(makeIdentity('ALICE')) })
  t.equal(upper.statusCode, 409)
  const check = await app.inject({ url: '/auth/check-userid/Alice' })
  t.same(check.json(), { user_id: 'Alice', available: false })
  t.same((await app.inject({ url: '/auth/check-userid/bob' })).json(), { user_id: 'bob', available: true })
  t.same((await app.inject({ url: '/auth/check-userid/server' })).json(), { user_id: 'server', available: false })
  t.equal((await app.inject({ url: '/auth/check-userid/no%20way' })).statusCode, 400)
})

t.test('full login: challenge, signature, token for 24 hours', async (t) => {
  const app = await build(t)
  const alice = makeIdentity('alice')
  await register(app, alice)
  const first = await app.inject({ method: 'POST', url: '/auth/login', payload: { user_id: 'alice' } })
  t.equal(first.statusCode, 200)
  const { challenge, expires_at: challengeExpiry } = first.json()
  t.equal(Buffer.from(challenge, 'base64').length, 32)
  t.ok(Math.abs(Date.parse(challengeExpiry) - Date.now() - 60_000) < 2000, 'challenge valid 60 s')

  const signature = alice.sign(`sealwire/v1/login:alice:${challenge}`)
  const res = await app.inject({ method: 'POST', url: '/auth/login?verify=true', payload: { user_id: 'alice', challenge, signature } })
  t.equal(res.statusCode, 200)
  const { token, expires_at: expiresAt } = res.json()
  const claims = await app.verifyToken(token)
  t.equal(claims.sub, 'alice')
  t.equal(claims.exp - claims.iat, 86400)
  t.equal(Date.parse(expiresAt), claims.exp * 1000)
  t.match(claims.jti, /^[0-9a-f-]{36}$/)
  const header = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()) as { alg: string }
  t.equal(header.alg, 'HS256')

  const me = await app.inject({ url: '/auth/users/alice', headers: { authorization: `Bearer ${token}` } })
  t.equal(me.statusCode, 200)
  t.equal(me.json().public_key, alice.public_key)
  const missing = await app.inject({ url: '/auth/users/nobody', headers: { authorization: `Bearer ${token}` } })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().code, 'unknown_user')
})

t.test('login refusals', async (t) => {
  const app = await build(t)
  const alice = makeIdentity('alice')
  const bob = makeIdentity('bob')
  await register(app, alice)
  await register(app, bob)
  const challengeFor = async (userId: string): Promise<string> =>
    (await app.inject({ method: 'POST', url: '/auth/login', payload: { user_id: userId } })).json().challenge
  const verify = async (payload: object) => await app.inject({ method: 'POST', url: '/auth/login?verify=true', payload })
  const generic = { statusCode: 401, code: 'unauthorized', error: 'Unauthorized', message: 'authentication failed' }

  const unknown = await app.inject({ method: 'POST', url: '/auth/login', payload: { user_id: 'nobody' } })
  t.equal(unknown.statusCode, 404, 'no challenge for an unknown user')

  t.test('replayed challenge', async (t) => {
    const challenge = await challengeFor('alice')
    const signature = alice.sign(`sealwire/v1/login:alice:${challenge}`)
    t.equal((await verify({ user_id: 'alice', challenge, signature })).statusCode, 200)
    const replay = await verify({ user_id: 'alice', challenge, signature })
    t.same(replay.json(), generic)
  })

  t.test('a wrong signature consumes the challenge', async (t) => {
    const challenge = await challengeFor('alice')
    const wrong = await verify({ user_id: 'alice', challenge, signature: bob.sign(`sealwire/v1/login:alice:${challenge}`) })
    t.same(wrong.json(), generic)
    const right = await verify({ user_id: 'alice', challenge, signature: alice.sign(`sealwire/v1/login:alice:${challenge}`) })
    t.same(right.json(), generic, 'the right signature afterwards is refused too')
  })

  t.test('a signature without the label or over another user id', async (t) => {
    const c1 = await challengeFor('alice')
    t.same((await verify({ user_id: 'alice', challenge: c1, signature: alice.sign(c1) })).json(), generic)
    const c2 = await challengeFor('alice')
    t.same((await verify({ user_id: 'alice', challenge: c2, signature: alice.sign(`sealwire/v1/login:bob:${c2}`) })).json(), generic)
  })

  t.test('expired challenge', async (t) => {
    const challenge = await challengeFor('alice')
    await app.db.updateTable('challenges').set({ expires_at: new Date(Date.now() - 1).toISOString() }).where('challenge', '=', challenge).execute()
    t.same((await verify({ user_id: 'alice', challenge, signature: alice.sign(`sealwire/v1/login:alice:${challenge}`) })).json(), generic)
  })

  t.test('foreign challenge: issued to bob, answered by alice', async (t) => {
    const challenge = await challengeFor('bob')
    t.same((await verify({ user_id: 'alice', challenge, signature: alice.sign(`sealwire/v1/login:alice:${challenge}`) })).json(), generic)
    t.same((await verify({ user_id: 'bob', challenge, signature: bob.sign(`sealwire/v1/login:bob:${challenge}`) })).json(), generic, 'and it is gone for bob too')
  })

  t.test('a challenge never issued', async (t) => {
    const challenge = b64(new Uint8Array(32).fill(9))
    t.same((await verify({ user_id: 'alice', challenge, signature: alice.sign(`sealwire/v1/login:alice:${challenge}`) })).json(), generic)
  })

  t.test('malformed verify bodies', async (t) => {
    t.equal((await verify({ user_id: 'alice' })).json().code, 'invalid_request')
    t.equal((await verify({ user_id: 'alice', challenge: 'short', signature: 'x' })).json().code, 'invalid_request')
    const withSig = await app.inject({ method: 'POST', url: '/auth/login', payload: { user_id: 'alice', challenge: b64(new Uint8Array(32)), signature: b64(new Uint8Array(64)) } })
    t.equal(withSig.statusCode, 400, 'challenge fields without ?verify=true')
  })

  t.test('outstanding challenges per user are bounded', async (t) => {
    for (let i = 0; i < 12; i++) await challengeFor('bob')
    const rows = await app.db.selectFrom('challenges').select('challenge').where('user_id', '=', 'bob').execute()
    t.equal(rows.length, 5)
  })
})

t.test('tokens: missing, expired, tampered, foreign secret, alg none', async (t) => {
  const app = await build(t)
  const { token } = await registerAndLogin(app, 'alice')
  const call = async (authorization?: string) =>
    await app.inject({ url: '/auth/users/alice', headers: authorization === undefined ? {} : { authorization } })
  const now = Math.floor(Date.now() / 1000)
  const claims = { sub: 'alice', jti: '00000000-0000-4000-8000-000000000000', iat: now, exp: now + 3600 }

  t.equal((await call(`Bearer ${token}`)).statusCode, 200)
  const control = await call(`Bearer ${jwt({ alg: 'HS256', typ: 'JWT' }, claims, TEST_JWT_SECRET)}`)
  t.equal(control.statusCode, 200, `a hand-made token with the right secret passes (control) ${control.body}`)

  const refusals: Array<[string, string | undefined]> = [
    ['no header', undefined],
    ['empty bearer', 'Bearer '],
    ['not a bearer', `Basic ${token}`],
    ['expired', `Bearer ${jwt({ alg: 'HS256', typ: 'JWT' }, { ...claims, iat: now - 7200, exp: now - 3600 }, TEST_JWT_SECRET)}`],
    ['another secret', `Bearer ${jwt({ alg: 'HS256', typ: 'JWT' }, claims, 'another-secret-that-is-long-enough-000000')}`],
    ['alg none', `Bearer ${jwt({ alg: 'none', typ: 'JWT' }, claims, null)}`],
    ['alg HS512', `Bearer ${jwt({ alg: 'HS512', typ: 'JWT' }, claims, TEST_JWT_SECRET)}`],
    ['tampered payload', `Bearer ${token.split('.')[0]}.${b64url(JSON.stringify({ ...claims, sub: 'bob' }))}.${token.split('.')[2]}`],
    ['tampered signature', `Bearer ${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`],
    ['claims without sub', `Bearer ${jwt({ alg: 'HS256', typ: 'JWT' }, { iat: now, exp: now + 60, jti: 'x' }, TEST_JWT_SECRET)}`],
    ['garbage', 'Bearer not.a.jwt']
  ]
  for (const [name, authorization] of refusals) {
    const res = await call(authorization)
    t.equal(res.statusCode, 401, `${name}: 401`)
    t.same(res.json(), { statusCode: 401, code: 'unauthorized', error: 'Unauthorized', message: 'missing, invalid or expired token' }, `${name}: the same generic answer`)
  }
})

t.test('a token can be verified outside HTTP (for the WebSocket)', async (t) => {
  const app = await build(t)
  const { token } = await registerAndLogin(app, 'alice')
  t.equal((await app.verifyToken(token)).sub, 'alice')
  await t.rejects(app.verifyToken(`${token}x`), { code: 'UNAUTHORIZED', statusCode: 401 })
})

t.test('login needs the identity key: another key pair with the same id cannot log in', async (t) => {
  const app = await build(t)
  const alice = makeIdentity('alice')
  await register(app, alice)
  const impostor = { ...makeIdentity('alice') }
  await t.rejects(login(app, impostor), /verify alice: 401/)
  t.ok(ed25519.getPublicKey(alice.secretKey).length === 32)
})
