import { readFileSync } from 'node:fs'
import { ed25519 } from '@noble/curves/ed25519.js'
import { sha512 } from '@noble/hashes/sha2.js'
import t from 'tap'
import { Ed25519Verifier, isValidIdentityKey as serverIsValidIdentityKey } from '../../services/ed25519.js'
import { isValidIdentityKey, sign, verifyStrict } from '../../services/protocol/signature.js'
import {
  IDENTITY_ENCODINGS, identityKeySignature, mixedOrderKey, mixedOrderKeySignature, nonCanonicalPointEncodings,
  nonCanonicalS, signatureWithR, SMALL_ORDER_KEYS, smallOrderR, torsionR
} from '../crafted-signatures.js'

interface Vector { name: string, secret_key: string, public_key: string, message: string, signature: string }
const { vectors } = JSON.parse(readFileSync(new URL('../fixtures/ed25519-rfc8032.json', import.meta.url), 'utf8')) as { vectors: Vector[] }
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const le = (b: Uint8Array): bigint => BigInt(`0x${Buffer.from(b).reverse().toString('hex')}`)

interface Case { name: string, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, expected: boolean }

t.test('RFC 8032: every vector signs byte for byte and verifies strictly', async (t) => {
  t.ok(vectors.length >= 4)
  for (const v of vectors) {
    const signature = sign(hex(v.secret_key), hex(v.message))
    t.equal(Buffer.from(signature).toString('hex'), v.signature, `${v.name}: signature`)
    t.equal(Buffer.from(ed25519.getPublicKey(hex(v.secret_key))).toString('hex'), v.public_key, `${v.name}: public key`)
    t.ok(verifyStrict(hex(v.public_key), hex(v.message), signature), `${v.name}: verifies`)
    t.ok(isValidIdentityKey(hex(v.public_key)), `${v.name}: a valid identity key`)
  }
})

t.test('services/ed25519.ts re-exports the one isValidIdentityKey', async (t) => {
  t.equal(serverIsValidIdentityKey, isValidIdentityKey)
})

t.test('sign refuses a secret key of the wrong length', async (t) => {
  t.throws(() => sign(new Uint8Array(31), new Uint8Array(0)), TypeError)
  t.throws(() => sign(new Uint8Array(64), new Uint8Array(0)), TypeError)
})

function craftedCases (): Case[] {
  const secret = ed25519.utils.randomSecretKey()
  const publicKey = ed25519.getPublicKey(secret)
  const message = utf8('sealwire/v1/message:{"body":{},"header":{}}')
  const good = sign(secret, message)
  const cases: Case[] = [
    { name: 'valid', publicKey, message, signature: good, expected: true },
    { name: 'valid, empty message', publicKey, message: new Uint8Array(0), signature: sign(secret, new Uint8Array(0)), expected: true },
    { name: 'wrong message', publicKey, message: utf8('sealwire/v1/message:{}'), signature: good, expected: false },
    { name: 'message with one more byte', publicKey, message: new Uint8Array([...message, 0]), signature: good, expected: false },
    { name: 'another key', publicKey: ed25519.getPublicKey(ed25519.utils.randomSecretKey()), message, signature: good, expected: false },
    { name: 'S + L (non-canonical S)', publicKey, message, signature: nonCanonicalS(good), expected: false },
    { name: 'S all ones', publicKey, message, signature: new Uint8Array([...good.subarray(0, 32), ...new Uint8Array(32).fill(0xff)]), expected: false },
    { name: 'S = L exactly', publicKey, message, signature: new Uint8Array([...good.subarray(0, 32), ...nonCanonicalS(new Uint8Array(64)).subarray(32)]), expected: false },
    { name: 'R with a torsion component', publicKey, message, signature: torsionR(secret, message), expected: false },
    { name: 'R a pure point of order 8', publicKey, message, signature: smallOrderR(secret, message), expected: false },
    { name: 'mixed-order public key (A + T8)', publicKey: mixedOrderKey(publicKey), message, signature: good, expected: false },
    { name: 'all-zero signature', publicKey, message, signature: new Uint8Array(64), expected: false }
  ]
  for (const { name, bytes } of IDENTITY_ENCODINGS) {
    // the identity is the one small-order R of the prime-order subgroup: canonical, it is a valid signature
    cases.push({ name: `R = identity, ${name}`, publicKey, message, signature: signatureWithR(secret, message, bytes), expected: name === 'canonical' })
  }
  const mixed = mixedOrderKeySignature(secret, message)
  cases.push({ name: 'mixed-order key, signature valid under both equations', ...mixed, message, expected: false })
  const identity = identityKeySignature()
  cases.push({ name: 'identity public key, signature valid under both equations', ...identity, message, expected: false })
  SMALL_ORDER_KEYS.forEach((key, i) => {
    cases.push({ name: `small-order key ${i}`, publicKey: key, message, signature: good, expected: false })
    cases.push({ name: `small-order key ${i}, crafted R = sB`, publicKey: key, message, signature: identityKeySignature(BigInt(i + 7)).signature, expected: false })
  })
  nonCanonicalPointEncodings().forEach((key, i) => {
    cases.push({ name: `non-canonical public key encoding ${i}`, publicKey: key, message, signature: good, expected: false })
    cases.push({ name: `non-canonical R encoding ${i}`, publicKey, message, signature: new Uint8Array([...key, ...good.subarray(32)]), expected: false })
  })
  const flipped = new Uint8Array(good)
  for (const i of [0, 31, 32, 63]) {
    const tampered = new Uint8Array(good)
    tampered[i] = (tampered[i] as number) ^ 1
    cases.push({ name: `bit flipped in byte ${i}`, publicKey, message, signature: tampered, expected: false })
  }
  flipped[31] = (flipped[31] as number) ^ 0x80
  cases.push({ name: 'sign bit of R flipped', publicKey, message, signature: flipped, expected: false })
  return cases
}

