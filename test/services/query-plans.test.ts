// The hot read statements never fall back to a sequential scan of the big
// tables, and the listing's counts cost one counter row per organization
// whatever it holds. Each statement is the exact text the services run
// (listingQuery, organizationQuery, dashboardQuery) with bound parameters, on
// a database seeded with 50,000 organizations (about 850,000 rows) and
// analyzed: by-id and dashboard through EXPLAIN (FORMAT JSON), the listing
// function's inner query through auto_explain as it actually ran.
import t, { type Test } from 'tap'
import pg from 'pg'
import type { Prisma } from '../../generated/prisma/client'
import { seedDatabase } from '../../scripts/seed/seed-data'
import { listingQuery, organizationQuery } from '../../src/services/organizations'
import { dashboardQuery } from '../../src/services/dashboard'
import { createTestDatabase } from '../helpers/database'

const ORGANIZATIONS = 50_000
const BIG_TABLES = new Set(['organizations', 'contacts', 'interactions', 'opportunities'])

interface PlanNode {
  'Node Type': string
  'Relation Name'?: string
  'Function Name'?: string
  'Index Name'?: string
  Plans?: PlanNode[]
}

function nodes (plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)]
}

t.test('query plans at 50,000 organizations', async (t) => {
  const db = await createTestDatabase('plans')
  t.teardown(db.drop)
  const pool = new pg.Pool({ connectionString: db.url, max: 2 })
  t.teardown(async () => await pool.end())
  await seedDatabase(pool, { organizations: ORGANIZATIONS, seed: 3, now: new Date(), reset: false, log: () => undefined })

  const one = async <T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T> => (await pool.query<T>(text, values)).rows[0]!
  // A member with a typical number of organizations (the median owner) and a real name fragment.
  const { owner } = await one<{ owner: string }>(`
    SELECT assigned_user_id AS owner FROM organizations WHERE NOT is_deleted
    GROUP BY assigned_user_id ORDER BY count(*), assigned_user_id
    OFFSET (SELECT count(DISTINCT assigned_user_id) / 2 FROM organizations) LIMIT 1`)
  const { owned } = await one<{ owned: number }>('SELECT count(*)::int AS owned FROM organizations WHERE assigned_user_id = $1 AND NOT is_deleted', [owner])
  const { industry, orgId, fragment } = await one<{ industry: string; orgId: string; fragment: string }>(`
    SELECT industry_segment AS industry, id AS "orgId", lower(substr(name, 2, 5)) AS fragment
    FROM organizations WHERE assigned_user_id = $1 AND industry_segment IS NOT NULL ORDER BY id LIMIT 1`, [owner])
  t.ok(owned > 100, `the median owner has ${owned} organizations`)

  const explain = async (sql: Prisma.Sql): Promise<PlanNode[]> => {
    const row = await one<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (FORMAT JSON) ${sql.text}`, sql.values)
    return nodes(row['QUERY PLAN'][0]!.Plan)
  }
  const assertNoSeqScan = async (t: Test, label: string, plan: PlanNode[], mustRead: string[]): Promise<void> => {
    const seq = plan.filter((n) => n['Node Type'] === 'Seq Scan' && BIG_TABLES.has(n['Relation Name'] ?? ''))
    t.same(seq.map((n) => n['Relation Name']), [], `${label}: no sequential scan of a big table`)
    // An opaque Function Scan would hide the function's own plan (and any seq scan in it).
    t.same(plan.filter((n) => n['Node Type'] === 'Function Scan').map((n) => n['Function Name']), [], `${label}: no function left opaque`)
    const read = new Set(plan.map((n) => n['Relation Name']).filter((name) => name !== undefined))
    for (const table of mustRead) t.ok(read.has(table), `${label}: the plan reads ${table}`)
  }

  // The listing function runs its page query inside plpgsql: auto_explain
  // (log_nested_statements, sent to this client as LOG notices) shows the
  // plan that query actually ran with, as a named prepared statement with
  // bound parameters runs it, the way the service calls it.
  const traced = await pool.connect()
  t.teardown(() => traced.release())
  const logged: string[] = []
  traced.on('notice', (msg) => { if (msg.message !== undefined) logged.push(msg.message) })
  for (const setting of ["LOAD 'auto_explain'", 'SET auto_explain.log_min_duration = 0', 'SET auto_explain.log_nested_statements = on',
    'SET auto_explain.log_analyze = on', 'SET auto_explain.log_buffers = on', 'SET auto_explain.log_timing = off',
    'SET auto_explain.log_format = json', 'SET client_min_messages = log']) await traced.query(setting)
  interface Traced { plan: PlanNode[]; buffers: number }
  /** The listing's inner query as it ran (sixth run: the session's cached generic plan), with its shared buffers. */
  const runListing = async (sql: Prisma.Sql, runs = 6): Promise<Traced> => {
    let last: Traced | undefined
    for (let i = 0; i < runs; i++) {
      logged.length = 0
      await traced.query({ name: `listing_${sql.text.length}`, text: sql.text, values: sql.values })
      const inner = logged.map((m) => JSON.parse(m.slice(m.indexOf('{'))) as { 'Query Text': string; Plan: PlanNode & { 'Shared Hit Blocks': number; 'Shared Read Blocks': number } })
        .find((e) => !e['Query Text'].includes('get_organizations_optimized'))
      if (inner === undefined) throw new Error('auto_explain logged no inner plan')
      last = { plan: nodes(inner.Plan), buffers: inner.Plan['Shared Hit Blocks'] + inner.Plan['Shared Read Blocks'] }
    }
    return last!
  }

  const page = { limit: 51, offset: 0 }
  const listings: Array<[string, string | null, Parameters<typeof listingQuery>[1]]> = [
    ['member, no filter', owner, page],
    ['member, industry', owner, { ...page, industrySegment: industry }],
    ['member, priority', owner, { ...page, priorityLevel: 'B' }],
    ['member, industry and priority', owner, { ...page, industrySegment: industry, priorityLevel: 'A' }],
    ['member, search', owner, { ...page, search: fragment }],
    ['member, search and priority', owner, { ...page, search: fragment, priorityLevel: 'C' }],
    ['member, LIKE metacharacters', owner, { ...page, search: '50%_off\\' }],
    ['member, last page', owner, { limit: 51, offset: owned - 10 }],
    ['admin, no filter', null, page],
    ['admin, industry', null, { ...page, industrySegment: industry }],
    ['admin, priority', null, { ...page, priorityLevel: 'D' }],
    ['admin, search', null, { ...page, search: fragment }],
    ['admin, deep offset', null, { limit: 51, offset: ORGANIZATIONS - 1000 }]
  ]
  for (const [label, userId, query] of listings) {
    const { plan } = await runListing(listingQuery(userId, query))
    await assertNoSeqScan(t, `list (${label})`, plan, ['organizations', 'organization_counters'])
    // The counts: one counter row per organization, never a count of its contacts or opportunities.
    const children = plan.map((n) => n['Relation Name']).filter((r) => r === 'contacts' || r === 'opportunities')
    t.same(children, [], `list (${label}): contacts and opportunities are not counted row by row`)
  }

  // The deep pages come from the covering index in order: no sort of the owner's (or everyone's) rows.
  for (const [label, userId, query, index] of [
    ['member, last page', owner, { limit: 51, offset: owned - 10 }, 'idx_organizations_owner_listing'],
    ['admin, deep offset', null, { limit: 51, offset: ORGANIZATIONS - 1000 }, 'idx_organizations_listing']
  ] as const) {
    const { plan } = await runListing(listingQuery(userId, query))
    const scan = plan.find((n) => n['Relation Name'] === 'organizations')
    t.equal(scan?.['Node Type'], 'Index Only Scan', `list (${label}): organizations read by an index-only scan`)
    t.equal(scan?.['Index Name'], index, `list (${label}): through ${index}`)
  }

  // Contract §6: a page holding an organization with 10,000 interactions in
  // the last 90 days and 1,000 contacts costs what a page of small ones costs.
  // Its children are written after the seed (not vacuumed, as on a live
  // system). Cost is counted in buffers, which do not depend on machine load.
  const { rows: firstPage } = await pool.query<{ id: string }>('SELECT id FROM get_organizations_optimized($1, NULL, NULL, NULL, 51, 0)', [owner])
  const bigId = firstPage[0]!.id
  await pool.query(`
    INSERT INTO contacts (organization_id, first_name, last_name)
    SELECT $1, 'Big', 'Contact ' || g FROM generate_series(1, 1000) g`, [bigId])
  await pool.query(`
    INSERT INTO interactions (organization_id, user_id, type, subject, created_at)
    SELECT $1, $2, 'call', 'Recent ' || g, now() - (g * INTERVAL '1 second' * 777)
    FROM generate_series(1, 10000) g`, [bigId, owner])
  const { rows: [big] } = await pool.query<{ c: string; i: string }>(
    'SELECT contact_count AS c, interaction_count AS i FROM get_organizations_optimized($1, NULL, NULL, NULL, 51, 0) WHERE id = $2', [owner, bigId])
  t.ok(Number(big!.c) >= 1000 && Number(big!.i) >= 10_000, `the first page holds an organization with ${big!.c} contacts and ${big!.i} recent interactions`)
  const withBig = await runListing(listingQuery(owner, page))
  const small = await runListing(listingQuery(owner, { limit: 51, offset: 51 }))
  t.ok(withBig.buffers <= small.buffers * 1.2, `the page with it reads ${withBig.buffers} buffers, a page of small ones ${small.buffers}`)

  const byId = async (userId: string | null): Promise<PlanNode[]> => await explain(organizationQuery(orgId, userId))
  await assertNoSeqScan(t, 'organization by id (member)', await byId(owner), ['organizations', 'organization_counters'])
  await assertNoSeqScan(t, 'organization by id (admin)', await byId(null), ['organizations', 'organization_counters'])
  t.equal((await explain(dashboardQuery(owner))).filter((n) => n['Node Type'] === 'Seq Scan' && BIG_TABLES.has(n['Relation Name'] ?? '')).length, 0,
    'dashboard: no sequential scan of a big table')
})
