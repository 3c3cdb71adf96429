// Everything under /api/v1: authenticated, encapsulated, one plugin per area.
import type { FastifyPluginAsync } from 'fastify'
import caching from '@fastify/caching'
import rateLimit from '@fastify/rate-limit'
import adminRoutes from './admin'
import contactRoutes from './contacts'
import dashboardRoutes from './dashboard'
import interactionRoutes from './interactions'
import opportunityRoutes from './opportunities'
import organizationRoutes from './organizations'
import { declareResponses, apiRouteErrors } from '../../lib/documented-responses'
import { ErrorResponse } from '../../schemas/common'
import { createServices } from '../../plugins/app/services'
import userRoutes from './users'

const api: FastifyPluginAsync = async (app) => {
  app.addHook('onRoute', declareResponses(apiRouteErrors(ErrorResponse)))
  app.addHook('onRequest', app.authenticate)
  // Cache-Control for this scope only (not /health or /metrics): a client may
  // keep an answer but must revalidate it (If-None-Match → 304) before use,
  // so a browser never shows data older than a write it made. Its own
  // ETag store is unused: it is global, not per user, and outlives writes;
  // plugins/response-cache.ts answers conditional requests instead.
  await app.register(caching, { privacy: 'private, no-cache' })
  // Per user, counted in Redis so the limit holds across instances; runs as
  // a route onRequest hook, i.e. after authentication and before the cache
  // lookup, so cached answers count too. A Redis failure never blocks a request.
  await app.register(rateLimit, {
    max: app.config.rateLimitMax,
    timeWindow: 60_000,
    keyGenerator: (request) => request.caller.id,
    ...(app.hasRedis ? { redis: app.redis, nameSpace: `${app.config.redisKeyPrefix}rl:` } : {}),
    skipOnError: true,
    errorResponseBuilder: (_request, context) => Object.assign(
      new Error(`Rate limit exceeded: at most ${context.max} requests per minute; retry in ${context.after}`),
      { statusCode: context.statusCode, code: 'RATE_LIMITED' })
  })
  const services = createServices(app)
  await app.register(userRoutes, { services })
  await app.register(organizationRoutes, { services })
  await app.register(contactRoutes, { services })
  await app.register(interactionRoutes, { services })
  await app.register(opportunityRoutes, { services })
  await app.register(dashboardRoutes, { services })
  await app.register(adminRoutes)
}

export default api
