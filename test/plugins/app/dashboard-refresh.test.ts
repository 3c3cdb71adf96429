// One refresh of dashboard_analytics at a time across instances: the
// periodic refresh skips while another session holds the advisory lock, and
// the admin refresh waits for it (readers are never blocked meanwhile).
import t from 'tap'
import pg from 'pg'
import { DASHBOARD_REFRESH_LOCK, DashboardService } from '../../../src/services/dashboard'
import { as, createUsers } from '../../helpers/api'
import { buildTestApp } from '../../helpers/app'
import { createTestDatabase, withClient } from '../../helpers/database'
import { until } from '../../helpers/wait'

async function refreshedAt (url: string): Promise<Date | null> {
  return await withClient(url, async (c) => (await c.query<{ at: Date | null }>('SELECT max(refreshed_at) AS at FROM dashboard_analytics')).rows[0]!.at)
}

t.test('the refresh lock', async (t) => {
  const db = await createTestDatabase('dash_lock')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url, { DASHBOARD_REFRESH_INTERVAL_MS: '100' })
  const [admin, member] = await createUsers(app, db.url, ['admin', 'member'])
  const holder = new pg.Client({ connectionString: db.url })
  await holder.connect()
  t.teardown(async () => await holder.end())

  // The periodic refresh runs while nobody holds the lock.
  await until('a periodic refresh', async () => (await refreshedAt(db.url)) !== null)

  await holder.query('SELECT pg_advisory_lock($1)', [DASHBOARD_REFRESH_LOCK])
  const service = new DashboardService(app.db.prisma, { url: db.url, ssl: false, connectTimeoutMs: 2000 })
  const skipped = await service.refresh({ wait: false })
  t.equal(skipped.refreshed, false, 'another session is refreshing: this one skips')
  t.equal(skipped.refreshedAt, undefined)

  // While the lock is held no instance refreshes: the view's time stands still.
  const frozen = await refreshedAt(db.url)
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.same(await refreshedAt(db.url), frozen, 'the periodic refresh skipped every tick')

  // The admin refresh queues behind the lock instead of running alongside.
  const pending = as(app, admin!, { method: 'POST', url: '/api/v1/admin/dashboard/refresh' })
  await until('the admin refresh to wait on the lock', async () => await withClient(db.url, async (c) =>
    (await c.query('SELECT 1 FROM pg_stat_activity WHERE application_name = \'crm-service dashboard refresh\' AND wait_event_type = \'Lock\'')).rowCount === 1))
  const during = await as(app, member!, { method: 'GET', url: '/api/v1/dashboard' })
  t.equal(during.statusCode, 200, 'readers are not blocked by a waiting refresh')

  // The holder refreshes too, in a transaction begun after the waiting one's:
  // the view's time must still only move forward once that one has run.
  await holder.query('BEGIN')
  await holder.query('SELECT refresh_dashboard_analytics()')
  await holder.query('COMMIT')
  const holders = await refreshedAt(db.url)
  await holder.query('SELECT pg_advisory_unlock($1)', [DASHBOARD_REFRESH_LOCK])
  const done = await pending
  t.equal(done.statusCode, 200)
  t.ok(new Date(done.json().refreshedAt) > (frozen as Date), 'it refreshed once the lock was free')
  t.ok(new Date(done.json().refreshedAt) > (holders as Date), 'its time is later than the refresh it waited for')
  t.ok((await refreshedAt(db.url))! >= new Date(done.json().refreshedAt), "the view's time never steps back")
  t.type(done.json().durationMs, 'number')
  await until('periodic refreshes to resume', async () => (await refreshedAt(db.url))! > new Date(done.json().refreshedAt))
})

t.test('reads during a refresh in progress', async (t) => {
  // A refresh that has begun holds its EXCLUSIVE lock on the view while it
  // reads the base tables. Holding contacts from another session freezes it
  // at exactly that point, so the reads below happen mid-refresh for certain.
  const db = await createTestDatabase('dash_during')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url)
  const [admin, member] = await createUsers(app, db.url, ['admin', 'member'])
  const created = await as(app, member!, { method: 'POST', url: '/api/v1/organizations', payload: { name: 'Mid-refresh Ltd' } })
  t.equal(created.statusCode, 201)
  const first = await as(app, admin!, { method: 'POST', url: '/api/v1/admin/dashboard/refresh' })
  t.equal(first.statusCode, 200)

  const holder = new pg.Client({ connectionString: db.url })
  await holder.connect()
  t.teardown(async () => await holder.end())
  await holder.query('BEGIN')
  await holder.query('LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE')

  const pending = as(app, admin!, { method: 'POST', url: '/api/v1/admin/dashboard/refresh' })
  await until('the refresh to hold the view and wait on contacts', async () => await withClient(db.url, async (c) =>
    (await c.query(`SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                    WHERE a.application_name = 'crm-service dashboard refresh'
                      AND l.relation = 'dashboard_analytics'::regclass AND l.mode = 'ExclusiveLock' AND l.granted`)).rowCount === 1))

  for (let i = 0; i < 5; i++) {
    const during = await as(app, member!, { method: 'GET', url: `/api/v1/dashboard?i=${i}`, headers: { 'x-no-compression': '1' } })
    t.equal(during.statusCode, 200, `read ${i} answered while the refresh was in progress`)
    t.equal(during.json().totalOrganizations, 1, 'with the previous contents of the view')
  }
  const stillRunning = await withClient(db.url, async (c) =>
    (await c.query('SELECT 1 FROM pg_stat_activity WHERE application_name = \'crm-service dashboard refresh\' AND wait_event_type = \'Lock\'')).rowCount)
  t.equal(stillRunning, 1, 'the refresh was still in progress when the reads finished')

  await holder.query('COMMIT')
  const done = await pending
  t.equal(done.statusCode, 200, 'the refresh completes once contacts is free')
})
