// The worked example of docs/protocol.md, recomputed here with the real code (SDK signing, server checks, HPKE,
// canonical JSON). Every value the document shows must appear in it verbatim, so the document cannot drift.
import { readFileSync } from 'node:fs'
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core'
import { gcm } from '@noble/ciphers/aes.js'
import { ed25519, x25519 } from '@noble/curves/ed25519.js'
import { expand, extract } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { concatBytes } from '@noble/hashes/utils.js'
import t from 'tap'
import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { publicKeys, signEnvelope, signLogin, type Identity } from '../../client/identity.js'
import { safetyNumber } from '../../client/safety.js'
import { RegisterBody } from '../../schemas/auth.js'
import { CLIENT_FRAMES, FRAME_ERROR_CODES, SERVER_FRAMES, type Envelope } from '../../schemas/frames.js'
import { Ed25519Verifier } from '../../services/ed25519.js'
import { checkEnvelope } from '../../services/hub/checks.js'
import { CLOSE } from '../../services/hub/connection.js'
import { storedText, withMeta } from '../../services/hub/server-frames.js'
import { fromBase64, toBase64, utf8Encode } from '../../services/protocol/base64.js'
import { canonicalJson } from '../../services/protocol/canonical-json.js'
import { openDirect } from '../../services/protocol/direct.js'
import { deriveKeyPair, sealBase } from '../../services/protocol/hpke.js'
import { verifyStrict } from '../../services/protocol/signature.js'
import { directAad, LABELS, loginSigningInput, messageSigningInput, x25519KeyBindingSigningInput, x25519KeySigningInput } from '../../services/protocol/signing.js'
import { TokenBuckets } from '../../services/token-bucket.js'

const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8')

/** `length` bytes counting up from `start`: inputs anyone can type in. */
const run = (start: number, length: number): Uint8Array => Uint8Array.from({ length }, (_, i) => (start + i) & 0xff)
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')
/** Hex as the document prints it: 32 bytes a line. */
const hexBlock = (bytes: Uint8Array): string => (hex(bytes).match(/.{1,64}/g) ?? []).join('\n')
const bytesOf = (b64: string): Uint8Array => fromBase64(b64) as Uint8Array
const ascii = (s: string): Uint8Array => utf8Encode(s)

const alice: Identity = { userId: 'alice', username: 'Alice', identitySecretKey: run(0x00, 32), encryptionSecretKey: run(0x20, 32) }
const bob: Identity = { userId: 'bob', username: 'Bob', identitySecretKey: run(0x40, 32), encryptionSecretKey: run(0x60, 32) }
const aliceKeys = publicKeys(alice)
const bobKeys = publicKeys(bob)

const CHALLENGE = toBase64(run(0xf0, 32))
const ID = '7d5e9c1a-3b2f-4e8d-9a6c-0f1e2d3c4b5a'
const TIMESTAMP = '2026-11-25T10:30:00.000Z'
const RECEIVED_AT = '2026-11-25T10:30:00.250Z'
const PLAINTEXT = 'Hello Bob 👋 lunch at 12:30?'
const CONTENT_KEY = run(0x80, 32)
const NONCE = run(0xa0, 12)
const IKM_E_RECIPIENT = run(0xb0, 32)
const IKM_E_SENDER = run(0xd0, 32)

// ---- RFC 9180 intermediate values, for readers debugging their HPKE; checked against the real sealBase below ----
const HPKE_V1 = ascii('HPKE-v1')
const KEM_SUITE = concatBytes(ascii('KEM'), Uint8Array.of(0x00, 0x20))
const HPKE_SUITE = concatBytes(ascii('HPKE'), Uint8Array.of(0x00, 0x20, 0x00, 0x01, 0x00, 0x02))
const labeledExtract = (suite: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array): Uint8Array =>
  extract(sha256, concatBytes(HPKE_V1, suite, ascii(label), ikm), salt)
const labeledExpand = (suite: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, length: number): Uint8Array =>
  expand(sha256, prk, concatBytes(Uint8Array.of(0, length), HPKE_V1, suite, ascii(label), info), length)
const EMPTY = new Uint8Array(0)

