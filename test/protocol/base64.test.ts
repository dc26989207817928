import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import t from 'tap'
import { fromBase64, toBase64, utf8Decode, utf8Encode } from '../../services/protocol/base64.js'

const nodeB64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')

t.test('round trips and Buffer equivalence for every length 0..300', async (t) => {
  for (let n = 0; n <= 300; n++) {
    const bytes = new Uint8Array(randomBytes(n))
    const text = toBase64(bytes)
    if (text !== nodeB64(bytes)) t.fail(`length ${n}: encodes like Buffer`)
    const back = fromBase64(text, n)
    if (back === undefined || Buffer.compare(back, bytes) !== 0) t.fail(`length ${n}: round trip`)
    if (fromBase64(text) === undefined) t.fail(`length ${n}: decodes without a length`)
  }
  t.pass('301 lengths')
  t.equal(toBase64(new Uint8Array(0)), '')
  t.same(fromBase64(''), new Uint8Array(0))
  t.same(fromBase64('', 0), new Uint8Array(0))
})

t.test('encodes subarrays by their own bytes, not the whole buffer', async (t) => {
  const whole = new Uint8Array([1, 2, 3, 4, 5, 6, 7])
  t.equal(toBase64(whole.subarray(2, 5)), nodeB64(new Uint8Array([3, 4, 5])))
})

t.test('refusals', async (t) => {
  const key = nodeB64(new Uint8Array(32).fill(0xff))
  t.ok(fromBase64(key, 32))
  const cases: [string, string, number | undefined][] = [
    ['url alphabet _', key.replaceAll('/', '_'), 32],
    ['url alphabet -', nodeB64(new Uint8Array(3).fill(0xfb)).replaceAll('+', '-'), 3],
    ['missing padding', key.slice(0, -1), 32],
    ['missing padding, no length', 'AAA', undefined],
    ['missing double padding', 'AA', undefined],
    ['extra padding', 'AA===', undefined],
    ['padding only', '====', undefined],
    ['padding inside', 'AA=A', undefined],
    ['padding in the first quad', 'AA==AAAA', undefined],
    ['three padding characters', 'A===', undefined],
    ['non-zero trailing bits (1 byte)', 'AB==', undefined],
    ['non-zero trailing bits (2 bytes)', 'AAB=', undefined],
    ['non-zero trailing bits, 32 bytes', 'q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6t=', 32],
    ['space', 'AAAA AAA', undefined],
    ['leading whitespace', ' AAAA', undefined],
    ['trailing newline', 'AAAA\n', undefined],
    ['line break inside', 'AAAA\nAAAA', undefined],
    ['tab', 'AA\tA', undefined],
    ['non-ASCII letter', 'AAÀA', undefined],
    ['a character whose low byte is "A"', 'AA\u0141A', undefined],
    ['NUL', 'AA\u0000A', undefined],
    ['wrong length (31)', key, 31],
    ['wrong length (33)', key, 33],
    ['wrong length (0)', key, 0],
    ['non-integer length', 'AAAA', 2.5]
  ]
  for (const [name, text, length] of cases) t.equal(fromBase64(text, length), undefined, name)
  t.ok(fromBase64('q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=', 32), 'the canonical twin decodes')
  t.equal(fromBase64(42 as unknown as string), undefined, 'not a string')
})

t.test('non-canonical trailing bits: every non-zero value is refused', async (t) => {
  for (const n of [1, 2, 4, 5, 31, 32]) {
    const text = nodeB64(new Uint8Array(randomBytes(n)))
    const pad = text.length - text.replace(/=+$/, '').length
    const last = text.length - pad - 1
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
    const mask = pad === 2 ? 15 : 3
    const base = alphabet.indexOf(text[last] as string) & ~mask
    for (let extra = 1; extra <= mask; extra++) {
      const bad = text.slice(0, last) + alphabet[base | extra] + text.slice(last + 1)
      if (fromBase64(bad) !== undefined || fromBase64(bad, n) !== undefined) t.fail(`${n} bytes, trailing bits ${extra}`)
      // Buffer is lax about them: strictness is ours
      if (Buffer.from(bad, 'base64').length !== n) t.fail('Buffer still decodes it')
    }
  }
  t.pass('refused')
})

t.test('64 KiB decodes quickly', async (t) => {
  const bytes = new Uint8Array(randomBytes(64 * 1024))
  const text = nodeB64(bytes)
  const start = performance.now()
  for (let i = 0; i < 50; i++) fromBase64(text)
  const perCall = (performance.now() - start) / 50
  t.ok(perCall < 20, `${perCall.toFixed(2)} ms per 64 KiB decode`)
  t.equal(Buffer.compare(fromBase64(text) ?? new Uint8Array(0), bytes), 0)
  t.equal(toBase64(bytes), text)
})

t.test('property: round trip and equivalence with Buffer', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
    const text = toBase64(bytes)
    const back = fromBase64(text, bytes.length)
    return text === nodeB64(bytes) && back !== undefined && Buffer.compare(back, bytes) === 0
  }), { numRuns: 100 })
  const chars = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', '=', '=', '=', '-', '_', ' ']
  fc.assert(fc.property(fc.string({ unit: fc.constantFrom(...chars), maxLength: 12 }), (text) => {
    // whatever we accept, Buffer decodes to the same bytes and re-encodes to the same text
    const ours = fromBase64(text)
    return ours === undefined || (nodeB64(ours) === text && Buffer.compare(Buffer.from(text, 'base64'), ours) === 0)
  }), { numRuns: 100 })
  t.pass('properties hold')
})

t.test('UTF-8', async (t) => {
  const text = 'h\u00e9llo \u20ac \ud83d\ude00 \u0000 \u2028'
  t.same(utf8Encode(text), new Uint8Array(Buffer.from(text, 'utf8')))
  t.equal(utf8Decode(utf8Encode(text)), text)
  t.equal(utf8Decode(utf8Encode('\ufeffBOM kept')), '\ufeffBOM kept', 'a leading BOM survives')
  t.throws(() => utf8Decode(new Uint8Array([0xc3])), TypeError, 'truncated sequence')
  t.throws(() => utf8Decode(new Uint8Array([0xff])), TypeError, 'invalid byte')
  t.throws(() => utf8Decode(new Uint8Array([0xc0, 0x80])), TypeError, 'overlong NUL')
  t.throws(() => utf8Decode(new Uint8Array([0xed, 0xa0, 0x80])), TypeError, 'encoded surrogate')
  t.throws(() => utf8Encode('a\ud800b'), TypeError, 'lone high surrogate')
  t.throws(() => utf8Encode('\udc00'), TypeError, 'lone low surrogate')
})
