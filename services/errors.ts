import createError from '@fastify/error'

const codes = new Set<string>()

/** `createError` that also records the code, so that the list of codes cannot fall behind the errors. */
function define<C extends string, SC extends number, Arg extends unknown[] = []> (code: C, message: string, statusCode: SC) {
  codes.add(code)
  return createError<C, SC, Arg>(code, message, statusCode)
}

// Every error a client can see is made here, with a stable lowercase code that clients may branch on.
// Messages are short and never carry internals.
export const InvalidRequestError = define<'invalid_request', 400, [string]>('invalid_request', '%s', 400)
export const InvalidKeyError = define<'invalid_key', 400, [string]>('invalid_key', '%s', 400)
export const InvalidKeySignatureError = define('invalid_key_signature', 'x25519_key_signature does not verify against public_key', 400)
export const StaleKeyEpochError = define('stale_key_epoch', 'the key epoch must grow', 409)
export const UserExistsError = define('user_exists', 'user_id is already registered', 409)
export const UnknownUserError = define('unknown_user', 'no such user', 404)
export const AuthenticationFailedError = define('unauthorized', 'authentication failed', 401)
export const InvalidTokenError = define('unauthorized', 'missing, invalid or expired token', 401)
export const ForbiddenError = define<'forbidden', 403, [string]>('forbidden', '%s', 403)
export const NotFoundError = define('not_found', 'route not found', 404)
export const RateLimitedError = define<'rate_limited', 429, [string]>('rate_limited', 'too many requests, retry in %s', 429)
export const UnavailableError = define<'unavailable', 503, [string]>('unavailable', '%s', 503)

export const IpBlockedError = define('ip_blocked', 'too many failed attempts from this address; try again later', 403)
export const TooManyConnectionsError = define('too_many_connections', 'too many open connections for this user', 429)

/** The WebSocket refusal codes of PROTOCOL.md, for the same refusals over HTTP. */
export const FrameErrors = {
  invalid_json: define<'invalid_json', 400, [string]>('invalid_json', '%s', 400),
  invalid_frame: define<'invalid_frame', 400, [string]>('invalid_frame', '%s', 400),
  bad_signature: define<'bad_signature', 400, [string]>('bad_signature', '%s', 400),
  forbidden: define<'forbidden', 403, [string]>('forbidden', '%s', 403),
  unknown_recipient: define<'unknown_recipient', 404, [string]>('unknown_recipient', '%s', 404),
  clock_skew: define<'clock_skew', 400, [string]>('clock_skew', '%s', 400),
  rate_limited: define<'rate_limited', 429, [string]>('rate_limited', '%s', 429),
  unknown_message: define<'unknown_message', 404, [string]>('unknown_message', '%s', 404),
  ambiguous_ack: define<'ambiguous_ack', 409, [string]>('ambiguous_ack', '%s', 409),
  unknown_command: define<'unknown_command', 400, [string]>('unknown_command', '%s', 400),
  command_failed: define<'command_failed', 500, [string]>('command_failed', '%s', 500),
  internal: define<'internal', 500, [string]>('internal', '%s', 500)
} as const

export const AdminRequiredError = define('admin_required', 'this endpoint is for administrators (ADMIN_USERS)', 403)
export const InvalidRangeError = define<'invalid_range', 400, [string]>('invalid_range', '%s', 400)

/** Every code an error made here carries, as clients see it: the codes of the HTTP API's refusals. */
export const ERROR_CODES: readonly string[] = [...codes]
