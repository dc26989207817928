import { createPrivateKey, sign } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { ed25519 } from '@noble/curves/ed25519.js'
import t from 'tap'
import { Ed25519Verifier, isCanonicalScalar, isValidIdentityKey } from '../../services/ed25519.js'
import { mixedOrderKey, nonCanonicalS, SMALL_ORDER_KEYS, torsionR } from '../crafted-signatures.js'

interface Vector { name: string, secret_key: string, public_key: string, message: string, signature: string }
const { vectors } = JSON.parse(readFileSync(new URL('../fixtures/ed25519-rfc8032.json', import.meta.url), 'utf8')) as { vectors: Vector[] }
const hex = (s: string): Buffer => Buffer.from(s, 'hex')
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')
const PKCS8_PREFIX = hex('302e020100300506032b657004220420')

t.test('RFC 8032 vectors verify, and node:crypto signs them byte for byte', async (t) => {
  t.ok(vectors.length >= 4)
  const verifier = new Ed25519Verifier()
  for (const v of vectors) {
    const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, hex(v.secret_key)]), format: 'der', type: 'pkcs8' })
    t.equal(sign(null, hex(v.message), key).toString('hex'), v.signature, `${v.name}: signature`)
    t.ok(verifier.verify(b64(hex(v.public_key)), hex(v.message), b64(hex(v.signature))), `${v.name}: verifies`)
    const tampered = hex(v.signature)
    tampered[5] = (tampered[5] as number) ^ 1
    t.notOk(verifier.verify(b64(hex(v.public_key)), hex(v.message), b64(tampered)), `${v.name}: a flipped bit fails`)
    t.notOk(verifier.verify(b64(hex(v.public_key)), Buffer.concat([hex(v.message), Buffer.from([0])]), b64(hex(v.signature))), `${v.name}: another message fails`)
  }
  t.equal(verifier.cachedKeys, vectors.length, 'one KeyObject per key')
})

t.test('strictness: non-canonical S, small-order and mixed-order keys, torsion in R', async (t) => {
  const verifier = new Ed25519Verifier()
  const secret = ed25519.utils.randomSecretKey()
  const publicKey = ed25519.getPublicKey(secret)
  const message = new TextEncoder().encode('sealwire/v1/message:{}')
  const good = ed25519.sign(message, secret)
  t.ok(verifier.verify(b64(publicKey), message, b64(good)))

  const highS = nonCanonicalS(good)
  t.notOk(isCanonicalScalar(highS))
  t.ok(isCanonicalScalar(good))
  t.notOk(verifier.verify(b64(publicKey), message, b64(highS)), 'S + L refused')

  for (const key of SMALL_ORDER_KEYS) {
    t.notOk(isValidIdentityKey(key), `small-order key ${Buffer.from(key).toString('hex').slice(0, 8)}… refused`)
    t.notOk(verifier.verify(b64(key), message, b64(good)))
  }
  const mixed = mixedOrderKey(publicKey)
  t.notOk(isValidIdentityKey(mixed), 'mixed-order key refused')
  t.ok(isValidIdentityKey(publicKey))

  const crafted = torsionR(secret, message)
  t.ok(ed25519.verify(crafted, message, publicKey, { zip215: true }), 'the crafted signature passes a cofactored ZIP-215 check')
  t.notOk(verifier.verify(b64(publicKey), message, b64(crafted)), 'but the server refuses it')
})

t.test('malformed input is refused, never thrown', async (t) => {
  const verifier = new Ed25519Verifier()
  const secret = ed25519.utils.randomSecretKey()
  const pk = b64(ed25519.getPublicKey(secret))
  const sig = b64(ed25519.sign(new Uint8Array([1]), secret))
  t.notOk(verifier.verify(pk, new Uint8Array([1]), sig.slice(0, -2)), 'short signature')
  t.notOk(verifier.verify(pk.slice(0, -1), new Uint8Array([1]), sig), 'bad key base64')
  t.notOk(verifier.verify('', new Uint8Array([1]), sig))
  t.notOk(verifier.verify(b64(new Uint8Array(32).fill(0xff)), new Uint8Array([1]), sig), 'not a point')
  t.equal(verifier.keyObject(b64(new Uint8Array(32).fill(0xff))), undefined)
})

t.test('the key cache is bounded', async (t) => {
  const verifier = new Ed25519Verifier(3)
  for (let i = 0; i < 5; i++) verifier.keyObject(b64(ed25519.getPublicKey(ed25519.utils.randomSecretKey())))
  t.equal(verifier.cachedKeys, 3)
})
