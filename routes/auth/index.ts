import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import {
  ChallengeResponse, LoginBody, LoginQuery, PublicUser, RegisterBody, TokenResponse, UserIdAvailability, UserIdParams
} from '../../schemas/auth.js'
import { ErrorResponse } from '../../schemas/common.js'
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
      tags: ['auth'],
      summary: 'Register an identity',
      description: 'Stores the Ed25519 identity key and the X25519 encryption key of a new user. The optional binding ' +
        'signature is checked and kept; clients refuse to encrypt to a key whose binding does not verify.',
      body: RegisterBody,
      response: { 201: PublicUser, 400: ErrorResponse, 409: ErrorResponse, 429: ErrorResponse }
    }
  }, async (request, reply) => {
    const user = await fastify.users.register(request.body)
    return reply.code(201).send(user)
  })

  fastify.post('/auth/login', {
    bodyLimit: AUTH_BODY_LIMIT,
    config: { rateLimit },
    schema: {
      tags: ['auth'],
      summary: 'Get a challenge, or answer it with ?verify=true',
      description: 'Without `verify`: returns a one-time challenge (60 s). With `?verify=true` and `{user_id, challenge, ' +
        'signature}`: returns a session token. The challenge is consumed by the first answer, right or wrong.',
      querystring: LoginQuery,
      body: LoginBody,
      response: { 200: Type.Union([ChallengeResponse, TokenResponse]), 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse, 429: ErrorResponse }
    }
  }, async (request) => {
    const { user_id: userId, challenge, signature } = request.body
    if (request.query.verify === true) {
      if (challenge === undefined || signature === undefined) {
        throw new InvalidRequestError('body must have challenge and signature with ?verify=true')
      }
      return await fastify.login(userId, challenge, signature)
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
      tags: ['auth'],
      summary: 'Look up a user\'s public keys',
      security: bearer,
      params: UserIdParams,
      response: { 200: PublicUser, 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse }
    }
  }, async (request) => {
    const user = await fastify.users.get(request.params.user_id)
    if (user === undefined) throw new UnknownUserError()
    return toPublicUser(user)
  })

  fastify.get('/auth/check-userid/:user_id', {
    config: { rateLimit },
    schema: {
      tags: ['auth'],
      summary: 'Is this user id free?',
      params: UserIdParams,
      response: { 200: UserIdAvailability, 400: ErrorResponse, 429: ErrorResponse }
    }
  }, async (request) => {
    const userId = request.params.user_id
    return { user_id: userId, available: !await fastify.users.isTaken(userId) }
  })
}

export default routes
