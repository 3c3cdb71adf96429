import t from 'tap'
import { Database, safeDbError } from '../../src/lib/database'
import { isDatabaseUnavailable, isTimeout } from '../../src/plugins/external/errors'
import { buildTestApp, testConfig } from '../helpers/app'
import { createTestDatabase, withClient } from '../helpers/database'
import { freePort } from '../helpers/net'

const quiet = { warn () {}, error () {} }

function open (url: string, env: Record<string, string> = {}): Database {
  return new Database({ ...testConfig(url, env).database, url }, quiet)
}

t.test('pool and query metrics, as the seed\'s DatabaseManager reported them', async (t) => {
  const testDb = await createTestDatabase('db_metrics')
  t.teardown(testDb.drop)
  const db = open(testDb.url, { DATABASE_POOL_SIZE: '4', DATABASE_POOL_MIN: '2' })
  t.teardown(async () => await db.close())

  await db.warmUp()
  const before = db.metrics()
  t.equal(before.totalConnections, 2, 'min connections opened at start')
  t.equal(before.idleConnections, 2)
  t.equal(before.waitingClients, 0)

  await db.prisma.user.count()
  await db.prisma.$queryRaw`SELECT 1`
  await db.pool.query('SELECT 2')
  const after = db.metrics()
  t.ok(after.queryCount >= before.queryCount + 3, `every query counted (${before.queryCount} -> ${after.queryCount})`)
  t.ok(after.averageQueryTime > 0, 'average query time measured')
  t.ok(after.totalConnections <= 4, 'never more than DATABASE_POOL_SIZE')

  await db.pool.query('SELECT * FROM no_such_table').catch(() => {})
  t.equal(db.metrics().errorCount, after.errorCount + 1, 'failed queries counted')
  t.equal(await db.healthCheck(), true)
})

t.test('transaction(): all or nothing', async (t) => {
  const testDb = await createTestDatabase('db_tx')
  t.teardown(testDb.drop)
  const db = open(testDb.url)
  t.teardown(async () => await db.close())

  await t.rejects(db.transaction(async (tx) => {
    await tx.user.create({ data: { email: 'first@example.com', name: 'First' } })
    await tx.user.create({ data: { email: 'FIRST@example.com', name: 'Duplicate (citext)' } })
  }), { code: 'P2002' }, 'the second insert violates the case-insensitive unique email')
  t.equal(await db.prisma.user.count(), 0, 'the first insert was rolled back too')

  const user = await db.transaction(async (tx) => await tx.user.create({ data: { email: 'ok@example.com', name: 'Ok' } }))
  await withClient(testDb.url, async (c) => {
    const { rows } = await c.query('SELECT email, role, is_active FROM users WHERE id = $1', [user.id])
    t.same(rows, [{ email: 'ok@example.com', role: 'member', is_active: true }], 'committed with the schema defaults')
  })
})

t.test('updated_at is maintained by the database', async (t) => {
  const testDb = await createTestDatabase('db_updated_at')
  t.teardown(testDb.drop)
  await withClient(testDb.url, async (c) => {
    const { rows: [u] } = await c.query("INSERT INTO users (email, name) VALUES ('a@example.com', 'A') RETURNING id, updated_at")
    await c.query("UPDATE users SET name = 'B' WHERE id = $1", [u.id])
    const { rows: [v] } = await c.query('SELECT updated_at FROM users WHERE id = $1', [u.id])
    t.ok(v.updated_at > u.updated_at, 'a raw SQL update moves updated_at forward')
  })
})

t.test('an exhausted pool fails after the connect timeout instead of queueing forever', async (t) => {
  const testDb = await createTestDatabase('db_exhausted')
  t.teardown(testDb.drop)
  const env = { DATABASE_POOL_SIZE: '1', DATABASE_POOL_MIN: '0', DATABASE_CONNECT_TIMEOUT_MS: '300' }
  const db = open(testDb.url, env)
  t.teardown(async () => await db.close())

  const slow = db.pool.query('SELECT pg_sleep(1.5)')
  const err = await db.pool.query('SELECT 1').catch((e: unknown) => e)
  t.match((err as Error).message, /timeout exceeded when trying to connect/)
  t.ok(isDatabaseUnavailable(err), 'classified as "database unavailable" (answers 503)')
  await slow
  t.same((await db.pool.query('SELECT 1 AS one')).rows, [{ one: 1 }], 'the pool recovers once the connection is free')

  // The same through HTTP: readiness says 503 while no connection can be had.
  const app = await buildTestApp(t, testDb.url, env)
  const hold = app.db.pool.query('SELECT pg_sleep(1.5)')
  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503)
  t.equal(ready.headers['retry-after'], '5')
  await hold
  t.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 200, 'and 200 again afterwards')
})

t.test('a timeout is told apart from a connection refused at once (a replica read retries only the latter on the primary)', async (t) => {
  const testDb = await createTestDatabase('db_timeouts')
  t.teardown(testDb.drop)
  // The client's query timeout and the server's statement_timeout are the same value: either may fire first.
  const db = open(testDb.url, { DATABASE_QUERY_TIMEOUT_MS: '50' })
  t.teardown(async () => await db.close())
  const slow = await db.prisma.$queryRaw`SELECT pg_sleep(2)`.catch((e: unknown) => e)
  t.type(slow, Error, 'the query failed')
  t.ok(isDatabaseUnavailable(slow), 'a query timeout answers 503')
  t.ok(isTimeout(slow), 'and is a timeout, through Prisma\'s error')
  const serverSide = await withClient(testDb.url, async (c) => {
    await c.query("SET statement_timeout = '50ms'")
    return await c.query('SELECT pg_sleep(2)').catch((e: unknown) => e)
  })
  t.equal((serverSide as { code?: string }).code, '57014')
  t.ok(isTimeout(serverSide), 'a statement timeout is a timeout')

  const refused = new Database({ ...testConfig(testDb.url).database, url: `postgresql://root@127.0.0.1:${await freePort()}/none`, poolMin: 0 }, quiet)
  t.teardown(async () => await refused.close())
  const lost = await refused.prisma.$queryRaw`SELECT 1`.catch((e: unknown) => e)
  t.type(lost, Error, 'the query failed')
  t.ok(isDatabaseUnavailable(lost), 'a refused connection answers 503')
  t.notOk(isTimeout(lost), 'and is no timeout')
})

t.test('errors are logged without values', async (t) => {
  const testDb = await createTestDatabase('db_safe_errors')
  t.teardown(testDb.drop)
  await withClient(testDb.url, async (c) => {
    await c.query("INSERT INTO users (email, name) VALUES ('secret-value@example.com', 'A')")
    const err = await c.query("INSERT INTO users (email, name) VALUES ('secret-value@example.com', 'B')").catch((e: unknown) => e)
    const logged = JSON.stringify(safeDbError(err))
    t.match(logged, /"code":"23505"/)
    t.match(logged, /"constraint":"users_email_key"/)
    t.notMatch(logged, /secret-value/, 'the duplicate value is not in the logged fields')
    t.match(JSON.stringify(err), /secret-value/, 'although the raw error carries it')
  })
})
