import { spawnSync } from 'node:child_process'
import t from 'tap'
import { CanonicalJsonError, canonicalJson } from '../../services/protocol/canonical-json.js'

// RFC 8785 section 3.2.3: keys sorted by UTF-16 code units.
const RFC8785_SORTING = {
  '\u20ac': 'Euro Sign',
  '\r': 'Carriage Return',
  דּ: 'Hebrew Letter Dalet With Dagesh',
  1: 'One',
  '\ud83d\ude00': 'Emoji: Grinning Face',
  '\u0080': 'Control',
  ö: 'Latin Small Letter O With Diaeresis'
}

/** Python's json.dumps(obj, sort_keys=True, separators=(',', ':'), ensure_ascii=False), as UTF-8 hex. */
function pythonDumps (values: unknown[]): string[] {
  const script = [
    'import json, sys',
    'values = json.loads(sys.stdin.buffer.read().decode("utf-8"))',
    'out = [json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8").hex() for v in values]',
    'sys.stdout.write(json.dumps(out))'
  ].join('\n')
  const run = spawnSync('python3', ['-c', script], { input: JSON.stringify(values), encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`python3 failed: ${run.error?.message ?? run.stderr}`)
  return JSON.parse(run.stdout) as string[]
}

const utf8Hex = (s: string): string => Buffer.from(s, 'utf8').toString('hex')

t.test('RFC 8785 key order (UTF-16 code units)', async (t) => {
  const text = canonicalJson(RFC8785_SORTING)
  const keys = Object.keys(JSON.parse(text) as object)
  // JSON.parse puts the integer-like key "1" first again; compare the text instead
  t.equal(keys.length, 7)
  t.equal(text,
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
    '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}')
})

t.test('string escaping is exactly JSON.stringify', async (t) => {
  let all = ''
  for (let c = 0; c < 0x80; c++) all += String.fromCharCode(c)
  const samples = [all, '\u2028\u2029', '\u007f\u0080\u009f', '"\\/', '\ud83d\ude00', '\ufeff', '\uffff', 'a\u0000b']
  samples.forEach((s, i) => t.equal(canonicalJson(s), JSON.stringify(s), `sample ${i}`))
  t.equal(canonicalJson({ [all]: all }), `{${JSON.stringify(all)}:${JSON.stringify(all)}}`, 'keys are escaped the same way')
})

t.test('nested objects are sorted at every level, whitespace never appears', async (t) => {
  const envelope = {
    header: { to: 'bob', from: 'alice', id: 'x', message_type: 'direct', extra: { z: '1', a: { c: 'd', b: 'e' } } },
    body: { content: 'hi there' }
  }
  t.equal(canonicalJson(envelope),
    '{"body":{"content":"hi there"},"header":{"extra":{"a":{"b":"e","c":"d"},"z":"1"},"from":"alice","id":"x","message_type":"direct","to":"bob"}}')
  t.equal(canonicalJson({}), '{}')
  t.equal(canonicalJson({ a: {} }), '{"a":{}}')
  t.equal(canonicalJson({ b: undefined, a: 'x' }), '{"a":"x"}', 'undefined members are left out, as JSON.stringify does')
})

t.test('lone surrogates are refused, in values and in keys', async (t) => {
  for (const bad of ['\ud800', 'a\udc00', '\ud83d', '\ude00\ud83d', 'x\ud800\ud800\udc00']) {
    const name = [...bad].map((c) => (c.codePointAt(0) as number).toString(16)).join(' ')
    t.throws(() => canonicalJson(bad), CanonicalJsonError, `value ${name}`)
    t.throws(() => canonicalJson({ [bad]: 'v' }), CanonicalJsonError, `key ${name}`)
    t.throws(() => canonicalJson({ a: { b: bad } }), CanonicalJsonError, 'nested value')
  }
  t.doesNotThrow(() => canonicalJson('\ud83d\ude00\ud83d\ude00'), 'pairs are fine')
})

t.test('depth is bounded', async (t) => {
  let deep: Record<string, unknown> = {}
  for (let i = 0; i < 40; i++) deep = { a: deep }
  t.throws(() => canonicalJson(deep), CanonicalJsonError)
})

t.test('the same bytes as Python json.dumps(sort_keys=True, separators, ensure_ascii=False)', async (t) => {
  let control = ''
  for (let c = 0; c < 0x20; c++) control += String.fromCharCode(c)
  const cases: unknown[] = [
    { header: { to: 'bob', from: 'alice', id: '3f1c', message_type: 'direct', timestamp: '2026-11-25T10:30:00.000Z' }, body: { content: 'q6ur+/==' } },
    { b: { d: 'x', c: 'y' }, a: 'caf\u00e9 \u20ac \ud83d\ude00 \u2028 \u007f', A: '"quoted" \\ back/slash' },
    { control, é: 'e acute', e: 'e', е: 'cyrillic', 中: 'cjk', '\ud83d\ude00': 'astral after every BMP key below U+D800' },
    { '': 'empty key', ' ': 'space', '\u007f': 'del', nested: { deeper: { deepest: {} } } },
    { t: true, f: false, n: null, list: ['b', 'a', { y: '1', x: '2' }] }
  ]
  const python = pythonDumps(cases)
  cases.forEach((value, i) => t.equal(utf8Hex(canonicalJson(value)), python[i], `case ${i}`))
})

t.test('Python orders keys by code point, not by UTF-16 unit: it differs from JCS for astral vs U+E000..U+FFFF keys', async (t) => {
  // PROTOCOL.md's "Python gives the same bytes" holds only while no object mixes such keys.
  const [python] = pythonDumps([RFC8785_SORTING])
  t.not(utf8Hex(canonicalJson(RFC8785_SORTING)), python)
  const { דּ: _dropped, ...withoutHebrew } = RFC8785_SORTING
  const [same] = pythonDumps([withoutHebrew])
  t.equal(utf8Hex(canonicalJson(withoutHebrew)), same, 'without the U+FB33 key they agree')
})