function hpkeSteps (ikmE: Uint8Array, pkR: Uint8Array, info: Uint8Array) {
  const ephemeral = deriveKeyPair(ikmE)
  const dh = x25519.getSharedSecret(ephemeral.secretKey, pkR)
  const sharedSecret = labeledExpand(KEM_SUITE, labeledExtract(KEM_SUITE, EMPTY, 'eae_prk', dh), 'shared_secret', concatBytes(ephemeral.publicKey, pkR), 32)
  const context = concatBytes(Uint8Array.of(0), labeledExtract(HPKE_SUITE, EMPTY, 'psk_id_hash', EMPTY), labeledExtract(HPKE_SUITE, EMPTY, 'info_hash', info))
  const secret = labeledExtract(HPKE_SUITE, sharedSecret, 'secret', EMPTY)
  return { ephemeral, dh, sharedSecret, key: labeledExpand(HPKE_SUITE, secret, 'key', context, 32), baseNonce: labeledExpand(HPKE_SUITE, secret, 'base_nonce', context, 12) }
}

// ---- the direct message, step by step as services/protocol/direct.ts does it, with fixed randomness ----
const aad = ascii(directAad('alice', 'bob', ID))
const info = ascii(LABELS.contentKey)
const content = toBase64(gcm(CONTENT_KEY, NONCE, aad).encrypt(ascii(PLAINTEXT)))
const toBob = sealBase(bytesOf(bobKeys.x25519_public_key), info, aad, CONTENT_KEY, { aeadId: 2, ikmE: IKM_E_RECIPIENT })
const toAlice = sealBase(bytesOf(aliceKeys.x25519_public_key), info, aad, CONTENT_KEY, { aeadId: 2, ikmE: IKM_E_SENDER })
const steps = hpkeSteps(IKM_E_RECIPIENT, bytesOf(bobKeys.x25519_public_key), info)
const directHeader = {
  id: ID,
  from: 'alice',
  to: 'bob',
  message_type: 'direct',
  timestamp: TIMESTAMP,
  encrypted_key: toBase64(concatBytes(toBob.enc, toBob.ct)),
  encryption_nonce: toBase64(NONCE),
  sender_encrypted_key: toBase64(concatBytes(toAlice.enc, toAlice.ct))
}
const dm = signEnvelope(alice, directHeader, { content })
const dmInput = messageSigningInput(directHeader, { content })

// ---- a broadcast with an extra signed field and text that JSON must escape; a server command ----
const BROADCAST_ID = '0c4f8e2a-6d1b-4a7e-b3c9-5e2f1a0d9c8b'
const broadcastHeader = { id: BROADCAST_ID, from: 'alice', to: '*', message_type: 'broadcast', timestamp: TIMESTAMP, client: 'example/1.0' }
const broadcastBody = { content: 'Deploy "v2" at 18:00 — café\nthanks ✨' }
const broadcast = signEnvelope(alice, broadcastHeader, broadcastBody)
const broadcastInput = messageSigningInput(broadcastHeader, broadcastBody)

const COMMAND_ID = '5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d'
const commandHeader = { id: COMMAND_ID, from: 'alice', to: 'server', message_type: 'server', timestamp: TIMESTAMP }
const commandBody = { content: JSON.stringify({ command: 'echo', params: { n: 1 } }) }
const command = signEnvelope(alice, commandHeader, commandBody)
const commandInput = messageSigningInput(commandHeader, commandBody)

const bindingInput = x25519KeySigningInput('alice', aliceKeys.x25519_public_key)
// the ordered form of the same key (3.4), as the SDK registers it: epoch 1, expiring 14 days later
const KEY_EXPIRES_AT = '2026-12-09T10:29:00.000Z'
const orderedInput = x25519KeyBindingSigningInput({ userId: 'alice', x25519PublicKey: aliceKeys.x25519_public_key, epoch: 1, expiresAt: KEY_EXPIRES_AT })
const orderedSignature = toBase64(ed25519.sign(utf8Encode(orderedInput), alice.identitySecretKey))
// bob refuses the direct message (6.7): a reject signed like an envelope
const rejectHeader = { id: ID, from: 'bob', to: 'alice', message_type: 'reject', timestamp: '2026-11-25T10:30:01.000Z' }
const rejectBody = { reason: 'decrypt_failed' }
const rejectInput = messageSigningInput(rejectHeader, rejectBody)
const rejectSigned = signEnvelope(bob, rejectHeader, rejectBody)
const loginInput = loginSigningInput('alice', CHALLENGE)

