// The API through a real PgBouncer in transaction pooling mode (contract §8),
// started by this file on a spare port in front of the machine's PostgreSQL,
// with fewer server connections (2) than the app's pool (8): concurrent
// requests share server connections, so session state or a named prepared
// statement would leak or break.
//
// - The control: the same PgBouncer breaks what this file proves works.
//   Without DATABASE_POOLER the service's connections send startup
//   parameters PgBouncer refuses (every write 503), and named statements used
//   from several client connections fail ("prepared statement … does not exist").
// - DATABASE_POOLER=transaction: creates, updates (If-Match), deletes, lists,
//   by-id reads and the dashboard (refresh, under its lock, and read), the
//   multi-row contact transaction (isPrimary clears the previous primary), in
//   concurrent waves; statuses, bodies and rows checked; PgBouncer's own
//   counters show the traffic went through it with at most 2 server connections.
// - Migrations: refused through the pooler without DATABASE_DIRECT_URL, done
//   through the direct URL, as `npm run db:migrate` in production (no JWT_SECRET).
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import t from 'tap'
import { as, createUsers, type TestUser } from '../helpers/api'
import { buildTestApp } from '../helpers/app'
import { ADMIN_URL, createTestDatabase, withClient } from '../helpers/database'
import { ensureCommand } from '../helpers/debian-package'
import { startPgbouncer, type TestPgbouncer } from '../helpers/pgbouncer'
import { until } from '../helpers/wait'
import { nodeArgs } from '../../scripts/lib/child-processes'

const API = '/api/v1'
const SERVER_POOL = 2
const APP_POOL = 8
const ENV = { RATE_LIMIT_MAX: '1000000', DASHBOARD_REFRESH_INTERVAL_MS: '0', DATABASE_POOL_SIZE: String(APP_POOL), DATABASE_POOL_MIN: '0' }
const run = promisify(execFile)

