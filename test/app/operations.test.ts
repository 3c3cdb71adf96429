// Operations (contract §3 /metrics and admin runtime, §5 load shedding):
// Prometheus series, the runtime view with the memory history, shedding
// under pressure, pool exhaustion answering 503, slow-query and request
// logging without values.
import { Writable } from 'node:stream'
import pino from 'pino'
import t from 'tap'
import { buildApp, loggerOptions } from '../../src/app'
import { as, createUsers } from '../helpers/api'
import { buildTestApp, closeOnTeardown, testConfig } from '../helpers/app'
import { withOracle } from '../helpers/openapi-oracle'
import { createTestDatabase } from '../helpers/database'
import { freePort } from '../helpers/net'
import { until } from '../helpers/wait'

interface LoggedApp {
  app: Awaited<ReturnType<typeof buildApp>>
  lines: () => Array<Record<string, unknown>>
  raw: () => string
}

/** An app whose log lines are kept (as parsed JSON) for the test to read. */
async function buildLoggedApp (t: { teardown: (fn: () => unknown) => void }, url: string, env: Record<string, string>): Promise<LoggedApp> {
  const config = testConfig(url, { LOG_LEVEL: 'info', ...env })
  const chunks: string[] = []
  const stream = new Writable({ write (chunk, _enc, done) { chunks.push(String(chunk)); done() } })
  const app = await buildApp({ config, loggerInstance: pino(loggerOptions(config), stream) })
  closeOnTeardown(t, app)
  await app.ready()
  withOracle(app)
  const raw = (): string => chunks.join('')
  return { app, raw, lines: () => raw().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) }
}

t.test('/metrics exposes every series the contract names', async (t) => {
  const db = await createTestDatabase('ops_metrics')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url)
  const [admin] = await createUsers(app, db.url, ['admin'])
  const org = await as(app, admin!, { method: 'POST', url: '/api/v1/organizations', payload: { name: 'Metered' } })
  await as(app, admin!, { method: 'GET', url: `/api/v1/organizations/${org.json().id as string}` })
  await as(app, admin!, { method: 'GET', url: '/api/v1/organizations/00000000-0000-4000-8000-000000000000' })
  await as(app, admin!, { method: 'POST', url: '/api/v1/admin/dashboard/refresh' })
  await app.inject({ method: 'GET', url: '/no/such/path/12345' })

  const res = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const body = res.body
  for (const series of [
    'http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/v1/organizations/:id",status_code="200"}',
    'http_request_duration_seconds_count{method="GET",route="/api/v1/organizations/:id",status_code="404"} 1',
    'http_request_duration_seconds_count{method="POST",route="/api/v1/organizations",status_code="201"} 1',
    'db_pool_connections_total ', 'db_pool_connections_idle ', 'db_pool_clients_waiting 0',
    'db_query_duration_seconds_count{query="select users",outcome="ok"}',
    'db_query_duration_seconds_bucket{le="0.001",query="insert organizations",outcome="ok"}',
    'db_queries_total ', 'db_query_errors_total 0',
    'cache_events_total{event="hit"}', 'cache_events_total{event="miss"}', 'cache_events_total{event="bypass"}', 'cache_events_total{event="error"}',
    'process_resident_memory_bytes ', 'nodejs_heap_size_used_bytes ', 'nodejs_eventloop_lag_seconds ', 'nodejs_eventloop_lag_p99_seconds ',
    'dashboard_refresh_duration_seconds_count 1', 'dashboard_age_seconds '
  ]) {
    t.ok(body.includes(series), series)
  }
  t.notOk(body.includes('12345'), 'unmatched URLs are not label values (bounded cardinality)')
  t.ok(body.includes('route="unmatched"'))
  const age = Number(/^dashboard_age_seconds (\S+)$/m.exec(body)?.[1])
  t.ok(age >= 0 && age < 60, `the view was refreshed moments ago (${age} s)`)
  const queries = Number(/^db_queries_total (\d+)$/m.exec(body)?.[1])
  t.equal(queries, app.db.metrics().queryCount - 1, 'the same count the pool metrics keep (minus the age query of this scrape)')
})

