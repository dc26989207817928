// RFC 8785 (JCS) canonical JSON. Signed values in protocol v1 are strings and objects; numbers, booleans,
// null and arrays that a client adds are serialised as ECMAScript does, which is what JCS prescribes.

export class CanonicalJsonError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'CanonicalJsonError'
  }
}

const MAX_DEPTH = 32
// a lone surrogate: a high one not followed by a low one, or a low one not preceded by a high one
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

function serialise (value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw new CanonicalJsonError('nesting too deep')
  switch (typeof value) {
    case 'string':
      if (LONE_SURROGATE.test(value)) throw new CanonicalJsonError('string holds a lone surrogate')
      return JSON.stringify(value)
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError('number is not finite')
      return JSON.stringify(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object': {
      if (value === null) return 'null'
      if (Array.isArray(value)) return `[${value.map((v) => serialise(v, depth + 1)).join(',')}]`
      // Array.prototype.sort compares UTF-16 code units, the order RFC 8785 asks for
      const keys = Object.keys(value).sort()
      const parts: string[] = []
      for (const key of keys) {
        const v = (value as Record<string, unknown>)[key]
        if (v === undefined) continue
        parts.push(`${serialise(key, depth + 1)}:${serialise(v, depth + 1)}`)
      }
      return `{${parts.join(',')}}`
    }
    default:
      throw new CanonicalJsonError(`cannot canonicalise a ${typeof value}`)
  }
}

/** The JCS text of a JSON value. Throws CanonicalJsonError for lone surrogates, non-finite numbers, depth > 32. */
export function canonicalJson (value: unknown): string {
  return serialise(value, 0)
}
