// Strict RFC 4648 base64 and UTF-8 helpers, free of Buffer and node: imports so that browsers run them too.

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const PAD = 0x3d // '='
const ENCODE = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0))
const DECODE = new Int8Array(128).fill(-1)
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i

const ASCII = new TextDecoder()
const UTF8_ENCODER = new TextEncoder()
// ignoreBOM keeps a leading U+FEFF in the text instead of silently dropping it
const UTF8_DECODER = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** The 6-bit value of a base64 character code, or -1 when it is not in the standard alphabet. */
function sextet (code: number): number {
  return code < 128 ? DECODE[code] as number : -1
}

export function toBase64 (bytes: Uint8Array): string {
  const n = bytes.length
  const out = new Uint8Array(Math.ceil(n / 3) * 4)
  const full = n - (n % 3)
  let o = 0
  for (let i = 0; i < full; i += 3) {
    const v = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number)
    out[o++] = ENCODE[v >>> 18] as number
    out[o++] = ENCODE[(v >>> 12) & 63] as number
    out[o++] = ENCODE[(v >>> 6) & 63] as number
    out[o++] = ENCODE[v & 63] as number
  }
  if (n - full === 1) {
    const v = bytes[full] as number
    out[o++] = ENCODE[v >>> 2] as number
    out[o++] = ENCODE[(v & 3) << 4] as number
    out[o++] = PAD
    out[o++] = PAD
  } else if (n - full === 2) {
    const v = ((bytes[full] as number) << 8) | (bytes[full + 1] as number)
    out[o++] = ENCODE[v >>> 10] as number
    out[o++] = ENCODE[(v >>> 4) & 63] as number
    out[o++] = ENCODE[(v & 15) << 2] as number
    out[o++] = PAD
  }
  return ASCII.decode(out)
}

function paddingOf (text: string): number {
  const n = text.length
  if (n === 0 || text.charCodeAt(n - 1) !== PAD) return 0
  return text.charCodeAt(n - 2) === PAD ? 2 : 1
}

/**
 * Strict RFC 4648 base64: standard alphabet, padding required, unused trailing bits zero (so each byte
 * string has exactly one accepted text), and when `length` is given, exactly that many decoded bytes.
 * Returns undefined for anything else, never throws.
 */
export function fromBase64 (text: string, length?: number): Uint8Array | undefined {
  if (typeof text !== 'string') return undefined
  const n = text.length
  if (n % 4 !== 0) return undefined
  const pad = paddingOf(text)
  const size = (n / 4) * 3 - pad
  if (length !== undefined && size !== length) return undefined
  const out = new Uint8Array(size)
  const full = pad === 0 ? n : n - 4
  let o = 0
  for (let i = 0; i < full; i += 4) {
    const a = sextet(text.charCodeAt(i))
    const b = sextet(text.charCodeAt(i + 1))
    const c = sextet(text.charCodeAt(i + 2))
    const d = sextet(text.charCodeAt(i + 3))
    if ((a | b | c | d) < 0) return undefined
    const v = (a << 18) | (b << 12) | (c << 6) | d
    out[o++] = v >>> 16
    out[o++] = (v >>> 8) & 255
    out[o++] = v & 255
  }
  if (pad === 0) return out
  const a = sextet(text.charCodeAt(full))
  const b = sextet(text.charCodeAt(full + 1))
  if ((a | b) < 0) return undefined
  if (pad === 2) {
    if ((b & 15) !== 0) return undefined
    out[o] = (a << 2) | (b >>> 4)
    return out
  }
  const c = sextet(text.charCodeAt(full + 2))
  if (c < 0 || (c & 3) !== 0) return undefined
  out[o++] = (a << 2) | (b >>> 4)
  out[o] = ((b & 15) << 4) | (c >>> 2)
  return out
}

/** UTF-8 bytes of a string. Throws TypeError for a lone surrogate rather than replacing it with U+FFFD. */
export function utf8Encode (s: string): Uint8Array {
  if (LONE_SURROGATE.test(s)) throw new TypeError('string holds a lone surrogate')
  return UTF8_ENCODER.encode(s)
}

/** The text of UTF-8 bytes. Throws TypeError on invalid UTF-8; a leading BOM is kept. */
export function utf8Decode (b: Uint8Array): string {
  return UTF8_DECODER.decode(b)
}