function randomCases (count: number): Case[] {
  const cases: Case[] = []
  for (let i = 0; i < count; i++) {
    const secret = ed25519.utils.randomSecretKey()
    const publicKey = ed25519.getPublicKey(secret)
    const message = crypto.getRandomValues(new Uint8Array(i * 7))
    cases.push({ name: `random key ${i}, valid`, publicKey, message, signature: sign(secret, message), expected: true })
    cases.push({ name: `random key ${i}, garbage signature`, publicKey, message, signature: crypto.getRandomValues(new Uint8Array(64)), expected: false })
    const garbageKey = crypto.getRandomValues(new Uint8Array(32))
    cases.push({ name: `garbage key ${i}`, publicKey: garbageKey, message, signature: sign(secret, message), expected: false })
  }
  return cases
}

t.test('verifier agreement: noble verifyStrict and the server OpenSSL verifier give the same answer', async (t) => {
  const server = new Ed25519Verifier()
  const cases = [...craftedCases(), ...randomCases(20)]
  for (const c of cases) {
    const client = verifyStrict(c.publicKey, c.message, c.signature)
    const openssl = server.verify(b64(c.publicKey), c.message, b64(c.signature))
    t.equal(client, c.expected, `${c.name}: noble says ${String(c.expected)}`)
    t.equal(openssl, client, `${c.name}: OpenSSL agrees`)
  }
})

t.test('the crafted cases are real: lax verifiers accept what strict ones refuse', async (t) => {
  const secret = ed25519.utils.randomSecretKey()
  const publicKey = ed25519.getPublicKey(secret)
  const message = utf8('hello')
  const lax = (pk: Uint8Array, sig: Uint8Array): boolean => ed25519.verify(sig, message, pk, { zip215: true })
  t.ok(lax(publicKey, torsionR(secret, message)), 'torsion R')
  t.ok(lax(publicKey, smallOrderR(secret, message)), 'pure order-8 R')
  for (const { name, bytes } of IDENTITY_ENCODINGS) t.ok(lax(publicKey, signatureWithR(secret, message, bytes)), `identity R, ${name}`)
  const mixed = mixedOrderKeySignature(secret, message)
  t.ok(lax(mixed.publicKey, mixed.signature), 'mixed-order key')
  const { n } = ed25519.Point.CURVE()
  const R = mixed.signature.subarray(0, 32)
  const k = le(sha512(new Uint8Array([...R, ...mixed.publicKey, ...message]))) % n
  const SB = ed25519.Point.BASE.multiply(le(mixed.signature.subarray(32)))
  t.ok(SB.equals(ed25519.Point.fromBytes(R).add(ed25519.Point.fromBytes(mixed.publicKey).multiply(k))),
    'the mixed-order signature satisfies the cofactorless equation too')
  const identity = identityKeySignature()
  t.ok(lax(identity.publicKey, identity.signature), 'identity key')
  t.ok(nonCanonicalPointEncodings().length >= 2, 'some y >= p encodings decode under ZIP-215')
})

t.test('verifyStrict never throws', async (t) => {
  const secret = ed25519.utils.randomSecretKey()
  const publicKey = ed25519.getPublicKey(secret)
  const signature = sign(secret, new Uint8Array([1]))
  t.equal(verifyStrict(publicKey.subarray(0, 31), new Uint8Array([1]), signature), false, 'short key')
  t.equal(verifyStrict(publicKey, new Uint8Array([1]), signature.subarray(0, 63)), false, 'short signature')
  t.equal(verifyStrict(new Uint8Array(32).fill(0xff), new Uint8Array([1]), signature), false, 'not a point')
  t.equal(verifyStrict(null as unknown as Uint8Array, new Uint8Array([1]), signature), false, 'null key')
  t.equal(verifyStrict(publicKey, 'text' as unknown as Uint8Array, signature), false, 'message not bytes')
  t.equal(verifyStrict(publicKey, new Uint8Array([1]), [...signature] as unknown as Uint8Array), false, 'signature not bytes')
  t.equal(verifyStrict(publicKey, new Uint8Array([1]), signature), true, 'and the honest one still verifies')
})