/** Every value the document shows, by name. */
const shown: Array<[string, string]> = [
  ['alice identity seed', hex(alice.identitySecretKey)],
  ['alice x25519 secret', hex(alice.encryptionSecretKey)],
  ['bob identity seed', hex(bob.identitySecretKey)],
  ['bob x25519 secret', hex(bob.encryptionSecretKey)],
  ['alice public_key', aliceKeys.public_key],
  ['alice x25519_public_key', aliceKeys.x25519_public_key],
  ['bob public_key', bobKeys.public_key],
  ['bob x25519_public_key', bobKeys.x25519_public_key],
  ['bob x25519_key_signature', bobKeys.x25519_key_signature],
  ['alice key binding input', bindingInput],
  ['alice key binding input hex', hexBlock(ascii(bindingInput))],
  ['alice x25519_key_signature', aliceKeys.x25519_key_signature],
  ['ordered binding input', orderedInput],
  ['ordered binding input hex', hexBlock(ascii(orderedInput))],
  ['ordered binding signature', orderedSignature],
  ['reject input', rejectInput],
  ['reject frame', JSON.stringify(rejectSigned)],
  ['alice registration body', JSON.stringify({ user_id: 'alice', username: 'Alice', ...aliceKeys }, null, 2)],
  ['challenge', CHALLENGE],
  ['login input', loginInput],
  ['login input hex', hexBlock(ascii(loginInput))],
  ['login signature', signLogin(alice, CHALLENGE)],
  ['safety number', safetyNumber({ userId: 'alice', publicKey: aliceKeys.public_key }, { userId: 'bob', publicKey: bobKeys.public_key })],
  ['plaintext hex', hex(ascii(PLAINTEXT))],
  ['aad', directAad('alice', 'bob', ID)],
  ['aad hex', hexBlock(aad)],
  ['info hex', hex(info)],
  ['content key', hex(CONTENT_KEY)],
  ['nonce', hex(NONCE)],
  ['encryption_nonce', directHeader.encryption_nonce],
  ['content', content],
  ['ikmE to bob', hex(IKM_E_RECIPIENT)],
  ['skE', hex(steps.ephemeral.secretKey)],
  ['enc', hex(toBob.enc)],
  ['dh', hex(steps.dh)],
  ['shared_secret', hex(steps.sharedSecret)],
  ['hpke key', hex(steps.key)],
  ['hpke base_nonce', hex(steps.baseNonce)],
  ['hpke ct', hex(toBob.ct)],
  ['encrypted_key', directHeader.encrypted_key],
  ['ikmE to alice', hex(IKM_E_SENDER)],
  ['sender_encrypted_key', directHeader.sender_encrypted_key],
  ['direct canonical JSON', canonicalJson({ header: directHeader, body: { content } })],
  ['direct signing input hex', hexBlock(ascii(dmInput))],
  ['direct signature', dm.header.signature],
  ['direct envelope', JSON.stringify(dm, null, 2)],
  ['direct as delivered', withMeta(storedText(dm as unknown as Envelope), RECEIVED_AT)],
  ['ack', JSON.stringify({ header: { message_type: 'ack', in_reply_to: ID }, body: { from: 'alice' } })],
  ['broadcast canonical JSON', canonicalJson({ header: broadcastHeader, body: broadcastBody })],
  ['broadcast signing input hex', hexBlock(ascii(broadcastInput))],
  ['broadcast signature', broadcast.header.signature],
  ['broadcast envelope', JSON.stringify(broadcast)],
  ['command canonical JSON', canonicalJson({ header: commandHeader, body: commandBody })],
  ['command signing input hex', hexBlock(ascii(commandInput))],
  ['command signature', command.header.signature],
  ['command envelope', JSON.stringify(command)]
]

t.test('the document shows every value of the worked example exactly as the code computes it', async (t) => {
  for (const [name, value] of shown) t.ok(doc.includes(value), `${name}:\n${value}`)
})

t.test('the intermediate HPKE values are those of the real sealBase', async (t) => {
  t.equal(hex(toBob.enc), hex(steps.ephemeral.publicKey), 'enc is the ephemeral public key derived from ikmE')
  t.equal(hex(gcm(steps.key, steps.baseNonce, aad).encrypt(CONTENT_KEY)), hex(toBob.ct), 'ct is AES-256-GCM(key, base_nonce, aad, K)')
  t.equal(fromBase64(directHeader.encrypted_key, 80)?.length, 80)
})

t.test('an independent HPKE implementation opens the sealed content keys', async (t) => {
  const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() })
  for (const [who, sealed, secret] of [['bob', toBob, bob.encryptionSecretKey], ['alice', toAlice, alice.encryptionSecretKey]] as const) {
    const key = await suite.kem.deserializePrivateKey(secret)
    const opened = new Uint8Array(await suite.open({ recipientKey: key, enc: sealed.enc, info }, sealed.ct, aad))
    t.equal(hex(opened), hex(CONTENT_KEY), `${who}'s copy opens to K`)
  }
})

