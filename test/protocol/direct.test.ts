import { x25519 } from '@noble/curves/ed25519.js'
import fc from 'fast-check'
import t from 'tap'
import { fromBase64, toBase64 } from '../../services/protocol/base64.js'
import { DecryptError, openDirect, sealDirect, type SealedDirect } from '../../services/protocol/direct.js'
import { HpkeError, openBase } from '../../services/protocol/hpke.js'
import { directAad, LABELS } from '../../services/protocol/signing.js'

function keyPair (): { secretKey: Uint8Array, publicKey: Uint8Array } {
  const secretKey = x25519.utils.randomSecretKey()
  return { secretKey, publicKey: x25519.getPublicKey(secretKey) }
}

const alice = keyPair()
const bob = keyPair()
const route = { from: 'alice', to: 'bob', id: '3f1c9a2e-4b7d-4c1e-9f3a-2b8c7d6e5f40' }

function seal (plaintext: string): SealedDirect {
  return sealDirect({ ...route, plaintext, recipientKey: bob.publicKey, senderKey: alice.publicKey })
}

function asRecipient (s: SealedDirect, over: Partial<typeof route> = {}): string {
  return openDirect({ ...route, ...over, content: s.content, encryption_nonce: s.encryption_nonce, encryptedKey: s.encrypted_key, secretKey: bob.secretKey })
}

function asSender (s: SealedDirect): string {
  return openDirect({ ...route, content: s.content, encryption_nonce: s.encryption_nonce, encryptedKey: s.sender_encrypted_key as string, secretKey: alice.secretKey })
}

/** Flips one bit of the first, middle and last decoded byte of a base64 field. */
function tamperings (field: string): string[] {
  const bytes = fromBase64(field) as Uint8Array
  return [0, bytes.length >> 1, bytes.length - 1].map((i) => {
    const copy = new Uint8Array(bytes)
    copy[i] = (copy[i] as number) ^ 1
    return toBase64(copy)
  })
}

t.test('round trip for the recipient and for the sender copy', async (t) => {
  const sealed = seal('hello bob')
  t.equal(asRecipient(sealed), 'hello bob')
  t.equal(asSender(sealed), 'hello bob')
  t.equal(fromBase64(sealed.encrypted_key, 80)?.length, 80, 'encrypted_key is 80 bytes')
  t.equal(fromBase64(sealed.sender_encrypted_key as string, 80)?.length, 80, 'sender_encrypted_key is 80 bytes')
  t.equal(fromBase64(sealed.encryption_nonce, 12)?.length, 12, 'the nonce is 12 bytes')
  t.equal(fromBase64(sealed.content)?.length, 'hello bob'.length + 16, 'ciphertext then a 16-byte tag')
  t.not(sealed.encrypted_key, sealed.sender_encrypted_key)
  const other = seal('hello bob')
  t.not(other.content, sealed.content, 'a fresh key and nonce per message')
  t.not(other.encryption_nonce, sealed.encryption_nonce)
})

t.test('without senderKey there is no sender copy', async (t) => {
  const sealed = sealDirect({ ...route, plaintext: 'x', recipientKey: bob.publicKey })
  t.notOk('sender_encrypted_key' in sealed)
  t.equal(asRecipient(sealed), 'x')
})

t.test('the sealed key is HPKE mode_base with info "sealwire/v1/content-key" and the direct aad', async (t) => {
  const sealed = seal('layout')
  const raw = fromBase64(sealed.encrypted_key, 80) as Uint8Array
  const aad = new TextEncoder().encode(directAad(route.from, route.to, route.id))
  const info = new TextEncoder().encode(LABELS.contentKey)
  const key = openBase(raw.subarray(0, 32), bob.secretKey, info, aad, raw.subarray(32), { aeadId: 2 })
  t.equal(key.length, 32)
  const { gcm } = await import('@noble/ciphers/aes.js')
  const pt = gcm(key, fromBase64(sealed.encryption_nonce, 12) as Uint8Array, aad).decrypt(fromBase64(sealed.content) as Uint8Array)
  t.equal(new TextDecoder().decode(pt), 'layout')
})

t.test('unicode plaintexts', async (t) => {
  const texts = ['', 'caf\u00e9', '\ud83d\ude00\ud83d\udc4d\ud83c\udffd', '\u05e9\u05dc\u05d5\u05dd', '\u4e2d\u6587', '\ufeffBOM first', 'line\nbreak\u2028\u0000nul', 'x'.repeat(64 * 1024)]
  for (const text of texts) {
    const sealed = seal(text)
    t.equal(asRecipient(sealed), text, `${text.length} code units`)
    t.equal(asSender(sealed), text)
  }
  t.throws(() => seal('lone \ud800 surrogate'), TypeError, 'a lone surrogate cannot be sent as it would arrive altered')
})

