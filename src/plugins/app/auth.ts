// Authentication (contract §2): a Bearer JWT (HS256, JWT_SECRET) whose `sub`
// names a user. Role and is_active come from the database, not the token,
// through a short-lived per-process cache so the hot path costs no database
// round-trip; a deactivation takes effect within AUTH_CACHE_TTL_MS (30 s).
import fp from 'fastify-plugin'
import jwt from '@fastify/jwt'
import { LRUCache } from 'lru-cache'
import type { FastifyRequest } from 'fastify'
import type { Caller } from '../../lib/caller'
import { ForbiddenError, UnauthorizedError } from '../../lib/http-errors'

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: { sub: string }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook: 401 unless the request carries a valid token of an active user. */
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    /** onRequest hook for admin-only routes (after authenticate): 403 for members. */
    requireAdmin: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    /** Drops a user from this process's caller cache (after their role or status changed). */
    forgetCaller: (userId: string) => void
    /** Size and limits of the caller cache (admin runtime). */
    callerCacheStats: () => { size: number; max: number; ttlMs: number }
    /** Signs a token for a user id (the token script and tests). */
    signToken: (userId: string, expiresIn?: string) => string
  }
  interface FastifyRequest {
    caller: Caller
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

// Unknown and inactive users are cached too (as INACTIVE), so a valid token
// of a deleted user cannot make every request hit the database.
const INACTIVE = 'inactive' as const

const TOKEN_CACHE_SIZE = 10_000
const TOKEN_CACHE_TTL_MS = 10 * 60_000
const BEARER = /^Bearer ([^ ]+)$/i

export default fp(async (app) => {
  await app.register(jwt, {
    secret: app.config.jwtSecret,
    sign: { algorithm: 'HS256' },
    verify: { algorithms: ['HS256'], requiredClaims: ['sub'] }
  })

  // Verified tokens, keyed by the token itself: a token seen before is not
  // verified (HMAC, base64, JSON) again. fast-jwt's own cache did the same
  // but keyed by a SHA-256 of the token, which cost as much per hit as the
  // rest of authentication. Bounded; an entry lives at most 10 minutes and
  // never past the token's exp. Only successes are kept: a refused token is
  // verified (and refused) each time.
  const verified = new LRUCache<string, { sub: unknown }>({ max: TOKEN_CACHE_SIZE, ttl: TOKEN_CACHE_TTL_MS })
  const verify = (token: string): { sub: unknown } => {
    const known = verified.get(token)
    if (known !== undefined) return known
    const payload = app.jwt.verify<{ sub: unknown, exp?: unknown }>(token)
    const untilExp = typeof payload.exp === 'number' ? payload.exp * 1000 - Date.now() : TOKEN_CACHE_TTL_MS
    if (untilExp > 0) verified.set(token, { sub: payload.sub }, { ttl: Math.min(untilExp, TOKEN_CACHE_TTL_MS) })
    return payload
  }

  const callers = new LRUCache<string, Caller | typeof INACTIVE>({
    max: 50_000,
    // ttl 0 would mean "forever" to lru-cache: 1 ms is as good as no cache.
    ttl: Math.max(app.config.authCacheTtlMs, 1),
    // Concurrent first requests of one user share a single lookup.
    fetchMethod: async (id) => await app.services.users.findCaller(id) ?? INACTIVE
  })

  app.decorateRequest('caller', null as unknown as Caller)

  app.decorate('authenticate', async (request: FastifyRequest) => {
    const header = request.headers.authorization
    if (header === undefined) throw new UnauthorizedError('Missing Authorization header (Bearer token)')
    // app.jwt.verify rather than request.jwtVerify: the latter merges its
    // options and decodes the token again on every request.
    const token = BEARER.exec(header)?.[1]
    let payload: { sub: unknown }
    try {
      if (token === undefined) throw new Error('not a Bearer token')
      payload = verify(token)
    } catch (err) {
      const code = (err as { code?: string }).code
      throw new UnauthorizedError(code === 'FAST_JWT_EXPIRED' ? 'The token has expired' : 'The token is malformed or its signature is invalid')
    }
    if (typeof payload.sub !== 'string' || !UUID.test(payload.sub)) {
      throw new UnauthorizedError('The token does not name a user')
    }
    const caller = await callers.fetch(payload.sub.toLowerCase())
    if (caller === undefined || caller === INACTIVE) throw new UnauthorizedError('Unknown or inactive user')
    request.caller = caller
  })

  app.decorate('requireAdmin', async (request: FastifyRequest) => {
    if (request.caller.role !== 'admin') throw new ForbiddenError('This endpoint is for administrators')
  })

  app.decorate('forgetCaller', (userId: string) => { callers.delete(userId.toLowerCase()) })

  app.decorate('callerCacheStats', () => ({ size: callers.size, max: callers.max, ttlMs: callers.ttl }))

  app.decorate('signToken', (userId: string, expiresIn = '1h') => app.jwt.sign({ sub: userId }, { expiresIn }))
}, { name: 'auth', dependencies: ['config', 'services'] })
