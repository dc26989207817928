// Rotation of the SDK's own X25519 key against a scripted server: the secret is saved before the key is
// published, a failed publication publishes the same key next time, and retired keys go on the client's clock.
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { x25519 } from '@noble/curves/ed25519.js'
import t, { type Test } from 'tap'
import { createNodeClient, generateIdentity, MemoryStore, readKeyFile, writeKeyFile, type DirectMessage, type Identity, type SealwireClient } from '../../client/node.js'
import { fromBase64, toBase64, utf8Encode } from '../../services/protocol/base64.js'
import { verifyStrict } from '../../services/protocol/signature.js'
import { x25519KeyBindingSigningInput } from '../../services/protocol/signing.js'
import type { PeerUser } from '../../client/api.js'
import { tempDir } from '../helper.js'
import { direct, fakeServer, newX25519Secret, userRecord, type FakeServer } from './hostile-server.js'

/** A client whose identity lives in a key file, saved on every `identity-changed`, as the CLI does it. */
function fromKeyFile (t: Test, fake: FakeServer, path: string, options: { retiredKeyRetentionMs?: number } = {}): SealwireClient {
  const c = createNodeClient({ serverUrl: fake.url, identity: readKeyFile(path), store: new MemoryStore(), reconnect: false, ...options })
  c.on('identity-changed', (identity) => writeKeyFile(path, identity, { overwrite: true }))
  t.teardown(() => c.close())
  return c
}

const publicOf = (secret: Uint8Array): string => toBase64(x25519.getPublicKey(secret))

function bindingVerifies (identity: Identity, body: Record<string, unknown>): boolean {
  const input = x25519KeyBindingSigningInput({ userId: identity.userId, x25519PublicKey: String(body.x25519_public_key), epoch: Number(body.x25519_key_epoch), expiresAt: String(body.x25519_key_expires_at) })
  return verifyStrict(fromBase64(String(body.public_key), 32) as Uint8Array, utf8Encode(input), fromBase64(String(body.x25519_key_signature), 64) as Uint8Array)
}

t.test('registration binds the key at epoch 1 with an expiry, under the ordered label', async (t) => {
  const server = await fakeServer(t)
  const path = join(tempDir(t), 'alice.json')
  writeKeyFile(path, generateIdentity('alice'))
  const alice = fromKeyFile(t, server, path)
  await alice.register()
  const body = server.registered[0] as Record<string, unknown>
  t.equal(body.x25519_key_epoch, 1)
  const expires = Date.parse(String(body.x25519_key_expires_at))
  t.ok(Math.abs(expires - (Date.now() + 14 * 86_400_000)) < 60_000, 'two rotation intervals away')
  t.ok(bindingVerifies(alice.identity, body), 'the binding verifies under sealwire/v1/x25519-key-binding:')
  t.equal(readKeyFile(path).encryptionKeyEpoch, 1, 'the epoch is saved with the identity')
  t.equal(statSync(path).mode & 0o777, 0o600)
})

t.test('a failed PUT leaves the saved key pending, and the next try (after a restart) publishes that same key', async (t) => {
  const server = await fakeServer(t)
  const path = join(tempDir(t), 'bob.json')
  const identity = generateIdentity('bob')
  identity.encryptionKeyEpoch = 1
  identity.encryptionKeyExpiresAt = new Date(Date.now() + 86_400_000).toISOString()
  writeKeyFile(path, identity)
  let fail = true
  server.onPut = () => fail ? { status: 503, json: { code: 'unavailable', message: 'down' } } : undefined
  const bob = fromKeyFile(t, server, path)
  await t.rejects(bob.rotateEncryptionKey(), { code: 'unavailable' })
  const saved = readKeyFile(path)
  t.ok(saved.pendingEncryptionKey !== undefined, 'the new secret was saved before the PUT')
  t.equal(saved.pendingEncryptionKey?.epoch, 2)
  t.equal(server.puts[0]?.x25519_public_key, publicOf(saved.pendingEncryptionKey?.secretKey as Uint8Array), 'the PUT carried the saved key')
  t.equal(toBase64(saved.encryptionSecretKey), toBase64(identity.encryptionSecretKey), 'the current key is still the old one')

  // the process ends; a new one starts from the key file and tries again
  bob.close()
  fail = false
  const again = fromKeyFile(t, server, path)
  await again.rotateEncryptionKey()
  t.equal(server.puts.length, 2)
  t.equal(server.puts[1]?.x25519_public_key, server.puts[0]?.x25519_public_key, 'the same key, not a second one')
  t.equal(server.puts[1]?.x25519_key_epoch, 2)
  const after = readKeyFile(path)
  t.equal(after.pendingEncryptionKey, undefined)
  t.equal(after.encryptionKeyEpoch, 2)
  t.equal(publicOf(after.encryptionSecretKey), server.puts[1]?.x25519_public_key, 'the published key is the saved current key')
  t.equal(after.retiredEncryptionKeys?.length, 1, 'the old key is kept, retired')

  // a message sealed to the published key is read by a client that starts from the file
  const reader = fromKeyFile(t, server, path)
  const got: DirectMessage[] = []
  const carol = generateIdentity('carol')
  server.users.set('carol', userRecord(carol, { secretKey: newX25519Secret(), epoch: 1 }))
  const shown = new Promise<void>((resolve) => reader.on('message', (m) => { got.push(m); resolve() }))
  await reader.connect()
  await server.push('bob', direct(carol, 'bob', fromBase64(String(server.puts[1]?.x25519_public_key), 32) as Uint8Array, 'to the new key'))
  await shown
  t.same(got.map((m) => m.text), ['to the new key'])
})