t.test('tampering with any field or the route makes openDirect throw DecryptError', async (t) => {
  const sealed = seal('attack at dawn')
  const expectFailure = (what: string, f: () => unknown): void => {
    t.throws(f, DecryptError, what)
  }
  tamperings(sealed.content).forEach((content, i) => expectFailure(`content byte ${i}`, () => asRecipient({ ...sealed, content })))
  tamperings(sealed.encryption_nonce).forEach((nonce, i) => expectFailure(`nonce byte ${i}`, () => asRecipient({ ...sealed, encryption_nonce: nonce })))
  tamperings(sealed.encrypted_key).forEach((key, i) => expectFailure(`encrypted_key byte ${i}`, () => asRecipient({ ...sealed, encrypted_key: key })))
  tamperings(sealed.sender_encrypted_key as string).forEach((key, i) => expectFailure(`sender_encrypted_key byte ${i}`, () => asSender({ ...sealed, sender_encrypted_key: key })))
  for (const byte of [0, 31, 32, 50, 79]) {
    const raw = fromBase64(sealed.encrypted_key, 80) as Uint8Array
    raw[byte] = (raw[byte] as number) ^ 0x80
    expectFailure(`encrypted_key byte ${byte}, high bit`, () => asRecipient({ ...sealed, encrypted_key: toBase64(raw) }))
  }
  expectFailure('from', () => asRecipient(sealed, { from: 'mallory' }))
  expectFailure('to', () => asRecipient(sealed, { to: 'carol' }))
  expectFailure('id', () => asRecipient(sealed, { id: '3f1c9a2e-4b7d-4c1e-9f3a-2b8c7d6e5f41' }))
  expectFailure('from and to swapped', () => asRecipient(sealed, { from: 'bob', to: 'alice' }))
  expectFailure('colon shifted between from and to', () => asRecipient(sealed, { from: 'alice:bob', to: '' }))
  expectFailure('recipient using the sender copy', () => asRecipient({ ...sealed, encrypted_key: sealed.sender_encrypted_key as string }))
  expectFailure('content of another message', () => asRecipient({ ...sealed, content: seal('attack at dawn').content }))
  expectFailure('wrong secret key', () => openDirect({ ...route, content: sealed.content, encryption_nonce: sealed.encryption_nonce, encryptedKey: sealed.encrypted_key, secretKey: keyPair().secretKey }))
})

t.test('malformed fields throw DecryptError, never anything else', async (t) => {
  const sealed = seal('hi!') // 19 bytes of content: its base64 ends with "=="
  t.ok(sealed.content.endsWith('=='))
  const cases: [string, Partial<SealedDirect>][] = [
    ['content not base64', { content: 'not base64!' }],
    ['content without padding', { content: sealed.content.replace(/=+$/, '') }],
    ['content shorter than a tag', { content: toBase64(new Uint8Array(15)) }],
    ['empty content', { content: '' }],
    ['nonce of 11 bytes', { encryption_nonce: toBase64(new Uint8Array(11)) }],
    ['nonce of 16 bytes', { encryption_nonce: toBase64(new Uint8Array(16)) }],
    ['nonce with a url-alphabet "-"', { encryption_nonce: `-${sealed.encryption_nonce.slice(1)}` }],
    ['nonce with a url-alphabet "_"', { encryption_nonce: `_${sealed.encryption_nonce.slice(1)}` }],
    ['encrypted_key of 79 bytes', { encrypted_key: toBase64((fromBase64(sealed.encrypted_key) as Uint8Array).subarray(0, 79)) }],
    ['encrypted_key of 81 bytes', { encrypted_key: toBase64(new Uint8Array([...(fromBase64(sealed.encrypted_key) as Uint8Array), 0])) }],
    ['encrypted_key with a low-order enc', { encrypted_key: toBase64(new Uint8Array([...new Uint8Array(32), ...(fromBase64(sealed.encrypted_key) as Uint8Array).subarray(32)])) }],
    ['encrypted_key with whitespace', { encrypted_key: ` ${sealed.encrypted_key}` }]
  ]
  for (const [name, change] of cases) t.throws(() => asRecipient({ ...sealed, ...change }), DecryptError, name)
  t.throws(() => openDirect({ ...route, content: sealed.content, encryption_nonce: sealed.encryption_nonce, encryptedKey: sealed.encrypted_key, secretKey: new Uint8Array(31) }), DecryptError, 'short secret key')
})

t.test('sealing to an unusable X25519 key throws HpkeError', async (t) => {
  t.throws(() => sealDirect({ ...route, plaintext: 'x', recipientKey: new Uint8Array(32) }), HpkeError, 'low-order recipient')
  t.throws(() => sealDirect({ ...route, plaintext: 'x', recipientKey: bob.publicKey, senderKey: new Uint8Array(31) }), HpkeError, 'short sender key')
})

t.test('property: sealDirect/openDirect round trip', async (t) => {
  const userId = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$/)
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), userId, userId, fc.uuid(), (plaintext, from, to, id) => {
    const sealed = sealDirect({ from, to, id, plaintext, recipientKey: bob.publicKey, senderKey: alice.publicKey })
    const common = { from, to, id, content: sealed.content, encryption_nonce: sealed.encryption_nonce }
    return openDirect({ ...common, encryptedKey: sealed.encrypted_key, secretKey: bob.secretKey }) === plaintext &&
      openDirect({ ...common, encryptedKey: sealed.sender_encrypted_key as string, secretKey: alice.secretKey }) === plaintext
  }), { numRuns: 50 })
  t.pass('round trips')
})
