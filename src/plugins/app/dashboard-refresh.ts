// Refreshes dashboard_analytics every DASHBOARD_REFRESH_INTERVAL_MS (0 turns
// it off). With several instances, the advisory lock makes all but one skip.
import type { FastifyPluginAsync } from 'fastify'
import { DashboardService } from '../../services/dashboard'

const dashboardRefresh: FastifyPluginAsync = async (app) => {
  const interval = app.config.dashboardRefreshIntervalMs
  if (interval === 0) return
  const { url, ssl, connectTimeoutMs } = app.config.database
  const dashboard = new DashboardService(app.db.prisma, { url: url as string, ssl, connectTimeoutMs })
  let running: Promise<void> | undefined

  const tick = (): void => {
    if (running !== undefined) return // the previous refresh is still going
    running = dashboard.refresh({ wait: false })
      .then((result) => {
        if (!result.refreshed) {
          app.log.debug('dashboard_analytics refresh skipped: another instance is refreshing')
          return
        }
        app.metrics.dashboardRefreshSeconds.observe(result.durationMs / 1000)
        app.log.info({ durationMs: Math.round(result.durationMs) }, 'dashboard_analytics refreshed')
        // Cached dashboards now show older figures than the view: drop them.
        return app.responseCache.invalidate({ dashboard: true })
      })
      .catch((err: unknown) => { app.log.warn({ err: { code: (err as { code?: string }).code, message: (err as Error).message } }, 'dashboard_analytics refresh failed') })
      .finally(() => { running = undefined })
  }

  const timer = setInterval(tick, interval)
  timer.unref()
  app.addHook('onClose', async () => {
    clearInterval(timer)
    await running
  })
}

export default dashboardRefresh
