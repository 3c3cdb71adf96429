import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Services } from '../../plugins/app/services'
import { commonErrors, DateTime, ErrorResponse, Uuid } from '../../schemas/common'

const Dashboard = Type.Object({
  userId: Uuid,
  totalOrganizations: Type.Integer({ description: 'non-deleted organizations assigned to the caller' }),
  highPriorityOrgs: Type.Integer({ description: '... of which priority A' }),
  totalContacts: Type.Integer({ description: 'non-deleted contacts of those organizations' }),
  interactionsThisMonth: Type.Integer({ description: 'interactions on them since the month began' }),
  activeOpportunities: Type.Integer({ description: 'opportunities on them not closed' }),
  wonRevenueThisQuarter: Type.String({ description: 'closed-won value with a close date this quarter, two-place decimal' }),
  refreshedAt: Type.Optional({ ...DateTime, description: 'when the figures were computed (absent before the first refresh)' })
})

const RefreshResult = Type.Object({
  refreshedAt: Type.Optional(DateTime),
  durationMs: Type.Number()
})

const security = [{ bearerAuth: [] }]

const dashboardRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { dashboard } = services

  app.get('/dashboard', {
    // Entries hang on the dashboard generation: as fresh as the last refresh, not the last write.
    config: { cache: 'dashboard' },
    schema: {
      tags: ['dashboard'], security, summary: 'The caller\'s figures, as fresh as the last refresh',
      response: { 200: Dashboard, ...commonErrors }
    }
  }, async (request) => await dashboard.forUser(request.caller.id))

  app.post('/admin/dashboard/refresh', {
    onRequest: app.requireAdmin,
    config: { invalidatesDashboard: true },
    schema: {
      tags: ['admin'], security, summary: 'Refresh the dashboard view now (readers are never blocked)',
      response: { 200: RefreshResult, 403: ErrorResponse, ...commonErrors }
    }
  }, async () => {
    const result = await dashboard.refresh({ wait: true })
    app.metrics.dashboardRefreshSeconds.observe(result.durationMs / 1000)
    return { refreshedAt: result.refreshedAt, durationMs: Math.round(result.durationMs) }
  })
}

export default dashboardRoutes
