// The SDK against a hostile server: key rollback, expired keys, trust states. Real keys, a real store file.
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createNodeClient, FileStore, generateIdentity, KeyChangedError, SealwireError, type Identity, type SealwireClient } from '../../client/node.js'
import { openDirect } from '../../services/protocol/direct.js'
import { tempDir } from '../helper.js'
import { fakeServer, newX25519Secret, userRecord, type FakeServer } from './hostile-server.js'

function client (t: Test, fake: FakeServer, identity: Identity, storePath: string): SealwireClient {
  const c = createNodeClient({ serverUrl: fake.url, identity, store: new FileStore(storePath), reconnect: false })
  t.teardown(() => c.close())
  return c
}

const directsFrom = (fake: FakeServer, user: string): number => fake.frames.filter((f) => f.user === user && f.frame.header.message_type === 'direct').length

t.test('a rolled-back, re-keyed or expired encryption key with a valid binding is refused, and nothing is sent', async (t) => {
  const fake = await fakeServer(t)
  const store = join(tempDir(t), 'alice.store.json')
  const alice = generateIdentity('alice')
  const bob = generateIdentity('bob')
  const old = newX25519Secret()
  const current = newX25519Secret()
  fake.users.set('bob', userRecord(bob, { secretKey: current, epoch: 2 }))
  const first = client(t, fake, alice, store)
  await first.connect()
  const sent = await first.sendDirect('bob', 'to epoch 2')
  const frame = await fake.nextFrame((f) => f.frame.header.id === sent.id)
  const h = frame.frame.header as Record<string, string>
  t.equal(openDirect({ from: 'alice', to: 'bob', id: sent.id, content: String(frame.frame.body?.content), encryption_nonce: h.encryption_nonce as string, encryptedKey: h.encrypted_key as string, secretKey: current }), 'to epoch 2')
  t.same(await first.trust('bob'), { state: 'unverified', publicKey: userRecord(bob, { secretKey: current, epoch: 2 }).public_key, epoch: 2 })
  first.close()

  const offers: Array<[string, ReturnType<typeof userRecord>, string]> = [
    ['an older key at its older epoch, with its own valid binding', userRecord(bob, { secretKey: old, epoch: 1 }), 'key_rollback'],
    ['an older key bound the v1 way (epoch 0)', userRecord(bob, { secretKey: old, epoch: 0 }), 'key_rollback'],
    ['another key at the pinned epoch', userRecord(bob, { secretKey: old, epoch: 2 }), 'key_rollback'],
    ['a newer epoch that has expired', userRecord(bob, { secretKey: old, epoch: 3, expiresAt: new Date(Date.now() - 1000).toISOString() }), 'key_expired']
  ]
  for (const [name, record, code] of offers) {
    fake.users.set('bob', record)
    // a new instance on the same store file: the record of epoch 2 survived the restart
    const again = client(t, fake, alice, store)
    const errors: SealwireError[] = []
    again.on('error', (e) => { errors.push(e) })
    await again.connect()
    const before = directsFrom(fake, 'alice')
    await t.rejects(again.sendDirect('bob', 'must not go out'), { code }, name)
    t.same(errors.map((e) => e.code), [code], `${name}: emitted as an error the app can show`)
    t.equal(directsFrom(fake, 'alice'), before, `${name}: nothing sent`)
    again.close()
  }

  const newer = newX25519Secret()
  fake.users.set('bob', userRecord(bob, { secretKey: newer, epoch: 5 }))
  const later = client(t, fake, alice, store)
  await later.connect()
  await later.sendDirect('bob', 'to epoch 5')
  t.equal((await later.trust('bob'))?.epoch, 5, 'a higher epoch is taken and recorded')
})

t.test('trust states: a safety number pins nothing; verified; a changed key needs consent before anything is sent', async (t) => {
  const fake = await fakeServer(t)
  const storePath = join(tempDir(t), 'alice.store.json')
  const alice = generateIdentity('alice')
  const carol = generateIdentity('carol')
  fake.users.set('carol', userRecord(carol, { secretKey: newX25519Secret(), epoch: 1 }))
  const c = client(t, fake, alice, storePath)
  await c.connect()

  const number = await c.safetyNumber('carol')
  t.equal(await c.trust('carol'), undefined, 'asking for the safety number pinned nothing')
  await t.rejects(c.markVerified('carol', '00000 '.repeat(12).trim()), { code: 'safety_number_mismatch' })
  t.equal(await c.trust('carol'), undefined)
  await c.sendDirect('carol', 'first contact')
  t.equal((await c.trust('carol'))?.state, 'unverified', 'pinned on first use')
  t.equal((await c.markVerified('carol', number)).state, 'verified')
  t.equal((await client(t, fake, alice, storePath).trust('carol'))?.state, 'verified', 'the trust state is durable')

  const impostor = generateIdentity('carol')
  fake.users.set('carol', userRecord(impostor, { secretKey: newX25519Secret(), epoch: 9 }))
  const fresh = client(t, fake, alice, storePath)
  const changes: KeyChangedError[] = []
  fresh.on('key-changed', (e) => { changes.push(e) })
  await fresh.connect()
  const before = directsFrom(fake, 'alice')
  const err = await fresh.sendDirect('carol', 'to the new key').catch((e: unknown) => e)
  t.ok(err instanceof KeyChangedError)
  await t.rejects(fresh.sendDirect('carol', 'again'), KeyChangedError, 'still refused until accepted')
  await t.rejects(fresh.markVerified('carol'), KeyChangedError, 'a changed key cannot be marked verified')
  t.equal(directsFrom(fake, 'alice'), before, 'nothing was sent to the new key')
  t.equal(changes.length, 3, 'each refusal is also a key-changed event')
  t.equal((await fresh.trust('carol'))?.state, 'verified', 'the old pin stands')

  const presented = (err as KeyChangedError).presentedKey
  t.same(await fresh.acceptKeyChange('carol', presented), { state: 'unverified', publicKey: presented, epoch: 0 })
  await fresh.sendDirect('carol', 'after consent')
  t.equal(directsFrom(fake, 'alice'), before + 1)
  t.same(await fresh.trust('carol'), { state: 'unverified', publicKey: presented, epoch: 9 })
})
