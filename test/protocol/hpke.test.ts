import { readFileSync } from 'node:fs'
import { Aes128Gcm, Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core'
import t, { type Test } from 'tap'
import { isValidX25519Key } from '../../services/users.js'
import { type AeadId, deriveKeyPair, HpkeError, openBase, sealBase, setupBaseR, setupBaseS } from '../../services/protocol/hpke.js'

interface Encryption { seq: number, aad: string, pt: string, nonce: string, ct: string }
interface Export { exporter_context: string, L: number, exported_value: string }
interface Vector {
  source?: string,
  kdf_id: number,
  aead_id: number,
  info: string,
  ikmE: string,
  ikmR: string,
  skEm: string,
  pkEm: string,
  skRm: string,
  pkRm: string,
  enc: string,
  encryptions: Encryption[],
  exports: Export[]
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/hpke-x25519-sha256-aes256gcm.json', import.meta.url), 'utf8')) as
  { vector: Vector, official_vectors_reproduced: Vector[] }

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const random = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n))
const randomLength = (max: number): number => Math.floor(Math.random() * (max + 1))

function checkVector (t: Test, v: Vector): void {
  const aeadId = v.aead_id as AeadId
  const e = deriveKeyPair(hex(v.ikmE))
  const r = deriveKeyPair(hex(v.ikmR))
  t.equal(toHex(e.secretKey), v.skEm, 'skEm')
  t.equal(toHex(e.publicKey), v.pkEm, 'pkEm')
  t.equal(toHex(r.secretKey), v.skRm, 'skRm')
  t.equal(toHex(r.publicKey), v.pkRm, 'pkRm')
  const { enc, context: sender } = setupBaseS(hex(v.pkRm), hex(v.info), { aeadId, ikmE: hex(v.ikmE) })
  t.equal(toHex(enc), v.enc, 'enc')
  const recipient = setupBaseR(enc, hex(v.skRm), hex(v.info), { aeadId })
  let seq = 0
  for (const step of [...v.encryptions].sort((a, b) => a.seq - b.seq)) {
    // the vectors skip sequence numbers: advance both contexts with throw-away messages
    for (; seq < step.seq; seq++) recipient.open(new Uint8Array(0), sender.seal(new Uint8Array(0), new Uint8Array(0)))
    const ct = sender.seal(hex(step.aad), hex(step.pt))
    t.equal(toHex(ct), step.ct, `seq ${step.seq}: ct`)
    t.equal(toHex(recipient.open(hex(step.aad), ct)), step.pt, `seq ${step.seq}: opens`)
    seq++
  }
  for (const x of v.exports) {
    t.equal(toHex(sender.export(hex(x.exporter_context), x.L)), x.exported_value, `export "${x.exporter_context}" (sender)`)
    t.equal(toHex(recipient.export(hex(x.exporter_context), x.L)), x.exported_value, `export "${x.exporter_context}" (recipient)`)
  }
}

t.test('RFC 9180 A.1.1 (official, AES-128-GCM)', async (t) => {
  const official = fixture.official_vectors_reproduced.filter((v) => v.kdf_id === 1)
  t.equal(official.length, 1, 'one official vector for our KDF (the other uses HKDF-SHA512, which we do not offer)')
  for (const v of official) {
    t.equal(v.aead_id, 1)
    t.equal(v.encryptions.length, 4)
    t.equal(v.exports.length, 3)
    checkVector(t, v)
  }
})

t.test('the suite vector (AES-256-GCM)', async (t) => {
  t.equal(fixture.vector.aead_id, 2)
  t.equal(fixture.vector.encryptions.length, 6)
  checkVector(t, fixture.vector)
})

t.test('AEAD 2 is the default', async (t) => {
  const v = fixture.vector
  const step = v.encryptions[0] as Encryption
  const { enc, ct } = sealBase(hex(v.pkRm), hex(v.info), hex(step.aad), hex(step.pt), { ikmE: hex(v.ikmE) })
  t.equal(toHex(ct), step.ct)
  t.equal(toHex(openBase(enc, hex(v.skRm), hex(v.info), hex(step.aad), ct)), step.pt)
})

const ORACLE_AEADS = { 1: new Aes128Gcm(), 2: new Aes256Gcm() }

function oracle (aeadId: AeadId): CipherSuite {
  return new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: ORACLE_AEADS[aeadId] })
}

