// The per-user rate limit (contract §2: RATE_LIMIT_MAX per minute, 429 with
// Retry-After): a fixed one-minute window per user, counted in Redis so it
// holds across instances (in process without REDIS_URL). A GET the Redis
// cache may answer is counted by the cache's own lookup script, so a hit
// costs one round trip in all; every other request runs the counting script
// alone. A Redis failure never blocks a request (the limit fails open).
// It replaces @fastify/rate-limit, which could only make a round trip of its
// own: docs/decisions.md.
import fp from 'fastify-plugin'
import type { onRequestAsyncHookHandler, RouteOptions } from 'fastify'
import { MemoryRateCounter, RedisRateCounter, type RateCounter, type RateWindow } from '../../lib/rate-limit'

declare module 'fastify' {
  interface FastifyInstance {
    rateLimit: {
      /** An onRoute hook: the limit as the route's last onRequest hook (after authentication and requireAdmin). */
      onRoute: (route: RouteOptions) => void
    }
  }
}

const WINDOW_MS = 60_000

export class RateLimitedError extends Error {
  readonly statusCode = 429
  readonly code = 'RATE_LIMITED'
}

export default fp(async (app) => {
  const max = app.config.rateLimitMax
  const limitHeader = String(max)
  const redisCounter = app.hasRedis ? new RedisRateCounter(app.redisClient, app.config.redisKeyPrefix) : undefined
  const counter: RateCounter = redisCounter ?? new MemoryRateCounter(50_000)
  const keyOf = (id: string): string => redisCounter?.keyOf(id) ?? id

  const count = async (id: string, lookup: () => Promise<RateWindow | null | undefined>): Promise<RateWindow | undefined> => {
    try {
      return await lookup() ?? await counter.count(id, WINDOW_MS)
    } catch (err) {
      // The Redis plugin already logs the outage once; a line per request would flood.
      app.log.debug({ err: { message: (err as Error).message } }, 'rate limit not counted (Redis unavailable); the request passes')
      return undefined
    }
  }

  const hook: onRequestAsyncHookHandler = async (request, reply) => {
    const id = request.caller.id
    const counted = await count(id, async () => await app.responseCache.lookupCounted(request, { key: keyOf(id), windowMs: WINDOW_MS, max }))
    // Not counted (Redis failed): the request passes, and says the full allowance is left.
    const current = counted?.current ?? 0
    const resetS = Math.ceil((counted?.ttlMs ?? 0) / 1000)
    void reply.header('x-ratelimit-limit', limitHeader)
      .header('x-ratelimit-remaining', current >= max ? '0' : String(max - current))
      .header('x-ratelimit-reset', String(resetS))
    if (current <= max) return
    void reply.header('retry-after', String(resetS))
    throw new RateLimitedError(`Rate limit exceeded: at most ${max} requests per minute; retry in ${resetS} second${resetS === 1 ? '' : 's'}`)
  }

  app.decorate('rateLimit', {
    onRoute: (route: RouteOptions) => {
      const own = route.onRequest
      route.onRequest = own === undefined ? [hook] : [...(Array.isArray(own) ? own : [own]), hook]
    }
  })
}, { name: 'rate-limit', dependencies: ['config', 'redis', 'auth', 'response-cache'] })
