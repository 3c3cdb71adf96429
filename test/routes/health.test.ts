import t from 'tap'
import { buildTestApp } from '../helpers/app'
import { createTestDatabase } from '../helpers/database'
import { freePort } from '../helpers/net'

t.test('health and readiness with the database and Redis up', async (t) => {
  const db = await createTestDatabase('health')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url)

  const health = await app.inject({ method: 'GET', url: '/health' })
  t.equal(health.statusCode, 200)
  t.same(health.json(), { status: 'ok' })
  t.match(health.headers['content-type'], /^application\/json; charset=utf-8/)
  t.match(health.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'a request id is generated')

  const echoed = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'client-req-42' } })
  t.equal(echoed.headers['x-request-id'], 'client-req-42', 'the client\'s request id is echoed')

  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ok', database: 'up', cache: 'up', replica: 'off' })

  const missing = await app.inject({ method: 'GET', url: '/no/such/route?x=1' })
  t.equal(missing.statusCode, 404)
  t.same(missing.json(), { statusCode: 404, error: 'Not Found', message: 'Route GET /no/such/route not found', code: 'NOT_FOUND' })
})

t.test('a Redis outage only degrades readiness: still 200, cache "down"', async (t) => {
  const db = await createTestDatabase('health_redis')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url, { REDIS_URL: `redis://127.0.0.1:${await freePort()}` })
  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ok', database: 'up', cache: 'down', replica: 'off' })
  t.same((await app.inject({ method: 'GET', url: '/health' })).json(), { status: 'ok' })
})

t.test('without REDIS_URL the in-process cache counts as up', async (t) => {
  const db = await createTestDatabase('health_nocache')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url, { REDIS_URL: undefined })
  t.same((await app.inject({ method: 'GET', url: '/ready' })).json(), { status: 'ok', database: 'up', cache: 'up', replica: 'off' })
})

t.test('an unreachable database: the app still starts, /ready answers 503 with Retry-After, /health 200', async (t) => {
  const deadUrl = `postgresql://root@127.0.0.1:${await freePort()}/nothing`
  const app = await buildTestApp(t, deadUrl, { DATABASE_CONNECT_TIMEOUT_MS: '500' })
  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503)
  t.equal(ready.headers['retry-after'], '5')
  t.same(ready.json(), { status: 'unavailable', database: 'down', cache: 'up', replica: 'off' })
  t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200, 'liveness does not depend on the database')
})
