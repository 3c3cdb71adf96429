// The dashboard (contract §1, §3, §5): every figure of a member's
// dashboard_analytics row equals a direct query on the base tables, on data
// with the contacts × interactions × opportunities fan-out that made the
// seed's view overstate; the figures stay as they were until the next
// refresh; the admin refresh endpoint and the periodic refresh.
import t from 'tap'
import type pg from 'pg'
import type { FastifyInstance } from 'fastify'
import { buildTestApp } from '../../helpers/app'
import { createTestDatabase, withClient, type TestDatabase } from '../../helpers/database'
import { as, createUsers, type TestUser } from '../../helpers/api'

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/
const DASHBOARD_KEYS = ['activeOpportunities', 'highPriorityOrgs', 'interactionsThisMonth', 'refreshedAt', 'totalContacts', 'totalOrganizations', 'userId', 'wonRevenueThisQuarter']

// Instants and dates as SQL expressions, so month and quarter boundaries are
// the database's own (date_trunc), whatever day the test runs on.
const MONTH_START = "date_trunc('month', now())"
const MID_THIS_MONTH = "date_trunc('month', now()) + (now() - date_trunc('month', now())) / 2"
const JUST_BEFORE_MONTH = "date_trunc('month', now()) - interval '1 microsecond'"
const LAST_MONTH = "date_trunc('month', now()) - interval '10 days'"
const LAST_YEAR = "now() - interval '1 year'"
const QUARTER_START = "date_trunc('quarter', now())::date"
const QUARTER_END = "(date_trunc('quarter', now()) + interval '3 months' - interval '1 day')::date"
const TODAY = 'current_date'
const LAST_QUARTER_END = "(date_trunc('quarter', now()) - interval '1 day')::date"
const LAST_QUARTER_MID = "(date_trunc('quarter', now()) - interval '45 days')::date"
const NEXT_QUARTER_START = "(date_trunc('quarter', now()) + interval '3 months')::date"

interface Figures {
  userId: string
  totalOrganizations: number
  highPriorityOrgs: number
  totalContacts: number
  interactionsThisMonth: number
  activeOpportunities: number
  wonRevenueThisQuarter: string
}

/** Direct SQL on organizations, contacts, interactions and opportunities: one plain query per figure. */
async function expectedFigures (db: TestDatabase, userId: string): Promise<Figures> {
  return await withClient(db.url, async (client) => {
    const one = async (sql: string): Promise<string> => (await client.query<{ v: string }>(sql, [userId])).rows[0]!.v
    const owned = 'SELECT id FROM organizations WHERE assigned_user_id = $1 AND is_deleted = false'
    return {
      userId,
      totalOrganizations: Number(await one('SELECT count(*)::text AS v FROM organizations WHERE assigned_user_id = $1 AND is_deleted = false')),
      highPriorityOrgs: Number(await one("SELECT count(*)::text AS v FROM organizations WHERE assigned_user_id = $1 AND is_deleted = false AND priority_level = 'A'")),
      totalContacts: Number(await one(`SELECT count(*)::text AS v FROM contacts WHERE is_deleted = false AND organization_id IN (${owned})`)),
      interactionsThisMonth: Number(await one(`SELECT count(*)::text AS v FROM interactions WHERE created_at >= date_trunc('month', now()) AND organization_id IN (${owned})`)),
      activeOpportunities: Number(await one(`SELECT count(*)::text AS v FROM opportunities WHERE stage NOT IN ('closed-won', 'closed-lost') AND organization_id IN (${owned})`)),
      wonRevenueThisQuarter: await one(`
        SELECT to_char(coalesce(sum(value), 0), 'FM999999999999990.00') AS v FROM opportunities
        WHERE stage = 'closed-won'
          AND close_date >= date_trunc('quarter', now())::date
          AND close_date < (date_trunc('quarter', now()) + interval '3 months')::date
          AND organization_id IN (${owned})`)
    }
  })
}

