import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Health, Readiness } from '../schemas/health'

/** Liveness and readiness probes (contract §3), outside /api/v1 and unauthenticated. */
const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/health', {
    // Never shed: a busy process is alive, and restarting it would make things worse.
    config: { pressureHandler: () => undefined },
    schema: { tags: ['operations'], summary: 'Liveness: the process serves', response: { 200: Health } }
  }, async () => ({ status: 'ok' as const }))

  app.get('/ready', {
    // Answered even under pressure, to say so (503) rather than by the generic error.
    config: { pressureHandler: () => undefined },
    schema: {
      tags: ['operations'],
      summary: 'Readiness: the database answers and the process is not shedding load (a cache outage only degrades)',
      response: { 200: Readiness, 503: Readiness }
    }
  }, async (_request, reply) => {
    const [databaseUp, cache] = await Promise.all([app.db.healthCheck(), app.cacheStatus()])
    const overloaded = app.isUnderPressure()
    const ready = databaseUp && !overloaded
    const body = { status: ready ? 'ok' as const : 'unavailable' as const, database: databaseUp ? 'up' as const : 'down' as const, cache, replica: app.readReplica.status(), ...(overloaded ? { overloaded } : {}) }
    if (!ready) {
      void reply.code(503).header('retry-after', '5')
    }
    return body
  })
}

export default healthRoutes
