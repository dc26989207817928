import { Type, type Static, type TSchema } from 'typebox'

/** Any JSON value: command params and results. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

export const USER_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$'
export const RESERVED_USER_IDS: ReadonlySet<string> = new Set(['server', '*'])

export const UserId = Type.String({ pattern: USER_ID_PATTERN, description: 'user id: 3 to 32 of A-Z a-z 0-9 _ . - starting with a letter or digit' })
/** 1 to 64 characters (code points), no control characters and no lone surrogates (not storable as UTF-8). */
export const Username = Type.String({ pattern: '^[^\\p{Cc}\\p{Cs}]{1,64}$', description: '1 to 64 characters, no control characters' })
/** A pattern that admits exactly the canonical base64 text of `bytes` bytes (unused trailing bits zero). */
export function base64Pattern (bytes: number): string {
  const full = Math.floor(bytes / 3) * 4
  const rest = bytes % 3
  if (rest === 0) return `^[A-Za-z0-9+/]{${full}}$`
  if (rest === 1) return `^[A-Za-z0-9+/]{${full}}[A-Za-z0-9+/][AQgw]==$`
  return `^[A-Za-z0-9+/]{${full + 2}}[AEIMQUYcgkosw048]=$`
}

export const Base64Bytes = (bytes: number, description: string) =>
  Type.String({ pattern: base64Pattern(bytes), description: `${description} (base64 of ${bytes} bytes)` })

export const Timestamp = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$', description: 'RFC 3339 UTC with milliseconds' })

/** `schema` with examples for the API documents, each checked against the schema's type. */
export function withExamples<T extends TSchema> (schema: T, examples: Array<Static<T>>): T {
  return { ...schema, examples }
}

export const ErrorResponse = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String({ description: 'stable machine-readable code' }),
  error: Type.String(),
  message: Type.String()
}, {
  description: 'every refused request',
  examples: [{ statusCode: 401, code: 'unauthorized', error: 'Unauthorized', message: 'missing, invalid or expired token' }]
})
export type ErrorResponse = Static<typeof ErrorResponse>

/** The id under which the docs plugin registers ErrorResponse (with its codes) as a shared schema. */
export const ERROR_RESPONSE_ID = 'ErrorResponse'
/** A response of a route that refuses: one shared schema, a `$ref` in the OpenAPI document. */
export const ErrorRef = Type.Unsafe<ErrorResponse>({ $ref: `${ERROR_RESPONSE_ID}#` })
