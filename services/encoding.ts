const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * Strict RFC 4648 base64: standard alphabet, padding required, unused trailing bits zero, and when
 * `length` is given, exactly that many decoded bytes. Returns undefined for anything else.
 */
export function decodeBase64 (text: string, length?: number): Buffer | undefined {
  if (length !== undefined && text.length !== Math.ceil(length / 3) * 4) return undefined
  if (!BASE64.test(text)) return undefined
  const bytes = Buffer.from(text, 'base64')
  if (length !== undefined && bytes.length !== length) return undefined
  // Buffer ignores non-zero padding bits; re-encoding exposes them.
  if (bytes.toString('base64') !== text) return undefined
  return bytes
}

export function encodeBase64 (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}
