import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { commonErrors, ErrorResponse } from '../../schemas/common'
import { Dashboard, DashboardRefresh } from '../../schemas/dashboard'

const security = [{ bearerAuth: [] }]

const dashboardRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { dashboard } = app.services

  app.get('/dashboard', {
    // Entries hang on the dashboard generation: as fresh as the last refresh, not the last write.
    config: { cache: 'dashboard' },
    schema: {
      tags: ['dashboard'],
      security,
      summary: 'The caller\'s figures, as fresh as the last refresh',
      response: { 200: Dashboard, ...commonErrors }
    }
  }, async (request) => await dashboard.forUser(request.caller.id))

  app.post('/admin/dashboard/refresh', {
    onRequest: app.requireAdmin,
    config: { invalidatesDashboard: true },
    schema: {
      tags: ['admin'],
      security,
      summary: 'Refresh the dashboard view now (readers are never blocked)',
      response: { 200: DashboardRefresh, 403: ErrorResponse, ...commonErrors }
    }
  }, async () => {
    const result = await dashboard.refresh({ wait: true })
    app.metrics.dashboardRefreshSeconds.observe(result.durationMs / 1000)
    return { refreshedAt: result.refreshedAt, durationMs: Math.round(result.durationMs) }
  })
}

export default dashboardRoutes
