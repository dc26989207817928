import { Type, type Static } from 'typebox'
import { Base64Bytes, Timestamp, UserId, Username, withExamples } from './common.js'
import { CHALLENGE_EXAMPLE, LOGIN_EXAMPLES, PUBLIC_USER_EXAMPLE, REGISTER_EXAMPLE, ROTATE_KEY_EXAMPLE, TOKEN_EXAMPLE } from './examples.js'

/** The epoch'd binding of an X25519 key: both or neither; with both, the signature is over the epoch label. */
const KeyEpochFields = {
  x25519_key_epoch: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'grows with each new key; with x25519_key_expires_at' })),
  /** when clients stop using the key: later than now, at most 400 days ahead */
  x25519_key_expires_at: Type.Optional(Timestamp)
}
const BINDING = 'Ed25519 signature by the identity key over "sealwire/v1/x25519-key:" + user_id + ":" + x25519_public_key, or, ' +
  'with x25519_key_epoch and x25519_key_expires_at, over "sealwire/v1/x25519-key-binding:" + JCS({epoch, expires_at, user_id, x25519_public_key})'

export const RegisterBody = withExamples(Type.Object({
  user_id: UserId,
  username: Username,
  public_key: Base64Bytes(32, 'Ed25519 identity key'),
  x25519_public_key: Base64Bytes(32, 'X25519 encryption key'),
  x25519_key_signature: Type.Optional(Base64Bytes(64, `${BINDING} (required with the epoch)`)),
  ...KeyEpochFields
}, { additionalProperties: false }), [REGISTER_EXAMPLE])
export type RegisterBody = Static<typeof RegisterBody>

export const PublicUser = withExamples(Type.Object({
  user_id: UserId,
  username: Type.String(),
  public_key: Type.String(),
  x25519_public_key: Type.String(),
  x25519_key_signature: Type.Union([Type.String(), Type.Null()]),
  x25519_key_epoch: Type.Integer({ minimum: 0, description: '0 for a key bound the v1 way' }),
  x25519_key_expires_at: Type.Union([Timestamp, Type.Null()], { description: 'null for a key bound the v1 way' }),
  created_at: Timestamp
}, { description: 'a registered user: public keys only' }), [PUBLIC_USER_EXAMPLE])
export type PublicUser = Static<typeof PublicUser>

export const LoginBody = withExamples(Type.Object({
  user_id: UserId,
  challenge: Type.Optional(Base64Bytes(32, 'with ?verify=true: the challenge being answered')),
  signature: Type.Optional(Base64Bytes(64, 'with ?verify=true: Ed25519 over "sealwire/v1/login:" + user_id + ":" + challenge'))
}, { additionalProperties: false }), LOGIN_EXAMPLES)
export type LoginBody = Static<typeof LoginBody>

export const LoginQuery = Type.Object({
  verify: Type.Optional(Type.Boolean({ description: 'true to answer a challenge' }))
})

export const ChallengeResponse = withExamples(Type.Object({
  challenge: Type.String({ description: 'base64 of 32 random bytes, valid once, for 60 s' }),
  expires_at: Timestamp
}), [CHALLENGE_EXAMPLE])
export type ChallengeResponse = Static<typeof ChallengeResponse>

export const TokenResponse = withExamples(Type.Object({
  token: Type.String({ description: 'JWT (HS256) for the bearer header or /ws?token=' }),
  expires_at: Timestamp
}), [TOKEN_EXAMPLE])
export type TokenResponse = Static<typeof TokenResponse>

export const RotateKeyBody = withExamples(Type.Object({
  x25519_public_key: Base64Bytes(32, 'the new X25519 encryption key'),
  x25519_key_signature: Base64Bytes(64, BINDING),
  ...KeyEpochFields
}, { additionalProperties: false }), [ROTATE_KEY_EXAMPLE])
export type RotateKeyBody = Static<typeof RotateKeyBody>

export const UserIdParams = Type.Object({ user_id: UserId })

export const UserIdAvailability = withExamples(Type.Object({
  user_id: Type.String(),
  available: Type.Boolean({ description: 'false when taken (compared without case) or reserved' })
}), [{ user_id: 'carol', available: true }])

/** The claims of a session token. */
export const TokenClaims = Type.Object({
  sub: UserId,
  jti: Type.String(),
  iat: Type.Integer(),
  exp: Type.Integer()
})
export type TokenClaims = Static<typeof TokenClaims>