t.test('the example message opens with the SDK code, for the recipient and for the sender', async (t) => {
  const fields = { from: 'alice', to: 'bob', id: ID, content, encryption_nonce: directHeader.encryption_nonce }
  t.equal(openDirect({ ...fields, encryptedKey: directHeader.encrypted_key, secretKey: bob.encryptionSecretKey }), PLAINTEXT)
  t.equal(openDirect({ ...fields, encryptedKey: directHeader.sender_encrypted_key, secretKey: alice.encryptionSecretKey }), PLAINTEXT)
})

t.test('the server (OpenSSL) and the SDK (noble) both verify every example signature', async (t) => {
  const verifier = new Ed25519Verifier()
  const signed: Array<[string, string, string, string]> = [
    ['key binding', aliceKeys.public_key, bindingInput, aliceKeys.x25519_key_signature],
    ['login', aliceKeys.public_key, loginInput, signLogin(alice, CHALLENGE)],
    ['direct', aliceKeys.public_key, dmInput, dm.header.signature],
    ['broadcast', aliceKeys.public_key, broadcastInput, broadcast.header.signature],
    ['command', aliceKeys.public_key, commandInput, command.header.signature],
    ['bob key binding', bobKeys.public_key, x25519KeySigningInput('bob', bobKeys.x25519_public_key), bobKeys.x25519_key_signature],
    ['ordered key binding', aliceKeys.public_key, orderedInput, orderedSignature],
    ['reject', bobKeys.public_key, rejectInput, rejectSigned.header.signature]
  ]
  for (const [name, key, input, signature] of signed) {
    t.ok(verifier.verify(key, input, signature), `${name}: OpenSSL`)
    t.ok(verifyStrict(bytesOf(key), ascii(input), bytesOf(signature)), `${name}: noble`)
  }
  t.ok(Compile(RegisterBody).Check({ user_id: 'alice', username: 'Alice', ...aliceKeys }), 'the registration body fits its schema')
})

t.test('the server\'s accept path takes the example envelopes at their time', async (t) => {
  const options = {
    verifier: new Ed25519Verifier(),
    buckets: new TokenBuckets(5, 10),
    clockSkewMs: 300_000,
    allowPlaintextDirect: false,
    now: () => Date.parse(RECEIVED_AT)
  }
  const user = { user_id: 'alice', public_key: aliceKeys.public_key }
  for (const envelope of [dm, broadcast, command]) {
    const checked = checkEnvelope(user, JSON.parse(JSON.stringify(envelope)), options)
    t.notOk('code' in checked, `${envelope.header.message_type}: ${JSON.stringify(checked).slice(0, 120)}`)
  }
  const late = checkEnvelope(user, JSON.parse(JSON.stringify(dm)), { ...options, now: () => Date.parse(TIMESTAMP) + 300_001 })
  t.match(late, { code: 'clock_skew' }, 'a minute past the window it is refused')
})

t.test('every JSON frame the document shows fits the schema of its message_type', async (t) => {
  const blocks = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1] as string)
  let frames = 0
  for (const text of blocks) {
    let value: unknown
    t.doesNotThrow(() => { value = JSON.parse(text) }, `a json block parses: ${text.slice(0, 60)}`)
    const header = (value as { header?: { message_type?: unknown } } | undefined)?.header
    const type = header?.message_type
    if (typeof type !== 'string') continue
    frames++
    const fromServer = (value as { meta?: unknown }).meta !== undefined || !Object.hasOwn(CLIENT_FRAMES, type)
    const schemas: Record<string, TSchema> = fromServer ? SERVER_FRAMES : CLIENT_FRAMES
    const schema = schemas[type]
    t.ok(schema !== undefined && Compile(schema).Check(value), `a ${fromServer ? 'server' : 'client'} ${type} frame fits its schema: ${text.slice(0, 80)}`)
  }
  t.ok(frames >= 10, `the document shows frames (${frames})`)
})

t.test('the document names every label, frame error code and close code', async (t) => {
  for (const label of Object.values(LABELS)) t.ok(doc.includes(`"${label}"`), label)
  for (const code of FRAME_ERROR_CODES) t.ok(doc.includes(`\`${code}\``), code)
  for (const code of Object.values(CLOSE)) t.ok(doc.includes(`| ${code} |`), `close code ${code}`)
})