t.test('a crash before the new secret is saved publishes nothing', async (t) => {
  const server = await fakeServer(t)
  const path = join(tempDir(t), 'dave.json')
  writeKeyFile(path, generateIdentity('dave'))
  const before = readKeyFile(path)
  const dave = createNodeClient({ serverUrl: server.url, identity: readKeyFile(path), store: new MemoryStore(), reconnect: false })
  t.teardown(() => dave.close())
  dave.on('identity-changed', () => { throw new Error('the disk is gone (the process dies here)') })
  await t.rejects(dave.rotateEncryptionKey(), /disk is gone/)
  t.equal(server.puts.length, 0, 'no key was published')
  const after = readKeyFile(path)
  t.equal(after.pendingEncryptionKey, undefined)
  t.equal(toBase64(after.encryptionSecretKey), toBase64(before.encryptionSecretKey), 'the file still has the key the server has')

  const unsaved = createNodeClient({ serverUrl: server.url, identity: generateIdentity('erin'), store: new MemoryStore(), reconnect: false })
  t.teardown(() => unsaved.close())
  await t.rejects(unsaved.rotateEncryptionKey(), { code: 'identity_not_saved' }, 'no rotation without a way to save the key')
  t.equal(server.puts.length, 0)
})

t.test('a PUT whose answer was lost is recognised on the next try (stale_key_epoch with our key)', async (t) => {
  const server = await fakeServer(t)
  const path = join(tempDir(t), 'fay.json')
  writeKeyFile(path, generateIdentity('fay'))
  server.users.set('fay', { user_id: 'fay', username: 'fay', public_key: '', x25519_public_key: '', x25519_key_signature: null, created_at: new Date().toISOString(), x25519_key_epoch: 0, x25519_key_expires_at: null })
  let calls = 0
  server.onPut = (body, user) => {
    calls++
    if (calls === 1) {
      server.users.set(user, { ...server.users.get(user), ...body } as unknown as PeerUser)
      return { status: 502, json: { code: 'bad_gateway', message: 'the answer was lost' } }
    }
    return { status: 409, json: { code: 'stale_key_epoch', message: 'the key epoch must grow' } }
  }
  const fay = fromKeyFile(t, server, path)
  await t.rejects(fay.rotateEncryptionKey(), { code: 'bad_gateway' })
  await fay.rotateEncryptionKey()
  const saved = readKeyFile(path)
  t.equal(saved.pendingEncryptionKey, undefined, 'published after all')
  t.equal(saved.encryptionKeyEpoch, 1)
  t.equal(publicOf(saved.encryptionSecretKey), server.puts[0]?.x25519_public_key)
})

t.test('retired keys are erased on the client\'s schedule, whatever the server says about its queue', async (t) => {
  const server = await fakeServer(t)
  server.pending = 1
  const path = join(tempDir(t), 'gus.json')
  writeKeyFile(path, generateIdentity('gus'))
  const keep = fromKeyFile(t, server, path, { retiredKeyRetentionMs: 3_600_000 })
  await keep.rotateEncryptionKey()
  t.equal(await keep.eraseRetiredKeys(), 0, 'kept for the retention time')
  keep.close()
  const gus = fromKeyFile(t, server, path, { retiredKeyRetentionMs: 0 })
  const retired = gus.identity.retiredEncryptionKeys?.[0]?.secretKey as Uint8Array
  t.equal(await gus.eraseRetiredKeys(), 1, 'erased although the server reports a pending message')
  t.ok(retired.every((b) => b === 0), 'its bytes overwritten')
  t.equal(readKeyFile(path).retiredEncryptionKeys, undefined, 'and gone from the saved identity')
})
