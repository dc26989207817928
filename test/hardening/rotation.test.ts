import t from 'tap'
import { createNodeClient, exportIdentity, generateIdentity, importIdentity, MemoryStore, type DirectMessage, type Identity } from '../../client/node.js'
import { build, makeIdentity } from '../helper.js'

t.test('rotation with messages queued under the old key; the old key is erased on the client\'s schedule', async (t) => {
  const app = await build(t, { config: { MESSAGE_RATE_LIMIT: 100, MESSAGE_BURST_LIMIT: 100 } })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const bobIdentity = generateIdentity('bob')
  const make = (identity: Identity, options = {}) => {
    const c = createNodeClient({ serverUrl: url, identity, store: new MemoryStore(), reconnectDelayMs: { min: 50, max: 100 }, ...options })
    t.teardown(() => c.close())
    return c
  }
  const alice = make(generateIdentity('alice'))
  const bob = make(bobIdentity)
  await alice.register()
  await bob.register()
  await alice.connect()
  const before = [await alice.sendDirect('bob', 'sealed to the old key 1'), await alice.sendDirect('bob', 'sealed to the old key 2')]

  const saved: Identity[] = []
  bob.on('identity-changed', (id) => { saved.push(importIdentity(exportIdentity(id))) })
  const oldSecret = bobIdentity.encryptionSecretKey
  await bob.rotateEncryptionKey()
  t.ok(saved[0]?.pendingEncryptionKey !== undefined, 'the application saves the new key before it is published')
  t.equal(saved.at(-1)?.retiredEncryptionKeys?.length, 1, 'then the identity with the old key kept, retired')
  const record = await app.users.get('bob')
  t.not(record?.x25519_public_key, undefined)

  const aliceLater = make(alice.identity)
  await aliceLater.connect()
  const after = await aliceLater.sendDirect('bob', 'sealed to the new key')
  const row = await app.db.selectFrom('messages').select('envelope').where('id', '=', after.id).executeTakeFirstOrThrow()
  t.ok(row.envelope.length > 0)

  const got: DirectMessage[] = []
  bob.on('message', (m) => { got.push(m) })
  await bob.connect()
  await Promise.all([...before, after].map(async (s) => await s.delivered))
  t.same(got.map((m) => m.text), ['sealed to the old key 1', 'sealed to the old key 2', 'sealed to the new key'], 'all three are read')

  t.equal(await bob.eraseRetiredKeys(), 0, 'kept for the retention time (30 days by default)')
  bob.close()
  const later = make(bob.identity, { retiredKeyRetentionMs: 0 })
  later.on('identity-changed', (id) => { saved.push(importIdentity(exportIdentity(id))) })
  t.equal(await later.eraseRetiredKeys(), 1, 'erased once retired longer than the retention time')
  t.ok(oldSecret.every((b) => b === 0), 'and its bytes overwritten')
  t.equal(saved.at(-1)?.retiredEncryptionKeys, undefined, 'the saved identity no longer has it')
})

t.test('the server takes a new encryption key only with a binding signature by the identity key', async (t) => {
  const app = await build(t)
  const alice = makeIdentity('alice')
  const { registerAndLogin } = await import('../helper.js')
  const { token } = await registerAndLogin(app, 'alice2')
  const fresh = makeIdentity('alice2')
  const put = (payload: object, auth = `Bearer ${token}`) => app.inject({ method: 'PUT', url: '/auth/keys/x25519', headers: { authorization: auth }, payload })
  const bad = await put({ x25519_public_key: fresh.x25519_public_key, x25519_key_signature: alice.sign(`sealwire/v1/x25519-key:alice2:${fresh.x25519_public_key}`) })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'invalid_key_signature')
  t.equal((await put({ x25519_public_key: fresh.x25519_public_key })).statusCode, 400, 'the signature is required')
  t.equal((await put({ x25519_public_key: Buffer.alloc(32).toString('base64'), x25519_key_signature: fresh.sign('x') })).json().code, 'invalid_key')
  t.equal((await put({}, 'Bearer nope')).statusCode, 401)
  t.equal((await app.inject({ method: 'PUT', url: '/auth/keys/ed25519' })).statusCode, 404, 'there is no way to replace the identity key')
})