t.test('METRICS_PORT serves /metrics on its own port only', async (t) => {
  const db = await createTestDatabase('ops_metrics_port')
  t.teardown(db.drop)
  const metricsPort = await freePort()
  const app = await buildTestApp(t, db.url, { METRICS_PORT: String(metricsPort) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const mainPort = (app.server.address() as { port: number }).port
  const separate = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
  t.equal(separate.status, 200)
  t.match(await separate.text(), /http_request_duration_seconds/)
  t.equal((await fetch(`http://127.0.0.1:${mainPort}/metrics`)).status, 404, 'not on the public port')
  t.equal((await fetch(`http://127.0.0.1:${mainPort}/health`)).status, 200)
})

t.test('admin runtime: pool, memory history, cache and pressure', async (t) => {
  const db = await createTestDatabase('ops_runtime')
  t.teardown(db.drop)
  const { app, lines } = await buildLoggedApp(t, db.url, { MEMORY_SAMPLE_INTERVAL_MS: '20', MEMORY_HISTORY_SIZE: '3', MEMORY_WARN_RATIO: '0.0001' })
  const [admin, member] = await createUsers(app, db.url, ['admin', 'member'])

  const denied = await as(app, member!, { method: 'GET', url: '/api/v1/admin/runtime' })
  t.equal(denied.statusCode, 403)
  t.equal(denied.json().code, 'FORBIDDEN')

  await as(app, admin!, { method: 'GET', url: '/api/v1/users/me' })
  await as(app, admin!, { method: 'GET', url: '/api/v1/users/me' })
  await until('three memory samples', async () => app.memoryMonitor.stats().history.length === 3)
  await new Promise((resolve) => setTimeout(resolve, 100))
  const res = await as(app, admin!, { method: 'GET', url: '/api/v1/admin/runtime' })
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['cache', 'db', 'memory', 'pools', 'pressure', 'process'])
  t.same(Object.keys(body.db).sort(), ['averageQueryTime', 'errorCount', 'idleConnections', 'queryCount', 'totalConnections', 'waitingClients'])
  t.ok(body.db.queryCount >= 1)
  t.ok(body.db.totalConnections >= 1 && body.db.totalConnections <= 20)
  t.equal(body.memory.history.length, 3, 'only the last MEMORY_HISTORY_SIZE samples are kept')
  t.ok(new Date(body.memory.history[2].at) > new Date(body.memory.history[0].at), 'oldest first')
  t.ok(body.memory.average.heapUsed > 0)
  t.ok(body.memory.current.rss > 0)
  t.ok(body.memory.warnings > 0, 'samples above the warning ratio are counted')
  t.ok(lines().some((l) => l.msg === 'high memory usage' && l.level === 40), 'and logged as warnings')
  const counters = { backend: 'redis', status: 'up', hits: 1, misses: 1, bypasses: 0, errors: 0, coalesced: 0, compressions: 0, inFlight: 0 }
  // The hit read the entry's bytes from Redis and kept a copy; none served from a copy yet.
  const local = { entries: 1, bytes: body.cache.local.bytes, maxBytes: 33554432, served: 0 }
  t.same(body.cache, { ...counters, local }, 'one miss then one hit of /users/me; the runtime itself is never cached')
  t.same(body.pools.database, { size: 20, min: 2, connectTimeoutMs: 5000, idleTimeoutMs: 30000 })
  t.same(body.pools.callerCache, { size: 2, max: 50_000, ttlMs: 30_000 }, 'the caller cache holds the admin and the member')
  t.equal(body.pressure.underPressure, false)
  t.equal(body.process.pid, process.pid)
})

t.test('load shedding: 503 with Retry-After under pressure, /health and /metrics still answer', async (t) => {
  const db = await createTestDatabase('ops_pressure')
  t.teardown(db.drop)
  // A heap limit of one byte: under pressure from the first sample on.
  const app = await buildTestApp(t, db.url, { MAX_HEAP_USED_BYTES: '1', PRESSURE_SAMPLE_INTERVAL_MS: '20' })
  const [member] = await createUsers(app, db.url, ['member'])
  await until('pressure to be noticed', async () => app.isUnderPressure())

  const shed = await as(app, member!, { method: 'GET', url: '/api/v1/organizations' })
  t.equal(shed.statusCode, 503)
  t.equal(shed.headers['retry-after'], '5')
  t.same(shed.json(), { statusCode: 503, error: 'Service Unavailable', message: 'The service is overloaded; retry shortly', code: 'OVERLOADED' })
  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503, 'readiness says so: the balancer drains this instance')
  t.same(ready.json(), { status: 'unavailable', database: 'up', cache: 'up', replica: 'off', overloaded: true })
  t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200, 'liveness does not flap under load')
  t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200, 'metrics stay observable')
})

