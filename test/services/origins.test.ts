import t from 'tap'
import { originAllowed } from '../../services/origins.js'

const table: Array<[origin: string | undefined, allowed: string[], expected: boolean, why: string]> = [
  [undefined, ['https://chat.example'], true, 'no Origin: not a browser, cannot be driven cross-site'],
  ['https://evil.example', [], true, 'ALLOWED_ORIGINS empty: any origin'],
  ['https://evil.example', ['*'], true, '`*` allows any'],
  ['https://evil.example', ['https://chat.example', '*'], true, '`*` among others allows any'],
  ['https://chat.example', ['https://chat.example'], true, 'a listed origin'],
  ['https://chat.example', ['https://other.example', 'https://chat.example'], true, 'any listed origin'],
  ['https://evil.example', ['https://chat.example'], false, 'an unlisted origin'],
  ['http://chat.example', ['https://chat.example'], false, 'another scheme is another origin'],
  ['https://chat.example:8443', ['https://chat.example'], false, 'another port is another origin'],
  ['https://chat.example.evil.example', ['https://chat.example'], false, 'no prefix matching'],
  ['null', ['https://chat.example'], false, 'an opaque origin (sandboxed frame, file://)'],
  ['', ['https://chat.example'], false, 'an empty Origin header']
]

for (const [origin, allowed, expected, why] of table) {
  t.equal(originAllowed(origin, allowed), expected, why)
}
