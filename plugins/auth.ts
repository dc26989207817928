import { randomUUID } from 'node:crypto'
import fastifyJwt from '@fastify/jwt'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Compile } from 'typebox/compile'
import { TokenClaims, type TokenResponse } from '../schemas/auth.js'
import type { Challenges } from '../services/challenges.js'
import { Revocations } from '../services/revocations.js'
import { AdminRequiredError, AuthenticationFailedError, InvalidTokenError } from '../services/errors.js'
import { loginSigningInput } from '../services/protocol/signing.js'
import { UserStore } from '../services/users.js'

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: { sub: string }
    user: TokenClaims
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `authenticate` also takes the token from `?token=` */
    tokenInQuery?: boolean
  }
  interface FastifyInstance {
    users: UserStore
    challenges: Challenges
    revocations: Revocations
    /**
     * onRequest hook for routes that need a session: the token from `Authorization: Bearer`, or from `?token=`
     * on routes whose config says `tokenInQuery` (the WebSocket upgrade, where browsers cannot set headers).
     * Sets request.user, or answers 401.
     */
    authenticate: (request: FastifyRequest) => Promise<void>
    /** onRequest hook for admin routes: a valid token of a user listed in ADMIN_USERS, else 401 / 403 */
    requireAdmin: (request: FastifyRequest) => Promise<void>
    /** checks a session token from anywhere (the WebSocket query string, say) */
    verifyToken: (token: string) => Promise<TokenClaims>
    /** refuses the token on every node from now on and closes the connections opened with it */
    revokeToken: (claims: TokenClaims) => Promise<void>
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

  const { cluster } = fastify
  const { challenges } = fastify.clusterStores
  const users = new UserStore(fastify.db, fastify.ed25519)
  // a shared database may hold revocations made by another node
  const revocations = new Revocations(fastify.db, { shared: config.DATABASE_URL !== undefined || cluster.state !== 'local' })
  await revocations.load()
  cluster.control.onRevoke((jti, expiresAtMs) => revocations.remember(jti, expiresAtMs))
  cluster.control.onResync((resynced) => {
    // this node may have missed revocations while the nodes could not reach each other: the table has them
    if (resynced !== 'all') return
    revocations.refresh().catch((err: unknown) => fastify.log.error({ err }, 'reading the revoked tokens failed'))
  })
  fastify.decorate('users', users)
  fastify.decorate('challenges', challenges)
  fastify.decorate('revocations', revocations)
  const sweep = setInterval(() => revocations.sweep(), 60_000)
  sweep.unref()
  fastify.addHook('onClose', async () => clearInterval(sweep))

  /** Valid and not revoked, or undefined. A database that fails the revocation check is an error, not a refusal. */
  async function checkClaims (claims: unknown): Promise<TokenClaims | undefined> {
    if (!claimsValidator.Check(claims) || await revocations.isRevoked(claims.jti)) return undefined
    return claims
  }

  fastify.decorate('verifyToken', async (token: string): Promise<TokenClaims> => {
    let claims: unknown
    try {
      claims = fastify.jwt.verify(token)
    } catch {
      throw new InvalidTokenError()
    }
    const checked = await checkClaims(claims)
    if (checked === undefined) throw new InvalidTokenError()
    return checked
  })

  fastify.decorate('revokeToken', async ({ jti, sub, exp }: TokenClaims): Promise<void> => {
    await revocations.revoke(jti, sub, exp * 1000)
    cluster.control.revoke(jti, exp * 1000)
  })

  /** The bearer token of the Authorization header (any case of "Bearer"), or `?token=` where the route allows it. */
  function tokenOf (request: FastifyRequest): string | undefined {
    const [scheme, token] = request.headers.authorization?.split(' ', 2) ?? []
    if (scheme !== undefined && /^bearer$/i.test(scheme) && token !== undefined && token !== '') return token
    if (request.routeOptions.config.tokenInQuery !== true) return undefined
    const query = request.query as { token?: unknown }
    return typeof query.token === 'string' && query.token !== '' ? query.token : undefined
  }

  fastify.decorate('authenticate', async (request: FastifyRequest): Promise<void> => {
    const token = tokenOf(request)
    try {
      if (token === undefined) throw new InvalidTokenError()
      request.user = await fastify.verifyToken(token)
    } catch (err) {
      fastify.audit({ event: 'token_refused', ip: request.ip, detail: { route: request.routeOptions.url ?? request.url.split('?')[0] ?? '' } })
      fastify.ipGuard.failure(request.ip)
      throw err
    }
  })

  // user ids are unique without regard to case, so ADMIN_USERS is compared the same way
  const admins = new Set(config.adminUsers.map((u) => u.toLowerCase()))
  fastify.decorate('requireAdmin', async (request: FastifyRequest): Promise<void> => {
    await fastify.authenticate(request)
    if (!admins.has(request.user.sub.toLowerCase())) throw new AdminRequiredError()
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
}, { name: 'sealwire-auth', dependencies: ['sealwire-config', 'sealwire-security', 'sealwire-db', 'sealwire-cluster', 'sealwire-crypto'] })
