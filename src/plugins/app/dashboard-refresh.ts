// Refreshes dashboard_analytics every DASHBOARD_REFRESH_INTERVAL_MS (0 turns
// it off). With several instances, the advisory lock makes all but one skip.
// Also reports the view's age (dashboard_age_seconds), refreshed by any instance.
import fp from 'fastify-plugin'
import { Gauge } from 'prom-client'

export default fp(async (app) => {
  const { dashboard } = app.services
  // The refresh time is read only when a pooled connection is idle, so a
  // scrape never queues behind busy requests; otherwise the last value read
  // serves (the age keeps growing from it).
  let lastRefreshedAt: number | undefined
  new Gauge({ // eslint-disable-line no-new
    name: 'dashboard_age_seconds',
    help: 'Seconds since dashboard_analytics was last refreshed (by any instance); NaN when unknown',
    registers: [app.metrics.registry],
    async collect () {
      if (app.db.pool.idleCount > 0) {
        try {
          lastRefreshedAt = (await dashboard.lastRefreshedAt())?.getTime()
        } catch {
          // the scrape still answers while the database is down
        }
      }
      this.set(lastRefreshedAt === undefined ? Number.NaN : (Date.now() - lastRefreshedAt) / 1000)
    }
  })

  const interval = app.config.dashboardRefreshIntervalMs
  if (interval === 0) return
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
        // First record where the refresh ended in the WAL, so a dashboard read
        // is sent to the replica only once it has the refreshed view.
        return app.readReplica.recordWrite(['dash', 'all']).then(async () => await app.responseCache.invalidate({ dashboard: true }))
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
}, { name: 'dashboard-refresh', dependencies: ['services', 'metrics', 'response-cache', 'read-replica'] })
