import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import {
  ChallengeResponse, LoginBody, LoginQuery, PublicUser, RegisterBody, RotateKeyBody, TokenResponse, UserIdAvailability, UserIdParams
} from '../../schemas/auth.js'
import { ErrorRef } from '../../schemas/common.js'
import { InvalidRequestError, UnknownUserError } from '../../services/errors.js'
import { toPublicUser } from '../../services/users.js'

const AUTH_BODY_LIMIT = 4096

const routes: FastifyPluginAsyncTypebox = async (fastify) => {
  const rateLimit = fastify.authRateLimit
  const bearer = [{ bearerAuth: [] }]

  fastify.post('/auth/register', {
    bodyLimit: AUTH_BODY_LIMIT,
    config: { rateLimit },
    schema: {
      operationId: 'register',
      tags: ['auth'],
      summary: 'Register an identity',
      description: 'Stores the Ed25519 identity key and the X25519 encryption key of a new user. The optional binding ' +
        'signature is checked and kept; clients refuse to encrypt to a key whose binding does not verify.',
      body: RegisterBody,
      response: { 201: PublicUser, 400: ErrorRef, 409: ErrorRef, 429: ErrorRef }
    }
  }, async (request, reply) => {
    const user = await fastify.users.register(request.body)
    fastify.audit({ event: 'register', ip: request.ip, user_id: user.user_id })
    return reply.code(201).send(user)
  })

  fastify.post('/auth/login', {
    bodyLimit: AUTH_BODY_LIMIT,
    config: { rateLimit },
    schema: {
      operationId: 'login',
      tags: ['auth'],
      summary: 'Get a challenge, or answer it with ?verify=true',
      description: 'Without `verify`: returns a one-time challenge (60 s). With `?verify=true` and `{user_id, challenge, ' +
        'signature}`: returns a session token. The challenge is consumed by the first answer, right or wrong.',
      querystring: LoginQuery,
      body: LoginBody,
      response: { 200: Type.Union([ChallengeResponse, TokenResponse]), 400: ErrorRef, 401: ErrorRef, 404: ErrorRef, 429: ErrorRef }
    }
  }, async (request) => {
    const { user_id: userId, challenge, signature } = request.body
    if (request.query.verify === true) {
      if (challenge === undefined || signature === undefined) {
        throw new InvalidRequestError('body must have challenge and signature with ?verify=true')
      }
      try {
        const token = await fastify.login(userId, challenge, signature)
        fastify.audit({ event: 'login', ip: request.ip, user_id: userId })
        return token
      } catch (err) {
        fastify.audit({ event: 'login_failed', ip: request.ip, user_id: userId })
        fastify.ipGuard.failure(request.ip)
        throw err
      }
    }
    if (challenge !== undefined || signature !== undefined) {
      throw new InvalidRequestError('challenge and signature go with ?verify=true')
    }
    if (await fastify.users.get(userId) === undefined) throw new UnknownUserError()
    return await fastify.challenges.issue(userId)
  })

  fastify.get('/auth/users/:user_id', {
    onRequest: fastify.authenticate,
    schema: {
      operationId: 'getUser',
      tags: ['auth'],
      summary: 'Look up a user\'s public keys',
      security: bearer,
      params: UserIdParams,
      response: { 200: PublicUser, 400: ErrorRef, 401: ErrorRef, 404: ErrorRef }
    }
  }, async (request) => {
    const user = await fastify.users.get(request.params.user_id)
    if (user === undefined) throw new UnknownUserError()
    return toPublicUser(user)
  })

  fastify.post('/auth/logout', {
    onRequest: fastify.authenticate,
    schema: {
      operationId: 'logout',
      tags: ['auth'],
      summary: 'Revoke the presented token',
      description: 'The token is refused everywhere from now on, and the WebSocket connections opened with it are closed (1008).',
      security: bearer,
      response: { 204: Type.Null(), 401: ErrorRef }
    }
  }, async (request, reply) => {
    await fastify.revokeToken(request.user)
    fastify.audit({ event: 'logout', ip: request.ip, user_id: request.user.sub })
    return reply.code(204).send(null)
  })

  fastify.put('/auth/keys/x25519', {
    onRequest: fastify.authenticate,
    bodyLimit: AUTH_BODY_LIMIT,
    schema: {
      operationId: 'rotateEncryptionKey',
      tags: ['auth'],
      summary: 'Rotate your encryption key',
      description: 'Replaces your X25519 key. The binding signature by your identity key is required. The identity key itself ' +
        'cannot be replaced. Messages already queued stay encrypted to the old key: keep it until they are read. With ' +
        '`x25519_key_epoch` the epoch must be greater than the current one (409 `stale_key_epoch`), and once a key has an epoch ' +
        'every later one needs one.',
      security: bearer,
      body: RotateKeyBody,
      response: { 200: PublicUser, 400: ErrorRef, 401: ErrorRef, 409: ErrorRef }
    }
  }, async (request) => {
    const user = await fastify.users.rotateEncryptionKey(request.user.sub, request.body)
    fastify.audit({ event: 'key_rotated', ip: request.ip, user_id: user.user_id })
    return user
  })

  fastify.get('/auth/check-userid/:user_id', {
    config: { rateLimit },
    schema: {
      operationId: 'checkUserId',
      tags: ['auth'],
      summary: 'Is this user id free?',
      params: UserIdParams,
      response: { 200: UserIdAvailability, 400: ErrorRef, 429: ErrorRef }
    }
  }, async (request) => {
    const userId = request.params.user_id
    return { user_id: userId, available: !await fastify.users.isTaken(userId) }
  })
}

export default routes