for (const aeadId of [1, 2] as const) {
  t.test(`@hpke/core oracle, AEAD ${aeadId}: 50 round trips each way`, async (t) => {
    const suite = oracle(aeadId)
    let agreed = 0
    for (let i = 0; i < 50; i++) {
      const keys = deriveKeyPair(random(32))
      const info = random(randomLength(64))
      const aad = random(randomLength(64))
      const pt = random(randomLength(1024))
      const recipientKey = await suite.kem.deserializePrivateKey(keys.secretKey)
      const recipientPublicKey = await suite.kem.deserializePublicKey(keys.publicKey)

      const ours = sealBase(keys.publicKey, info, aad, pt, { aeadId })
      const opened = new Uint8Array(await suite.open({ recipientKey, enc: ours.enc, info }, ours.ct, aad))
      const theirs = await suite.seal({ recipientPublicKey, info }, pt, aad)
      const back = openBase(new Uint8Array(theirs.enc), keys.secretKey, info, aad, new Uint8Array(theirs.ct), { aeadId })
      if (Buffer.compare(opened, pt) === 0 && Buffer.compare(back, pt) === 0) agreed++
    }
    t.equal(agreed, 50)
  })
}

t.test('@hpke/core oracle: DeriveKeyPair, multi-message contexts and exports agree', async (t) => {
  const suite = oracle(2)
  for (let i = 0; i < 5; i++) {
    const ikm = random(32 + i)
    const ours = deriveKeyPair(ikm)
    const theirs = await suite.kem.deriveKeyPair(ikm)
    t.equal(toHex(new Uint8Array(await suite.kem.serializePrivateKey(theirs.privateKey))), toHex(ours.secretKey), `secret key ${i}`)
    t.equal(toHex(new Uint8Array(await suite.kem.serializePublicKey(theirs.publicKey))), toHex(ours.publicKey), `public key ${i}`)

    const info = random(20)
    const { enc, context } = setupBaseS(ours.publicKey, info)
    const recipient = await suite.createRecipientContext({ recipientKey: theirs, enc, info })
    for (let m = 0; m < 3; m++) {
      const pt = random(m * 10)
      const ct = context.seal(new Uint8Array([m]), pt)
      t.equal(toHex(new Uint8Array(await recipient.open(ct, new Uint8Array([m])))), toHex(pt), `message ${m}`)
    }
    const exporterContext = random(i)
    t.equal(toHex(context.export(exporterContext, 42)), toHex(new Uint8Array(await recipient.export(exporterContext, 42))), `export ${i}`)
  }
})

function flips (bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let i = 0; i < bytes.length; i++) {
    for (const bit of [0x01, 0x80]) {
      const copy = new Uint8Array(bytes)
      copy[i] = (copy[i] as number) ^ bit
      out.push(copy)
    }
  }
  return out
}

t.test('tampering with enc, ct, aad or info makes open fail with HpkeError', async (t) => {
  const keys = deriveKeyPair(random(32))
  const info = random(24)
  const aad = random(17)
  const pt = random(33)
  const { enc, ct } = sealBase(keys.publicKey, info, aad, pt)
  t.same(openBase(enc, keys.secretKey, info, aad, ct), pt)
  const expectFailure = (what: string, f: () => unknown): void => {
    try {
      f()
      t.fail(`${what}: opened`)
    } catch (err) {
      if (!(err instanceof HpkeError) || err.message !== 'hpke: cannot open') t.fail(`${what}: ${String(err)}`)
    }
  }
  // bit 255 of enc is ignored by X25519 itself; it still changes kem_context, so the flip must fail too
  for (const bad of flips(enc)) expectFailure('enc', () => openBase(bad, keys.secretKey, info, aad, ct))
  for (const bad of flips(ct)) expectFailure('ct', () => openBase(enc, keys.secretKey, info, aad, bad))
  for (const bad of flips(aad)) expectFailure('aad', () => openBase(enc, keys.secretKey, info, bad, ct))
  for (const bad of flips(info)) expectFailure('info', () => openBase(enc, keys.secretKey, bad, aad, ct))
  expectFailure('truncated ct', () => openBase(enc, keys.secretKey, info, aad, ct.subarray(0, ct.length - 1)))
  expectFailure('empty ct', () => openBase(enc, keys.secretKey, info, aad, new Uint8Array(0)))
  expectFailure('longer ct', () => openBase(enc, keys.secretKey, info, aad, new Uint8Array([...ct, 0])))
  expectFailure('short enc', () => openBase(enc.subarray(1), keys.secretKey, info, aad, ct))
  expectFailure('wrong secret key', () => openBase(enc, deriveKeyPair(random(32)).secretKey, info, aad, ct))
  expectFailure('short secret key', () => openBase(enc, keys.secretKey.subarray(1), info, aad, ct))
  expectFailure('other AEAD', () => openBase(enc, keys.secretKey, info, aad, ct, { aeadId: 1 }))
  t.pass(`${(enc.length + ct.length + aad.length + info.length) * 2} tampered inputs refused`)
})

