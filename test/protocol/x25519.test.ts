import { readFileSync } from 'node:fs'
import { x25519 } from '@noble/curves/ed25519.js'
import t from 'tap'

interface Rfc7748 {
  section_5_2: { scalar: string, u: string, output: string }[]
  section_5_2_iterated: { start_k: string, start_u: string, after_1: string, after_1000: string }
  section_6_1?: { alice_private: string, alice_public: string, bob_private: string, bob_public: string, shared_secret: string }
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/x25519-rfc7748.json', import.meta.url), 'utf8')) as Rfc7748
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

t.test('RFC 7748 section 5.2 vectors', async (t) => {
  t.equal(fixture.section_5_2.length, 2)
  for (const v of fixture.section_5_2) t.equal(toHex(x25519.scalarMult(hex(v.scalar), hex(v.u))), v.output)
})

t.test('RFC 7748 section 5.2 iterated: 1 and 1,000 iterations', async (t) => {
  const it = fixture.section_5_2_iterated
  let k = hex(it.start_k)
  let u = hex(it.start_u)
  for (let i = 1; i <= 1000; i++) {
    const next = x25519.scalarMult(k, u)
    u = k
    k = next
    if (i === 1) t.equal(toHex(k), it.after_1, 'after 1')
  }
  t.equal(toHex(k), it.after_1000, 'after 1,000')
})

t.test('RFC 7748 section 6.1 Diffie-Hellman', { skip: fixture.section_6_1 === undefined }, async (t) => {
  const v = fixture.section_6_1
  if (v === undefined) return
  t.equal(toHex(x25519.getPublicKey(hex(v.alice_private))), v.alice_public)
  t.equal(toHex(x25519.getPublicKey(hex(v.bob_private))), v.bob_public)
  t.equal(toHex(x25519.getSharedSecret(hex(v.alice_private), hex(v.bob_public))), v.shared_secret)
  t.equal(toHex(x25519.getSharedSecret(hex(v.bob_private), hex(v.alice_public))), v.shared_secret)
})