/** The seed's view query for one user: joins every table at once, so sums are multiplied by the fan-out. */
async function seedViewFigures (db: TestDatabase, userId: string): Promise<{ won: string; active: number }> {
  return await withClient(db.url, async (client) => {
    const { rows } = await client.query<{ won: string; active: string }>(`
      SELECT coalesce(SUM(CASE WHEN op.stage = 'closed-won' THEN op.value ELSE 0 END), 0)::text AS won,
             COUNT(DISTINCT op.id)::text AS active
      FROM users u
      LEFT JOIN organizations o ON u.id = o.assigned_user_id AND o.is_deleted = FALSE
      LEFT JOIN contacts c ON o.id = c.organization_id AND c.is_deleted = FALSE
      LEFT JOIN interactions i ON o.id = i.organization_id AND i.created_at >= date_trunc('month', CURRENT_DATE)
      LEFT JOIN opportunities op ON o.id = op.organization_id
        AND (op.stage NOT IN ('closed-won', 'closed-lost') OR (op.stage = 'closed-won' AND op.close_date >= date_trunc('quarter', CURRENT_DATE)))
      WHERE u.id = $1
      GROUP BY u.id`, [userId])
    return { won: rows[0]!.won, active: Number(rows[0]!.active) }
  })
}

async function viewRow (db: TestDatabase, userId: string): Promise<Record<string, unknown> | undefined> {
  return await withClient(db.url, async (client) => (await client.query('SELECT * FROM dashboard_analytics WHERE user_id = $1', [userId])).rows[0])
}

async function viewRefreshedAt (db: TestDatabase): Promise<Date | null> {
  return await withClient(db.url, async (client) => (await client.query<{ at: Date | null }>('SELECT max(refreshed_at) AS at FROM dashboard_analytics')).rows[0]!.at)
}

// Base-table inserts with explicit timestamps and dates (SQL expressions above).
interface Org { id: string; contacts: string[] }
async function insertOrg (client: pg.Client, userId: string, name: string, priority: 'A' | 'B' | 'C' | 'D', options: { deleted?: boolean; contacts?: number; deletedContacts?: number } = {}): Promise<Org> {
  const { rows } = await client.query<{ id: string }>(
    'INSERT INTO organizations (name, priority_level, assigned_user_id, is_deleted) VALUES ($1, $2, $3, $4) RETURNING id', [name, priority, userId, options.deleted ?? false])
  const id = rows[0]!.id
  const contacts: string[] = []
  for (let i = 0; i < (options.contacts ?? 0) + (options.deletedContacts ?? 0); i++) {
    const deleted = i >= (options.contacts ?? 0)
    const contact = await client.query<{ id: string }>(
      'INSERT INTO contacts (organization_id, first_name, last_name, is_deleted) VALUES ($1, $2, $3, $4) RETURNING id', [id, `First${i}`, `${name} Last${i}`, deleted])
    contacts.push(contact.rows[0]!.id)
  }
  return { id, contacts }
}
async function insertInteractions (client: pg.Client, org: Org, userId: string, at: string, count = 1): Promise<void> {
  for (let i = 0; i < count; i++) {
    const contactId = org.contacts.length > 0 ? org.contacts[i % org.contacts.length] : null
    await client.query(`INSERT INTO interactions (organization_id, contact_id, user_id, type, subject, created_at) VALUES ($1, $2, $3, 'call', $4, ${at})`, [org.id, contactId, userId, `call ${i}`])
  }
}
async function insertOpportunity (client: pg.Client, org: Org, stage: string, value: string, closeDate: string | null): Promise<void> {
  await client.query(`INSERT INTO opportunities (organization_id, name, stage, value, close_date) VALUES ($1, $2, $3::opportunity_stage, $4::numeric, ${closeDate ?? 'NULL'})`, [org.id, `${stage} ${value}`, stage, value])
}

async function dashboardOf (app: FastifyInstance, user: TestUser): Promise<Figures & { refreshedAt?: string }> {
  const res = await as(app, user, { method: 'GET', url: '/api/v1/dashboard' })
  if (res.statusCode !== 200) throw new Error(`GET /dashboard: ${res.statusCode} ${res.body}`)
  return res.json()
}

function withoutRefreshedAt (body: Figures & { refreshedAt?: string }): Figures {
  const { refreshedAt: _ignored, ...figures } = body
  return figures
}

