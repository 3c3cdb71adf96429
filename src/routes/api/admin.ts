import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Runtime } from '../../schemas/admin'
import { commonErrors, ErrorResponse } from '../../schemas/common'

/** GET /admin/runtime: what the seed's managers exposed, for an operator at a glance. */
const adminRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/admin/runtime', {
    onRequest: app.requireAdmin,
    // Live figures: never cached.
    config: { cache: false },
    schema: {
      tags: ['admin'],
      security: [{ bearerAuth: [] }],
      summary: 'Pool, memory, cache and load-shedding statistics (admin)',
      response: { 200: Runtime, 403: ErrorResponse, ...commonErrors }
    }
  }, async () => {
    const { database } = app.config
    const pressure = app.memoryUsage()
    return {
      db: app.db.metrics(),
      memory: app.memoryMonitor.stats(),
      cache: { backend: app.responseCache.backend, status: await app.cacheStatus(), ...app.responseCache.stats() },
      pools: {
        database: { size: database.poolSize, min: database.poolMin, connectTimeoutMs: database.connectTimeoutMs, idleTimeoutMs: database.idleTimeoutMs },
        callerCache: app.callerCacheStats()
      },
      pressure: {
        underPressure: app.isUnderPressure(),
        // NaN until under-pressure has taken its first sample: absent rather than a non-number.
        ...(Number.isFinite(pressure.eventLoopDelay) ? { eventLoopDelay: pressure.eventLoopDelay } : {}),
        heapUsed: pressure.heapUsed,
        rssBytes: pressure.rssBytes
      },
      process: { pid: process.pid, uptimeSeconds: process.uptime(), node: process.version }
    }
  })
}

export default adminRoutes
