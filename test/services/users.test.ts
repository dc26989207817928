import { x25519 } from '@noble/curves/ed25519.js'
import t from 'tap'
import { isValidX25519Key } from '../../services/users.js'

// the low-order points of Curve25519 and their non-canonical encodings (as listed for RFC 7748 checks)
const LOW_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'
]

t.test('X25519 keys: low-order points refused, real keys accepted', async (t) => {
  for (const hex of LOW_ORDER) t.notOk(isValidX25519Key(Buffer.from(hex, 'hex')), `${hex.slice(0, 8)}… refused`)
  for (let i = 0; i < 20; i++) t.ok(isValidX25519Key(x25519.getPublicKey(x25519.utils.randomSecretKey())))
  t.notOk(isValidX25519Key(new Uint8Array(31)), 'wrong length')
})