t.test('dashboard figures', async (t) => {
  const db = await createTestDatabase('dashboard')
  t.teardown(db.drop)
  // No periodic refresh: this test decides when the view is refreshed.
  const app = await buildTestApp(t, db.url, { DASHBOARD_REFRESH_INTERVAL_MS: '0' })
  const [admin, memberA, memberB, memberC] = await createUsers(app, db.url, ['admin', 'member', 'member', 'member']) as [TestUser, TestUser, TestUser, TestUser]

  const refresh = async (): Promise<{ refreshedAt: string; durationMs: number }> => {
    const res = await as(app, admin, { method: 'POST', url: '/api/v1/admin/dashboard/refresh' })
    if (res.statusCode !== 200) throw new Error(`refresh: ${res.statusCode} ${res.body}`)
    return res.json()
  }

  await t.test('before any refresh a user gets zeros and no refreshedAt', async (t) => {
    const res = await as(app, memberA, { method: 'GET', url: '/api/v1/dashboard' })
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /^application\/json; charset=utf-8/)
    t.same(res.json(), {
      userId: memberA.id, totalOrganizations: 0, highPriorityOrgs: 0, totalContacts: 0, interactionsThisMonth: 0, activeOpportunities: 0, wonRevenueThisQuarter: '0.00'
    })
    t.equal(await viewRefreshedAt(db), null, 'the view has no rows yet')
    const anonymous = await app.inject({ method: 'GET', url: '/api/v1/dashboard' })
    t.equal(anonymous.statusCode, 401)
  })

  // Member A: some data through the API, most through SQL with explicit timestamps.
  const orgApi = await as(app, memberA, { method: 'POST', url: '/api/v1/organizations', payload: { name: 'A via API', priorityLevel: 'A' } })
  t.equal(orgApi.statusCode, 201)
  const apiOrgId = orgApi.json().id as string
  const apiContacts: string[] = []
  for (const lastName of ['One', 'Two', 'Three']) {
    const contact = await as(app, memberA, { method: 'POST', url: `/api/v1/organizations/${apiOrgId}/contacts`, payload: { firstName: 'Api', lastName } })
    t.equal(contact.statusCode, 201)
    apiContacts.push(contact.json().id)
  }
  t.equal((await as(app, memberA, { method: 'DELETE', url: `/api/v1/contacts/${apiContacts[2]!}` })).statusCode, 204)
  for (const contactId of [apiContacts[0], apiContacts[1]]) {
    t.equal((await as(app, memberA, { method: 'POST', url: `/api/v1/organizations/${apiOrgId}/interactions`, payload: { type: 'meeting', subject: 'Kick-off', contactId } })).statusCode, 201)
  }
  const today = await withClient(db.url, async (client) => (await client.query<{ d: string }>('SELECT current_date::text AS d')).rows[0]!.d)
  for (const payload of [{ name: 'Won today', stage: 'closed-won', value: '1500.25', closeDate: today }, { name: 'Negotiating', stage: 'negotiation', value: 300 }, { name: 'Lost today', stage: 'closed-lost', value: 12, closeDate: today }]) {
    t.equal((await as(app, memberA, { method: 'POST', url: `/api/v1/organizations/${apiOrgId}/opportunities`, payload })).statusCode, 201)
  }

  await withClient(db.url, async (client) => {
    // A1: priority A, 3 live + 1 deleted contacts, interactions this month and before, deals in every stage.
    const a1 = await insertOrg(client, memberA.id, 'A1', 'A', { contacts: 3, deletedContacts: 1 })
    await insertInteractions(client, a1, memberA.id, MID_THIS_MONTH, 4)
    await insertInteractions(client, a1, admin.id, 'now()', 1) // logged by someone else: still on A's organization
    await insertInteractions(client, a1, memberA.id, LAST_MONTH, 2)
    await insertInteractions(client, a1, memberA.id, LAST_YEAR, 2)
    await insertOpportunity(client, a1, 'prospecting', '1000.00', null)
    await insertOpportunity(client, a1, 'qualification', '2000.50', NEXT_QUARTER_START)
    await insertOpportunity(client, a1, 'closed-won', '10000.10', QUARTER_START)
    await insertOpportunity(client, a1, 'closed-won', '2500.00', TODAY)
    await insertOpportunity(client, a1, 'closed-won', '7777.77', LAST_QUARTER_END)
    await insertOpportunity(client, a1, 'closed-lost', '999.00', TODAY)
    // A2: priority A, interactions right on both sides of the month boundary.
    const a2 = await insertOrg(client, memberA.id, 'A2', 'A', { contacts: 2 })
    await insertInteractions(client, a2, memberA.id, MONTH_START, 1)
    await insertInteractions(client, a2, memberA.id, JUST_BEFORE_MONTH, 1)
    await insertOpportunity(client, a2, 'proposal', '5000.00', TODAY)
    await insertOpportunity(client, a2, 'closed-won', '333.33', QUARTER_END)
    await insertOpportunity(client, a2, 'closed-won', '4444.00', NEXT_QUARTER_START)
    await insertOpportunity(client, a2, 'closed-won', '55.00', null)
    await insertOpportunity(client, a2, 'closed-won', '66.00', LAST_QUARTER_MID)
    // A3: priority B, no contacts; an interaction without a contact.
    const a3 = await insertOrg(client, memberA.id, 'A3', 'B')
    await insertInteractions(client, a3, memberA.id, 'now()', 1)
    await insertOpportunity(client, a3, 'negotiation', '1.00', null)
    // A4: priority C, nothing else.
    await insertOrg(client, memberA.id, 'A4', 'C')
    // A5: soft-deleted priority A organization: nothing of it counts.
    const a5 = await insertOrg(client, memberA.id, 'A5 deleted', 'A', { deleted: true, contacts: 3 })
    await insertInteractions(client, a5, memberA.id, MID_THIS_MONTH, 3)
    await insertOpportunity(client, a5, 'prospecting', '100.00', null)
    await insertOpportunity(client, a5, 'closed-won', '100000.00', TODAY)

    // Member B.
    const b1 = await insertOrg(client, memberB.id, 'B1', 'A', { contacts: 2, deletedContacts: 2 })
    await insertInteractions(client, b1, memberB.id, MID_THIS_MONTH, 3)
    await insertInteractions(client, b1, memberB.id, LAST_MONTH, 1)
    await insertOpportunity(client, b1, 'closed-won', '20000.00', TODAY)
    await insertOpportunity(client, b1, 'qualification', '10.00', null)
    await insertOpportunity(client, b1, 'closed-lost', '5.00', TODAY)
    const b2 = await insertOrg(client, memberB.id, 'B2', 'D', { contacts: 1 })
    await insertOpportunity(client, b2, 'closed-won', '9999.00', LAST_QUARTER_END)

    // Member C (deactivated later).
    const c1 = await insertOrg(client, memberC.id, 'C1', 'A', { contacts: 1 })
    await insertInteractions(client, c1, memberC.id, 'now()', 1)
    await insertOpportunity(client, c1, 'closed-won', '42.00', TODAY)
  })

  // What the data above was built to give; each is also checked against SQL below.
  const expectedA: Figures = { userId: memberA.id, totalOrganizations: 5, highPriorityOrgs: 3, totalContacts: 7, interactionsThisMonth: 9, activeOpportunities: 5, wonRevenueThisQuarter: '14333.68' }
  const expectedB: Figures = { userId: memberB.id, totalOrganizations: 2, highPriorityOrgs: 1, totalContacts: 3, interactionsThisMonth: 3, activeOpportunities: 1, wonRevenueThisQuarter: '20000.00' }
  const zeros = (userId: string): Figures => ({ userId, totalOrganizations: 0, highPriorityOrgs: 0, totalContacts: 0, interactionsThisMonth: 0, activeOpportunities: 0, wonRevenueThisQuarter: '0.00' })

  let firstRefresh = ''

  await t.test('after a refresh every figure equals a direct query on the base tables', async (t) => {
    t.same(await expectedFigures(db, memberA.id), expectedA, 'the independent SQL agrees with how the data was built (A)')
    t.same(await expectedFigures(db, memberB.id), expectedB, 'the independent SQL agrees with how the data was built (B)')
    const seed = await seedViewFigures(db, memberA.id)
    t.not(seed.won, '14333.68', `the data has the fan-out that made the seed's view overstate won revenue (${seed.won})`)
    t.not(seed.active, expectedA.activeOpportunities, 'and count won deals as active')

    const before = await dashboardOf(app, memberA)
    t.same(withoutRefreshedAt(before), zeros(memberA.id), 'nothing shows before the refresh')

    const res = await as(app, admin, { method: 'POST', url: '/api/v1/admin/dashboard/refresh' })
    t.equal(res.statusCode, 200)
    const result = res.json()
    t.same(Object.keys(result).sort(), ['durationMs', 'refreshedAt'])
    t.match(result.refreshedAt, ISO)
    t.type(result.durationMs, 'number')
    t.ok(result.durationMs >= 0)
    t.equal(new Date(result.refreshedAt).getTime(), (await viewRefreshedAt(db))?.getTime(), 'refreshedAt is the view\'s')
    firstRefresh = result.refreshedAt

    for (const [user, expected] of [[memberA, expectedA], [memberB, expectedB]] as const) {
      const res = await as(app, user, { method: 'GET', url: '/api/v1/dashboard' })
      t.equal(res.statusCode, 200)
      const body = res.json()
      t.same(Object.keys(body).sort(), DASHBOARD_KEYS)
      t.same(body, { ...(await expectedFigures(db, user.id)), refreshedAt: firstRefresh }, `${user.id}: every figure equals the direct SQL`)
      t.same(withoutRefreshedAt(body), expected)
    }
    t.same(await dashboardOf(app, admin), { ...zeros(admin.id), refreshedAt: firstRefresh }, 'an admin without organizations has a row of zeros')
    t.match(await viewRow(db, memberC.id), { user_id: memberC.id, total_organizations: '1', won_revenue_this_quarter: '42.00' }, 'C has a row while active')
  })

  await t.test('a member cannot refresh; the view is untouched', async (t) => {
    const before = await viewRefreshedAt(db)
    const res = await as(app, memberA, { method: 'POST', url: '/api/v1/admin/dashboard/refresh' })
    t.equal(res.statusCode, 403)
    t.same(Object.keys(res.json()).sort(), ['code', 'error', 'message', 'statusCode'])
    t.match(res.json(), { statusCode: 403, error: 'Forbidden', code: 'FORBIDDEN' })
    t.equal((await viewRefreshedAt(db))?.getTime(), before?.getTime())
    t.equal((await app.inject({ method: 'POST', url: '/api/v1/admin/dashboard/refresh' })).statusCode, 401)
  })

  await t.test('figures stay as they were until the next refresh, then catch up', async (t) => {
    // New data for A: through the API and through SQL.
    const newOrg = await as(app, memberA, { method: 'POST', url: '/api/v1/organizations', payload: { name: 'A late', priorityLevel: 'A' } })
    t.equal(newOrg.statusCode, 201)
    const newOrgId = newOrg.json().id as string
    t.equal((await as(app, memberA, { method: 'POST', url: `/api/v1/organizations/${newOrgId}/opportunities`, payload: { name: 'Late win', stage: 'closed-won', value: '0.32', closeDate: today } })).statusCode, 201)
    t.equal((await as(app, memberA, { method: 'POST', url: `/api/v1/organizations/${newOrgId}/contacts`, payload: { firstName: 'Late', lastName: 'Contact' } })).statusCode, 201)
    t.equal((await as(app, memberA, { method: 'POST', url: `/api/v1/organizations/${newOrgId}/interactions`, payload: { type: 'email', subject: 'Hello' } })).statusCode, 201)
    // Soft-deleting A4 lowers the organization count.
    const a4 = await withClient(db.url, async (client) => (await client.query<{ id: string }>("SELECT id::text FROM organizations WHERE name = 'A4'")).rows[0]!.id)
    t.equal((await as(app, memberA, { method: 'DELETE', url: `/api/v1/organizations/${a4}` })).statusCode, 204)
    await withClient(db.url, async (client) => {
      await client.query('INSERT INTO opportunities (organization_id, name, stage, value) VALUES ($1, \'SQL prospect\', \'prospecting\', 1)', [newOrgId])
    })

    const stale = await dashboardOf(app, memberA)
    t.same(stale, { ...expectedA, refreshedAt: firstRefresh }, 'unchanged until the view is refreshed')
    const lateUser = (await createUsers(app, db.url, ['member']))[0]!
    t.same(await dashboardOf(app, lateUser), { ...zeros(lateUser.id), refreshedAt: firstRefresh }, 'a user created since the refresh gets zeros and the view\'s refreshedAt')
    t.equal(await viewRow(db, lateUser.id), undefined)

    const second = await refresh()
    t.ok(new Date(second.refreshedAt).getTime() > new Date(firstRefresh).getTime(), 'refreshedAt advances')
    const fresh = await dashboardOf(app, memberA)
    const expectedNow = await expectedFigures(db, memberA.id)
    t.same(fresh, { ...expectedNow, refreshedAt: second.refreshedAt }, 'every figure equals the direct SQL again')
    t.same(withoutRefreshedAt(fresh), {
      ...expectedA,
      totalOrganizations: expectedA.totalOrganizations, // +1 new, -1 deleted
      highPriorityOrgs: expectedA.highPriorityOrgs + 1,
      totalContacts: expectedA.totalContacts + 1,
      interactionsThisMonth: expectedA.interactionsThisMonth + 1,
      activeOpportunities: expectedA.activeOpportunities + 1,
      wonRevenueThisQuarter: '14334.00'
    })
    t.same(await dashboardOf(app, memberB), { ...expectedB, refreshedAt: second.refreshedAt }, 'B\'s figures never include A\'s data')
    t.same(await dashboardOf(app, lateUser), { ...zeros(lateUser.id), refreshedAt: second.refreshedAt })
    t.match(await viewRow(db, lateUser.id), { user_id: lateUser.id, total_organizations: '0' }, 'the new user has a row now')
  })

  await t.test('a deactivated user has no row after the next refresh', async (t) => {
    t.ok(await viewRow(db, memberC.id), 'C has a row')
    await withClient(db.url, async (client) => { await client.query('UPDATE users SET is_active = false WHERE id = $1', [memberC.id]) })
    t.ok(await viewRow(db, memberC.id), 'still there until the refresh')
    await refresh()
    t.equal(await viewRow(db, memberC.id), undefined, 'gone after the refresh')
    t.equal((await as(app, memberC, { method: 'GET', url: '/api/v1/dashboard' })).statusCode, 401, 'and the deactivated user is refused')
    const users = await withClient(db.url, async (client) => (await client.query<{ active: string; rows: string }>(
      'SELECT (SELECT count(*) FROM users WHERE is_active)::text AS active, (SELECT count(*) FROM dashboard_analytics)::text AS rows')).rows[0]!)
    t.equal(users.rows, users.active, 'one row per active user')
  })

  await t.test('two concurrent refreshes both succeed', async (t) => {
    const before = await viewRefreshedAt(db)
    const [one, two] = await Promise.all([
      as(app, admin, { method: 'POST', url: '/api/v1/admin/dashboard/refresh' }),
      as(app, admin, { method: 'POST', url: '/api/v1/admin/dashboard/refresh' })
    ])
    t.equal(one.statusCode, 200)
    t.equal(two.statusCode, 200)
    for (const res of [one, two]) {
      t.match(res.json().refreshedAt, ISO)
      t.ok(new Date(res.json().refreshedAt).getTime() > (before?.getTime() ?? 0), 'each is a new refresh')
    }
    const latest = [one.json().refreshedAt, two.json().refreshedAt].sort((x: string, y: string) => Date.parse(x) - Date.parse(y))[1]
    t.equal((await viewRefreshedAt(db))?.toISOString(), new Date(latest).toISOString(), 'the view holds the later refresh')
    const body = await dashboardOf(app, memberB)
    t.same(body, { ...(await expectedFigures(db, memberB.id)), refreshedAt: new Date(latest).toISOString() })
  })
})