t.test('an exhausted pool answers 503 after the connect timeout, then recovers', async (t) => {
  const db = await createTestDatabase('ops_pool')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url, { DATABASE_POOL_SIZE: '1', DATABASE_POOL_MIN: '0', DATABASE_CONNECT_TIMEOUT_MS: '300' })
  const [member] = await createUsers(app, db.url, ['member'])
  t.equal((await as(app, member!, { method: 'GET', url: '/api/v1/users/me' })).statusCode, 200)

  // A slow query holds the only connection.
  const slow = app.db.pool.query('SELECT pg_sleep(1.5)')
  await until('the slow query to hold the connection', async () => app.db.metrics().idleConnections === 0 && app.db.metrics().totalConnections === 1)
  const exhausted = await as(app, member!, { method: 'GET', url: '/api/v1/organizations' })
  t.equal(exhausted.statusCode, 503)
  t.equal(exhausted.headers['retry-after'], '5')
  t.equal(exhausted.json().code, 'DATABASE_UNAVAILABLE')
  t.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 503)
  await slow
  const recovered = await as(app, member!, { method: 'GET', url: '/api/v1/organizations' })
  t.equal(recovered.statusCode, 200, 'the pool serves again once the connection is free')
  t.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 200)
})

t.test('logs: slow queries by name, request lines with an id, no values or credentials', async (t) => {
  const db = await createTestDatabase('ops_logs')
  t.teardown(db.drop)
  const { app, lines, raw } = await buildLoggedApp(t, db.url, { SLOW_QUERY_MS: '1' })
  const [member] = await createUsers(app, db.url, ['member'])
  const res = await as(app, member!, { method: 'GET', url: '/api/v1/organizations?search=secret-term-xyz', headers: { 'x-request-id': 'trace-me-7' } })
  t.equal(res.statusCode, 200)
  const slow = lines().filter((l) => l.msg === 'slow query')
  t.ok(slow.length > 0, 'a slow-query line (threshold 1 ms)')
  t.ok(slow.some((l) => l.query === 'with organizations'), 'named by statement (the organization list: WITH page AS (… FROM organizations …))')
  t.ok(slow.every((l) => typeof l.durationMs === 'number'))
  const requestLines = lines().filter((l) => l.reqId === 'trace-me-7')
  t.ok(requestLines.some((l) => l.msg === 'incoming request') && requestLines.some((l) => l.msg === 'request completed'), 'request lines carry the request id')
  t.ok(requestLines.some((l) => l.msg === 'slow query'), 'so do query lines logged during the request')
  t.notOk(raw().includes('secret-term-xyz'), 'neither the search term nor any SQL parameter is logged')
  t.notOk(raw().includes(member!.headers.authorization.slice(7)), 'the token is never logged')
  t.notMatch(raw(), /SELECT|\bFROM\b|WHERE/, 'nor SQL text (statement names are lower-case words)')
})
