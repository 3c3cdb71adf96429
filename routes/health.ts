import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'

const Health = Type.Object({ status: Type.Literal('ok') })
const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  database: Type.Union([Type.Literal('up'), Type.Literal('down')]),
  cache: Type.Union([Type.Literal('up'), Type.Literal('down')])
})

/** Liveness and readiness probes (contract §3), outside /api/v1 and unauthenticated. */
const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/health', {
    schema: { tags: ['operations'], summary: 'Liveness: the process serves', response: { 200: Health } }
  }, async () => ({ status: 'ok' as const }))

  app.get('/ready', {
    schema: {
      tags: ['operations'],
      summary: 'Readiness: the database answers (a cache outage only degrades)',
      response: { 200: Readiness, 503: Readiness }
    }
  }, async (_request, reply) => {
    const [databaseUp, cache] = await Promise.all([app.db.healthCheck(), app.cacheStatus()])
    const body = { status: databaseUp ? 'ok' as const : 'unavailable' as const, database: databaseUp ? 'up' as const : 'down' as const, cache }
    if (!databaseUp) {
      void reply.code(503).header('retry-after', '5')
    }
    return body
  })
}

export default healthRoutes
