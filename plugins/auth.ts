import { randomUUID } from 'node:crypto'
import fastifyJwt from '@fastify/jwt'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Compile } from 'typebox/compile'
import { TokenClaims, type TokenResponse } from '../schemas/auth.js'
import { ChallengeStore } from '../services/challenges.js'
import { Revocations } from '../services/revocations.js'
import { AuthenticationFailedError, InvalidTokenError } from '../services/errors.js'
import { loginSigningInput } from '../services/protocol/signing.js'
import { UserStore } from '../services/users.js'

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: { sub: string }
    user: TokenClaims
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    users: UserStore
    challenges: ChallengeStore
    revocations: Revocations
    /** preHandler for bearer routes: sets request.user or answers 401 */
    authenticate: (request: FastifyRequest) => Promise<void>
    /** checks a session token from anywhere (the WebSocket query string, say) */
    verifyToken: (token: string) => TokenClaims
    issueToken: (userId: string) => TokenResponse
    /** answers a challenge; the challenge is consumed whatever the outcome */
    login: (userId: string, challenge: string, signature: string) => Promise<TokenResponse>
  }
}

const claimsValidator = Compile(TokenClaims)

export default fp(async (fastify) => {
  const { config } = fastify
  await fastify.register(fastifyJwt, {
    secret: config.JWT_SECRET,
    sign: { algorithm: 'HS256' },
    verify: { algorithms: ['HS256'] },
    decode: { complete: false }
  })

  const users = new UserStore(fastify.db, fastify.ed25519)
  const challenges = new ChallengeStore(fastify.db)
  const revocations = new Revocations(fastify.db)
  await revocations.load()
  fastify.decorate('users', users)
  fastify.decorate('challenges', challenges)
  fastify.decorate('revocations', revocations)
  const sweep = setInterval(() => revocations.sweep(), 60_000)
  sweep.unref()
  fastify.addHook('onClose', async () => clearInterval(sweep))

  function checkClaims (claims: unknown): TokenClaims {
    if (!claimsValidator.Check(claims) || revocations.isRevoked(claims.jti)) throw new InvalidTokenError()
    return claims
  }

  fastify.decorate('verifyToken', (token: string): TokenClaims => {
    let claims: unknown
    try {
      claims = fastify.jwt.verify(token)
    } catch {
      throw new InvalidTokenError()
    }
    return checkClaims(claims)
  })

  fastify.decorate('authenticate', async (request: FastifyRequest): Promise<void> => {
    try {
      await request.jwtVerify()
      checkClaims(request.user)
    } catch {
      fastify.audit({ event: 'token_refused', ip: request.ip, detail: { route: request.routeOptions.url ?? request.url.split('?')[0] ?? '' } })
      fastify.ipGuard.failure(request.ip)
      throw new InvalidTokenError()
    }
  })

  fastify.decorate('issueToken', (userId: string): TokenResponse => {
    // @fastify/jwt takes expiresIn in seconds
    const token = fastify.jwt.sign({ sub: userId }, { jti: randomUUID(), expiresIn: config.JWT_TTL })
    const { exp } = fastify.jwt.decode<{ exp: number }>(token) ?? { exp: 0 }
    return { token, expires_at: new Date(exp * 1000).toISOString() }
  })

  fastify.decorate('login', async (userId: string, challenge: string, signature: string): Promise<TokenResponse> => {
    const fresh = await challenges.consume(userId, challenge)
    const user = fresh ? await users.get(userId) : undefined
    if (user === undefined || !fastify.ed25519.verify(user.public_key, loginSigningInput(userId, challenge), signature)) {
      throw new AuthenticationFailedError()
    }
    return fastify.issueToken(userId)
  })
}, { name: 'sealwire-auth', dependencies: ['sealwire-config', 'sealwire-security', 'sealwire-db', 'sealwire-crypto'] })