t.test('the periodic refresh picks up new data without the admin endpoint', async (t) => {
  const db = await createTestDatabase('dashboard_periodic')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url, { DASHBOARD_REFRESH_INTERVAL_MS: '200' })
  const [member] = await createUsers(app, db.url, ['member']) as [TestUser]

  // One transaction: a periodic refresh that runs between the inserts must
  // see all of them or none (it once caught the organization without its
  // opportunities, and the test then compared half the data).
  await withClient(db.url, async (client) => {
    await client.query('BEGIN')
    const org = await insertOrg(client, member.id, 'Periodic', 'A', { contacts: 2, deletedContacts: 1 })
    await insertInteractions(client, org, member.id, 'now()', 3)
    await insertOpportunity(client, org, 'closed-won', '250.50', TODAY)
    await insertOpportunity(client, org, 'proposal', '10.00', null)
    await client.query('COMMIT')
  })
  const expected = await expectedFigures(db, member.id)
  t.same(expected, { userId: member.id, totalOrganizations: 1, highPriorityOrgs: 1, totalContacts: 2, interactionsThisMonth: 3, activeOpportunities: 1, wonRevenueThisQuarter: '250.50' })

  const deadline = Date.now() + 15_000
  let body = await dashboardOf(app, member)
  while (body.totalOrganizations === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    body = await dashboardOf(app, member)
  }
  t.same(withoutRefreshedAt(body), expected, 'the figures appeared without calling the refresh endpoint')
  t.match(body.refreshedAt, ISO)
  const first = body.refreshedAt!

  // And it keeps refreshing: a later write shows up too, with a later refreshedAt.
  await withClient(db.url, async (client) => {
    await client.query("INSERT INTO organizations (name, priority_level, assigned_user_id) VALUES ('Periodic 2', 'B', $1)", [member.id])
  })
  while (body.totalOrganizations === 1 && Date.now() < deadline + 15_000) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    body = await dashboardOf(app, member)
  }
  t.same(withoutRefreshedAt(body), { ...expected, totalOrganizations: 2 })
  t.ok(Date.parse(body.refreshedAt!) > Date.parse(first), 'refreshedAt advanced')
})
