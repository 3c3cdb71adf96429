// The hot read statements never fall back to a sequential scan of the big
// tables. Each statement is the exact text the services run (listingQuery,
// organizationQuery, dashboardQuery), planned by EXPLAIN (FORMAT JSON) with
// bound parameters, as the services' unnamed statements are, on a database
// seeded with 50,000 organizations (about 850,000 rows) and analyzed.
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
  const pool = new pg.Pool({ connectionString: db.url, max: 1 })
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
  const assertNoSeqScan = async (t: Test, label: string, sql: Prisma.Sql, mustRead: string[]): Promise<void> => {
    const plan = await explain(sql)
    const seq = plan.filter((n) => n['Node Type'] === 'Seq Scan' && BIG_TABLES.has(n['Relation Name'] ?? ''))
    t.same(seq.map((n) => n['Relation Name']), [], `${label}: no sequential scan of a big table`)
    // An opaque Function Scan would hide the function's own plan (and any seq scan in it).
    t.same(plan.filter((n) => n['Node Type'] === 'Function Scan').map((n) => n['Function Name']), [], `${label}: the function is inlined`)
    const read = new Set(plan.map((n) => n['Relation Name']).filter((name) => name !== undefined))
    for (const table of mustRead) t.ok(read.has(table), `${label}: the plan reads ${table}`)
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
    await assertNoSeqScan(t, `list (${label})`, listingQuery(userId, query), ['organizations', 'contacts', 'interactions', 'opportunities'])
  }

  // The deep pages come from the covering index in order: no sort of the owner's (or everyone's) rows.
  for (const [label, userId, query, index] of [
    ['member, last page', owner, { limit: 51, offset: owned - 10 }, 'idx_organizations_owner_listing'],
    ['admin, deep offset', null, { limit: 51, offset: ORGANIZATIONS - 1000 }, 'idx_organizations_listing']
  ] as const) {
    const plan = await explain(listingQuery(userId, query))
    const scan = plan.find((n) => n['Relation Name'] === 'organizations')
    t.equal(scan?.['Node Type'], 'Index Only Scan', `list (${label}): organizations read by an index-only scan`)
    t.equal(scan?.['Index Name'], index, `list (${label}): through ${index}`)
  }

  await assertNoSeqScan(t, 'organization by id (member)', organizationQuery(orgId, owner), ['organizations', 'contacts', 'interactions', 'opportunities'])
  await assertNoSeqScan(t, 'organization by id (admin)', organizationQuery(orgId, null), ['organizations', 'contacts', 'interactions', 'opportunities'])
  await assertNoSeqScan(t, 'dashboard', dashboardQuery(owner), ['dashboard_analytics'])

  // The listing's three counts are each answered from an index on organization_id.
  const plan = await explain(listingQuery(owner, page))
  for (const table of ['contacts', 'interactions', 'opportunities']) {
    const scans = plan.filter((n) => n['Relation Name'] === table)
    t.ok(scans.length > 0 && scans.every((n) => /Index/.test(n['Node Type'])), `the ${table} count uses an index (${scans.map((n) => n['Node Type']).join(', ')})`)
  }
})
