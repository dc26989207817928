import createError from '@fastify/error'

// Every error a client can see is made here, with a stable lowercase code that clients may branch on.
// Messages are short and never carry internals.
export const InvalidRequestError = createError<'invalid_request', 400, [string]>('invalid_request', '%s', 400)
export const InvalidKeyError = createError<'invalid_key', 400, [string]>('invalid_key', '%s', 400)
export const InvalidKeySignatureError = createError('invalid_key_signature', 'x25519_key_signature does not verify against public_key', 400)
export const StaleKeyEpochError = createError('stale_key_epoch', 'the key epoch must grow', 409)
export const UserExistsError = createError('user_exists', 'user_id is already registered', 409)
export const UnknownUserError = createError('unknown_user', 'no such user', 404)
export const AuthenticationFailedError = createError('unauthorized', 'authentication failed', 401)
export const InvalidTokenError = createError('unauthorized', 'missing, invalid or expired token', 401)
export const ForbiddenError = createError<'forbidden', 403, [string]>('forbidden', '%s', 403)
export const NotFoundError = createError('not_found', 'route not found', 404)
export const RateLimitedError = createError<'rate_limited', 429, [string]>('rate_limited', 'too many requests, retry in %s', 429)
export const UnavailableError = createError<'unavailable', 503, [string]>('unavailable', '%s', 503)

export const IpBlockedError = createError('ip_blocked', 'too many failed attempts from this address; try again later', 403)
export const TooManyConnectionsError = createError('too_many_connections', 'too many open connections for this user', 429)

/** The WebSocket refusal codes of PROTOCOL.md, for the same refusals over HTTP. */
export const FrameErrors = {
  invalid_json: createError<'invalid_json', 400, [string]>('invalid_json', '%s', 400),
  invalid_frame: createError<'invalid_frame', 400, [string]>('invalid_frame', '%s', 400),
  bad_signature: createError<'bad_signature', 400, [string]>('bad_signature', '%s', 400),
  forbidden: createError<'forbidden', 403, [string]>('forbidden', '%s', 403),
  unknown_recipient: createError<'unknown_recipient', 404, [string]>('unknown_recipient', '%s', 404),
  clock_skew: createError<'clock_skew', 400, [string]>('clock_skew', '%s', 400),
  rate_limited: createError<'rate_limited', 429, [string]>('rate_limited', '%s', 429),
  unknown_message: createError<'unknown_message', 404, [string]>('unknown_message', '%s', 404),
  ambiguous_ack: createError<'ambiguous_ack', 409, [string]>('ambiguous_ack', '%s', 409),
  unknown_command: createError<'unknown_command', 400, [string]>('unknown_command', '%s', 400),
  command_failed: createError<'command_failed', 500, [string]>('command_failed', '%s', 500),
  internal: createError<'internal', 500, [string]>('internal', '%s', 500)
} as const

export const AdminRequiredError = createError('admin_required', 'this endpoint is for administrators (ADMIN_USERS)', 403)
export const InvalidRangeError = createError<'invalid_range', 400, [string]>('invalid_range', '%s', 400)

/** Every code an error made here carries, as clients see it (lower case): the codes of the HTTP API's refusals. */
export const ERROR_CODES: readonly string[] = [...new Set([
  InvalidRequestError, InvalidKeyError, InvalidKeySignatureError, UserExistsError, UnknownUserError, AuthenticationFailedError,
  InvalidTokenError, ForbiddenError, NotFoundError, RateLimitedError, UnavailableError, IpBlockedError, TooManyConnectionsError, StaleKeyEpochError,
  ...Object.values(FrameErrors), AdminRequiredError, InvalidRangeError
].map((MakeError) => new MakeError('').code.toLowerCase()))]
