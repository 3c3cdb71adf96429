// Everything under /api/v1: the request path of this scope, in the order it
// runs (docs/architecture.md draws it), then one route plugin per area.
import type { FastifyPluginAsync } from 'fastify'
import caching from '@fastify/caching'
import { apiRouteErrors, declareResponses } from '../../lib/documented-responses'
import { ErrorResponse } from '../../schemas/common'
import adminRoutes from './admin'
import contactRoutes from './contacts'
import dashboardRoutes from './dashboard'
import interactionRoutes from './interactions'
import opportunityRoutes from './opportunities'
import organizationRoutes from './organizations'
import userRoutes from './users'

const api: FastifyPluginAsync = async (app) => {
  // Every route here can also answer 401, 429 and (cached GETs) 304.
  app.addHook('onRoute', declareResponses(apiRouteErrors(ErrorResponse)))

  // onRequest 1: write answers, refusals included, are never stored (Cache-Control: no-store).
  app.addHook('onRequest', app.responseCache.hooks.onRequest)
  // onRequest 2: who is calling (401 unless a valid token of an active user).
  app.addHook('onRequest', app.authenticate)
  // onRequest 3 (route level, so after the scope's hooks and requireAdmin):
  // the per-user rate limit (plugins/app/rate-limit.ts), counted in Redis so
  // it holds across instances; cached answers count too. For a GET the
  // cache may answer, the same Redis script also reads the entry, so a hit
  // is one round trip. A Redis failure never blocks a request.
  app.addHook('onRoute', app.rateLimit.onRoute)
  // preValidation: a cache hit answers here, before validation and the handler.
  app.addHook('preValidation', app.responseCache.hooks.preValidation)
  // onSend: a 200 GET is stored; a 2xx write invalidates what it changed
  // before its answer leaves (read-your-writes). Compression runs after it.
  app.addHook('onSend', app.responseCache.hooks.onSend)
  app.addHook('onResponse', app.responseCache.hooks.onResponse)
  // Cache-Control for this scope: a client may keep an answer but must
  // revalidate it (If-None-Match → 304) before use, so a browser never shows
  // data older than a write it made. Its own ETag store is unused: it is
  // global, not per user, and outlives writes; the response cache answers
  // conditional requests instead.
  await app.register(caching, { privacy: 'private, no-cache' })

  await app.register(userRoutes)
  await app.register(organizationRoutes)
  await app.register(contactRoutes)
  await app.register(interactionRoutes)
  await app.register(opportunityRoutes)
  await app.register(dashboardRoutes)
  await app.register(adminRoutes)
}

export default api
