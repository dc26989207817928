import t from 'tap'
import { base64Pattern } from '../../schemas/common.js'
import { fromBase64 as decodeBase64, toBase64 as encodeBase64 } from '../../services/protocol/base64.js'

t.test('strict base64 decoding', async (t) => {
  const key = Buffer.alloc(32, 0xab).toString('base64')
  const decoded = decodeBase64(key, 32)
  t.ok(decoded instanceof Uint8Array, 'a Uint8Array (Buffer-free, shared with the client)')
  t.same(Buffer.from(decoded ?? []), Buffer.alloc(32, 0xab))
  t.equal(decodeBase64(key, 31), undefined, 'wrong decoded length')
  t.equal(decodeBase64(key.slice(0, -1), 32), undefined, 'missing padding')
  const slashy = Buffer.alloc(32, 0xff).toString('base64')
  t.ok(decodeBase64(slashy, 32))
  t.equal(decodeBase64(slashy.replaceAll('/', '_'), 32), undefined, 'url alphabet')
  t.equal(decodeBase64('q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=', 32)?.length, 32)
  t.equal(decodeBase64('q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6t=', 32), undefined, 'non-zero trailing bits')
  t.equal(decodeBase64('-_-_', undefined), undefined, 'url-safe alphabet')
  t.equal(decodeBase64('AAAA AAAA'), undefined, 'whitespace')
  t.equal(decodeBase64('AA=A'), undefined, 'padding inside')
  t.equal(decodeBase64('')?.length, 0)
})

t.test('base64Pattern admits exactly the canonical text of n bytes', async (t) => {
  for (const n of [1, 2, 3, 12, 32, 64, 80]) {
    const re = new RegExp(base64Pattern(n))
    for (let i = 0; i < 50; i++) {
      const bytes = Buffer.from(Array.from({ length: n }, () => Math.floor(Math.random() * 256)))
      t.ok(re.test(bytes.toString('base64')), `${n} random bytes`)
    }
    t.notOk(re.test(Buffer.alloc(n + 1).toString('base64')), `${n + 1} bytes refused`)
    const text = Buffer.alloc(n, 0xff).toString('base64')
    const padded = text.replace(/=+$/, '')
    if (padded.length !== text.length) {
      // flip the last data character to one with non-zero unused bits
      const bad = padded.slice(0, -1) + '/' + text.slice(padded.length)
      t.notOk(re.test(bad), `${n} bytes with non-zero trailing bits refused`)
      t.equal(decodeBase64(bad, n), undefined)
    }
  }
})

t.test('encodeBase64 is the standard encoding', async (t) => {
  const bytes = Buffer.from([0, 1, 2, 250, 251, 252, 253, 254, 255])
  t.equal(encodeBase64(bytes), bytes.toString('base64'))
  t.equal(encodeBase64(bytes.subarray(1, 3)), bytes.subarray(1, 3).toString('base64'), 'a view encodes its own bytes')
})
