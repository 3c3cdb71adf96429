// Prometheus metrics (prom-client) at GET /metrics, or on METRICS_PORT when
// set (a port the load balancer does not expose). One registry per app, so
// several apps in one process (tests) never mix their series.
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

export interface AppMetrics {
  registry: Registry
  /** Response cache outcomes: hit, miss, bypass (Redis unreachable), error. */
  cacheEvents: Counter<'event'>
  dashboardRefreshSeconds: Histogram
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: AppMetrics
  }
}

const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

export default fp(async (app) => {
  const registry = new Registry()
  // Heap, RSS, event-loop delay (nodejs_eventloop_lag_*), GC, handles.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 })

  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route pattern and status',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry]
  })
  // Callback style: it waits for nothing, so no promise per answer.
  app.addHook('onResponse', (request, reply, done) => {
    // The route pattern, never the raw URL: bounded label values.
    const route = request.routeOptions.url ?? 'unmatched'
    httpDuration.observe({ method: request.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000)
    done()
  })

  const pool = (name: string, help: string, read: () => number): Gauge => new Gauge({
    name, help, registers: [registry], collect () { this.set(read()) }
  })
  pool('db_pool_connections_total', 'Connections in the database pool', () => app.db.metrics().totalConnections)
  pool('db_pool_connections_idle', 'Idle connections in the database pool', () => app.db.metrics().idleConnections)
  pool('db_pool_clients_waiting', 'Requests waiting for a database connection', () => app.db.metrics().waitingClients)

  const queryDuration = new Histogram({
    name: 'db_query_duration_seconds',
    help: 'Database query duration by statement name (verb and first table or function)',
    labelNames: ['query', 'outcome'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry]
  })
  app.db.onQuery = (ms, failed, name) => queryDuration.observe({ query: name, outcome: failed ? 'error' : 'ok' }, ms / 1000)
  // The histogram's _count is the query count; this one keeps the total since start in one series.
  pool('db_queries_total', 'Queries run since start', () => app.db.metrics().queryCount)
  pool('db_query_errors_total', 'Queries failed since start', () => app.db.metrics().errorCount)

  const cacheEvents = new Counter({
    name: 'cache_events_total',
    help: 'Response cache outcomes: hit, miss, bypass (cache unreachable), error',
    labelNames: ['event'] as const,
    registers: [registry]
  })
  for (const event of ['hit', 'miss', 'bypass', 'error']) cacheEvents.inc({ event }, 0)

  const dashboardRefreshSeconds = new Histogram({
    name: 'dashboard_refresh_duration_seconds',
    help: 'Duration of dashboard_analytics refreshes run by this instance',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [registry]
  })
  app.decorate('metrics', { registry, cacheEvents, dashboardRefreshSeconds })

  const serve = (target: FastifyInstance): void => {
    target.get('/metrics', {
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics (text exposition format)',
        // Per status: its errors are JSON like every other route's.
        response: { 200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } }
      },
      // Load shedding never hides the metrics that explain it.
      config: { pressureHandler: () => undefined }
    }, async (_request, reply) => {
      const body = await registry.metrics()
      return await reply.type(registry.contentType).send(body)
    })
  }

  const port = app.config.metricsPort
  if (port === undefined) {
    serve(app)
    return
  }
  const metricsServer = Fastify({ logger: false })
  serve(metricsServer)
  // onReady is awaited (onListen is not): the port is serving once the app is ready.
  app.addHook('onReady', async () => {
    await metricsServer.listen({ port, host: app.config.host })
    app.log.info({ port: (metricsServer.server.address() as { port: number }).port }, 'metrics listening')
  })
  app.addHook('onClose', async () => { await metricsServer.close() })
}, { name: 'metrics', dependencies: ['config', 'db'] })