t.test('a failed open does not move the sequence number; out-of-order opens fail', async (t) => {
  const keys = deriveKeyPair(random(32))
  const { enc, context } = setupBaseS(keys.publicKey, new Uint8Array(0))
  const first = context.seal(new Uint8Array(0), new Uint8Array([1]))
  const second = context.seal(new Uint8Array(0), new Uint8Array([2]))
  const recipient = setupBaseR(enc, keys.secretKey, new Uint8Array(0))
  t.throws(() => recipient.open(new Uint8Array(0), second), HpkeError, 'second before first')
  t.same(recipient.open(new Uint8Array(0), first), new Uint8Array([1]))
  t.same(recipient.open(new Uint8Array(0), second), new Uint8Array([2]))
  t.throws(() => recipient.open(new Uint8Array(0), second), HpkeError, 'a replay')
})

// Low-order X25519 u coordinates (RFC 7748 section 6.1, the libsodium blocklist) and their non-canonical twins.
const LOW_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000080',
  '0100000000000000000000000000000000000000000000000000000000000080',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff'
]

t.test('low-order recipient and ephemeral keys are refused with HpkeError', async (t) => {
  const keys = deriveKeyPair(random(32))
  for (const u of LOW_ORDER) {
    t.throws(() => setupBaseS(hex(u), new Uint8Array(0)), HpkeError, `recipient ${u.slice(0, 8)}…${u.slice(-2)}`)
    t.throws(() => setupBaseR(hex(u), keys.secretKey, new Uint8Array(0)), HpkeError, `ephemeral ${u.slice(0, 8)}…${u.slice(-2)}`)
  }
  t.throws(() => setupBaseS(new Uint8Array(31), new Uint8Array(0)), HpkeError, 'short recipient key')
})

t.test('the server refuses at registration exactly the keys that HPKE refuses', async (t) => {
  for (const u of LOW_ORDER) t.notOk(isValidX25519Key(hex(u)), `server refuses ${u.slice(0, 8)}…${u.slice(-2)}`)
  for (let i = 0; i < 20; i++) {
    const key = random(32)
    let hpke = true
    try {
      setupBaseS(key, new Uint8Array(0))
    } catch {
      hpke = false
    }
    t.equal(isValidX25519Key(key), hpke, `random u ${i}`)
  }
})

t.test('parameter checks', async (t) => {
  const keys = deriveKeyPair(random(32))
  const { context } = setupBaseS(keys.publicKey, new Uint8Array(0))
  t.equal(context.export(new Uint8Array(0), 0).length, 0)
  t.equal(context.export(new Uint8Array(0), 255 * 32).length, 255 * 32)
  t.throws(() => context.export(new Uint8Array(0), 255 * 32 + 1), HpkeError)
  t.throws(() => context.export(new Uint8Array(0), -1), HpkeError)
  t.throws(() => context.export(new Uint8Array(0), 1.5), HpkeError)
  t.throws(() => deriveKeyPair(random(31)), HpkeError, 'ikm shorter than 32 bytes')
  t.throws(() => setupBaseS(keys.publicKey, new Uint8Array(0), { aeadId: 3 as AeadId }), HpkeError, 'unknown AEAD')
  t.throws(() => setupBaseS(keys.publicKey, new Uint8Array(0), { ikmE: random(8) }), HpkeError, 'short ikmE')
  const a = sealBase(keys.publicKey, new Uint8Array(0), new Uint8Array(0), new Uint8Array(0))
  const b = sealBase(keys.publicKey, new Uint8Array(0), new Uint8Array(0), new Uint8Array(0))
  t.not(toHex(a.enc), toHex(b.enc), 'a fresh ephemeral key per seal')
  t.equal(a.ct.length, 16, 'the empty plaintext seals to a bare tag')
})