async function main (): Promise<void> {
  const found = await ensureCommand('pgbouncer', 'pgbouncer')
  if ('skip' in found) {
    t.comment(`SKIP: ${found.skip}`)
    t.pass('skipped: no PgBouncer')
    return
  }
  const upstream = new URL(ADMIN_URL)
  const db = await createTestDatabase('pgbouncer')
  t.teardown(db.drop)
  const bouncer: TestPgbouncer = await startPgbouncer({
    binary: found.path,
    upstream: { host: upstream.hostname, port: Number(upstream.port || 5432), user: decodeURIComponent(upstream.username) },
    poolSize: SERVER_POOL
  })
  t.teardown(bouncer.stop)
  const pooledUrl = bouncer.urlFor(db.name)

  t.test('control: this PgBouncer breaks a client with session startup parameters or named statements', async (t) => {
    const app = await buildTestApp(t, pooledUrl, { ...ENV, DATABASE_POOLER: 'none' })
    const [member] = await createUsers(app, db.url, ['member']) as [TestUser]
    const res = await as(app, member, { method: 'POST', url: `${API}/organizations`, payload: { name: 'control' } })
    t.equal(res.statusCode, 503, 'without DATABASE_POOLER a write fails (PgBouncer refuses the startup parameters)')
    t.equal(res.json().code, 'DATABASE_UNAVAILABLE')

    // Named statements from four client connections over two server connections.
    const pool = new pg.Pool({ connectionString: pooledUrl, max: 4 })
    pool.on('error', () => {})
    const errors: string[] = []
    await Promise.all(Array.from({ length: 4 }, async (_, loop) => {
      const client = await pool.connect()
      try {
        for (let i = 0; i < 15; i++) {
          try {
            await client.query({ name: 'crm_control', text: 'SELECT $1::int AS n', values: [i] })
          } catch (err) {
            errors.push((err as Error).message)
          }
          await new Promise((resolve) => setTimeout(resolve, loop))
        }
      } finally {
        client.release(true)
      }
    }))
    await pool.end()
    t.ok(errors.length > 0, `named statements break behind it (${errors.length} of 60 failed, e.g. "${errors[0] ?? ''}")`)
  })

  t.test('DATABASE_POOLER=transaction: the API works through it, under concurrency', async (t) => {
    const logFrom = bouncer.lines()
    const before = await bouncer.show('STATS')
    const xactsBefore = Number(before.find((r) => r.database === db.name)?.total_xact_count ?? 0)
    const app = await buildTestApp(t, pooledUrl, { ...ENV, DATABASE_POOLER: 'transaction' })
    const [admin, member] = await createUsers(app, db.url, ['admin', 'member']) as [TestUser, TestUser]
    const ready = await app.inject({ method: 'GET', url: '/ready' })
    t.equal(ready.statusCode, 200, '/ready through the pooler')

    // Wave 1: 24 organizations at once.
    const created = await Promise.all(Array.from({ length: 24 }, async (_, i) =>
      await as(app, i % 2 === 0 ? member : admin, { method: 'POST', url: `${API}/organizations`, payload: { name: `Bounced ${i}`, priorityLevel: 'A', annualRevenue: 1000 * i } })))
    t.same(created.map((r) => r.statusCode), created.map(() => 201), 'every create answers 201')
    const orgs = created.map((r) => r.json() as { id: string; name: string })
    const mine = orgs.filter((_, i) => i % 2 === 0)

    // Wave 2: per organization of the member, concurrently: two contacts
    // (the second isPrimary, a transaction that clears the first), an
    // interaction, a won opportunity, a by-id read and a list.
    const wave = await Promise.all(mine.map(async (org) => {
      const first = await as(app, member, { method: 'POST', url: `${API}/organizations/${org.id}/contacts`, payload: { firstName: 'First', lastName: org.name, isPrimary: true } })
      const second = await as(app, member, { method: 'POST', url: `${API}/organizations/${org.id}/contacts`, payload: { firstName: 'Second', lastName: org.name, isPrimary: true } })
      const interaction = await as(app, member, { method: 'POST', url: `${API}/organizations/${org.id}/interactions`, payload: { type: 'call', subject: 'through the pooler' } })
      const opportunity = await as(app, member, {
        method: 'POST',
        url: `${API}/organizations/${org.id}/opportunities`,
        payload: { name: 'Pooled deal', stage: 'closed-won', value: '100.00', closeDate: new Date().toISOString().slice(0, 10) }
      })
      const byId = await as(app, member, { method: 'GET', url: `${API}/organizations/${org.id}` })
      const list = await as(app, member, { method: 'GET', url: `${API}/organizations?limit=5` })
      return { org, first, second, interaction, opportunity, byId, list }
    }))
    for (const w of wave) {
      t.same([w.first.statusCode, w.second.statusCode, w.interaction.statusCode, w.opportunity.statusCode, w.byId.statusCode, w.list.statusCode],
        [201, 201, 201, 201, 200, 200], `${w.org.name}: contacts, interaction, opportunity, read, list`)
      t.equal(w.byId.json().id, w.org.id)
    }
    const primaries = await withClient(db.url, async (c) => (await c.query<{ first_name: string }>(
      'SELECT first_name FROM contacts WHERE is_primary AND NOT is_deleted AND organization_id = ANY($1::uuid[])', [mine.map((o) => o.id)])).rows)
    t.same(primaries.map((r) => r.first_name), mine.map(() => 'Second'), 'each organization has exactly one primary contact, the later one (the transaction committed whole)')

    // Wave 3: updates with If-Match and deletes, concurrently.
    const changes = await Promise.all(mine.map(async (org, i) => {
      const read = await as(app, member, { method: 'GET', url: `${API}/organizations/${org.id}` })
      if (i % 3 === 0) return { org, deleted: true, res: await as(app, member, { method: 'DELETE', url: `${API}/organizations/${org.id}` }) }
      const res = await as(app, member, { method: 'PATCH', url: `${API}/organizations/${org.id}`, headers: { 'if-match': read.headers.etag as string }, payload: { priorityLevel: 'C' } })
      const stale = await as(app, member, { method: 'PATCH', url: `${API}/organizations/${org.id}`, headers: { 'if-match': read.headers.etag as string }, payload: { priorityLevel: 'B' } })
      return { org, deleted: false, res, stale }
    }))
    for (const c of changes) {
      if (c.deleted) {
        t.equal(c.res.statusCode, 204, `${c.org.name}: deleted`)
      } else {
        t.equal(c.res.statusCode, 200, `${c.org.name}: patched`)
        t.equal(c.res.json().priorityLevel, 'C')
        t.equal(c.stale?.statusCode, 412, `${c.org.name}: a stale If-Match is refused`)
      }
    }
    const rows = await withClient(db.url, async (c) => (await c.query<{ id: string; priority_level: string; is_deleted: boolean }>(
      'SELECT id, priority_level, is_deleted FROM organizations WHERE id = ANY($1::uuid[])', [mine.map((o) => o.id)])).rows)
    for (const c of changes) {
      const row = rows.find((r) => r.id === c.org.id)
      t.same(row && (c.deleted ? row.is_deleted : row.priority_level), c.deleted ? true : 'C', `${c.org.name}: the row says so`)
    }
    const remaining = changes.filter((c) => !c.deleted).map((c) => c.org.id).sort()
    const listed = await as(app, member, { method: 'GET', url: `${API}/organizations?limit=100` })
    t.equal(listed.statusCode, 200)
    const listedIds = (listed.json().data as Array<{ id: string }>).map((o) => o.id).filter((id) => mine.some((o) => o.id === id)).sort()
    t.same(listedIds, remaining, 'the list shows the patched organizations and not the deleted ones')

    // The dashboard: its refresh (a transaction-scoped lock) and the read.
    const refresh = await as(app, admin, { method: 'POST', url: `${API}/admin/dashboard/refresh` })
    t.equal(refresh.statusCode, 200, 'dashboard refresh through the pooler')
    const dashboard = await as(app, member, { method: 'GET', url: `${API}/dashboard` })
    t.equal(dashboard.statusCode, 200)
    t.equal(dashboard.json().totalOrganizations, remaining.length, 'the dashboard counts the member\'s remaining organizations')

    // At least one transaction per write above (PgBouncer updates its counters every stats_period, 1 s).
    const writes = 24 + mine.length * 4 + changes.length * 2
    let xacts = 0
    await until('PgBouncer to count the transactions', async () => {
      const stats = await bouncer.show('STATS')
      xacts = Number(stats.find((r) => r.database === db.name)?.total_xact_count ?? 0) - xactsBefore
      return xacts >= writes
    }, 10_000).catch(() => {})
    t.ok(xacts >= writes, `the traffic went through PgBouncer (${xacts} transactions for ${writes} writes and the reads)`)
    const servers = (await bouncer.show('SERVERS')).filter((r) => r.database === db.name)
    t.ok(servers.length <= SERVER_POOL, `over at most ${SERVER_POOL} server connections (${servers.length} now) for an app pool of ${APP_POOL}`)
    t.ok(app.db.pool.totalCount > SERVER_POOL, `while the app held more client connections (${app.db.pool.totalCount}): they were shared`)
    t.notMatch(bouncer.log(logFrom), /not linked|unsupported startup parameter/, 'PgBouncer logged no protocol trouble')
  })

  t.test('migrations: refused through the pooler, done through DATABASE_DIRECT_URL, without JWT_SECRET', async (t) => {
    const migrate = path.join(__dirname, '..', '..', 'src', 'cli', 'migrate.ts')
    const env = { PATH: process.env.PATH, NODE_ENV: 'production', DATABASE_URL: pooledUrl, DATABASE_POOLER: 'transaction' }
    const refused = await run(process.execPath, nodeArgs(migrate), { env }).then(() => undefined, (err: { code?: number; stderr?: string }) => err)
    t.equal(refused?.code, 1, 'exit 1 without a direct connection')
    t.match(refused?.stderr, /migrations need DATABASE_DIRECT_URL/)
    const done = await run(process.execPath, nodeArgs(migrate), { env: { ...env, DATABASE_DIRECT_URL: db.url } })
    t.match(done.stdout, /0 applied, \d+ already applied/, 'through the direct URL: up to date')
  })
}

void main()
