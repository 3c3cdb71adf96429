// The plans of the organization list the API serves (organizationPageQuery):
// for each sort, for a member and an admin, with and without filters, on the
// first page and after a cursor deep in the list, no sequential scan of a big
// table, no sort of more rows than the page, and a deep cursor page reads
// about the buffers the first page reads (EXPLAIN ANALYZE, BUFFERS: block
// counts, not timings, so the check does not depend on the machine's load).
// One exception, on purpose (docs/database.md, "Sorts"): a member's filter
// that is more selective than the sort (industry or priority with sort=name
// or -updatedAt, or a search) may be served by the filter's index and a sort
// of the rows matching it, which are fewer than the owner's index would read;
// such a sort is bounded by that member's matching rows, never the table.
import t from 'tap'
import pg from 'pg'
import type { Prisma } from '../../generated/prisma/client'
import { seedDatabase } from '../../scripts/seed/seed-data'
import { COUNT_FIELDS, organizationPageQuery, type ListingShape } from '../../src/services/organization-listing'
import type { OrganizationSort } from '../../src/schemas/organizations'
import { createTestDatabase } from '../helpers/database'

const ORGANIZATIONS = 30_000
const LIMIT = 51
const BIG_TABLES = new Set(['organizations', 'contacts', 'interactions', 'opportunities'])

interface PlanNode {
  'Node Type': string
  'Relation Name'?: string
  'Actual Rows'?: number
  'Actual Loops'?: number
  'Shared Hit Blocks'?: number
  'Shared Read Blocks'?: number
  Plans?: PlanNode[]
}

function nodes (plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)]
}

/** The row comparison each sort's cursor holds, for a row, as organization-listing.ts builds it. */
const POSITION_SQL: Record<OrganizationSort, string> = {
  priority: 'json_build_array(priority_level::text, crm_newest_first(created_at)::text, id, pg_current_snapshot()::text)',
  name: 'json_build_array(lower(name), id, pg_current_snapshot()::text)',
  '-updatedAt': 'json_build_array(crm_newest_first(updated_at)::text, id, pg_current_snapshot()::text)'
}
const ORDER_SQL: Record<OrganizationSort, string> = {
  priority: 'priority_level, created_at DESC, id',
  name: 'lower(name), id',
  '-updatedAt': 'updated_at DESC, id'
}

t.test('organization list plans at 30,000 organizations', async (t) => {
  const db = await createTestDatabase('listing_plans')
  t.teardown(db.drop)
  const pool = new pg.Pool({ connectionString: db.url, max: 1 })
  t.teardown(async () => await pool.end())
  await seedDatabase(pool, { organizations: ORGANIZATIONS, seed: 5, now: new Date(), reset: false, log: () => undefined })
  await pool.query('ANALYZE')
  const one = async <T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T> => (await pool.query<T>(text, values)).rows[0]!
  const { owner } = await one<{ owner: string }>(`
    SELECT assigned_user_id AS owner FROM organizations WHERE NOT is_deleted
    GROUP BY assigned_user_id ORDER BY count(*), assigned_user_id
    OFFSET (SELECT count(DISTINCT assigned_user_id) / 2 FROM organizations) LIMIT 1`)
  const { industry, fragment } = await one<{ industry: string, fragment: string }>(`
    SELECT industry_segment AS industry, lower(substr(name, 2, 5)) AS fragment
    FROM organizations WHERE assigned_user_id = $1 AND industry_segment IS NOT NULL ORDER BY id LIMIT 1`, [owner])

  const analyze = async (sql: Prisma.Sql): Promise<PlanNode[]> => {
    const row = await one<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql.text}`, sql.values)
    return nodes(row['QUERY PLAN'][0]!.Plan)
  }
  const blocks = (plan: PlanNode[]): number => (plan[0]!['Shared Hit Blocks'] ?? 0) + (plan[0]!['Shared Read Blocks'] ?? 0)
  /** A cursor position 95 % of the way down the list of `where`. */
  const deepPosition = async (sort: OrganizationSort, where: string, values: unknown[]): Promise<unknown[]> => {
    const { n } = await one<{ n: number }>(`SELECT count(*)::int AS n FROM organizations WHERE NOT is_deleted ${where}`, values)
    return (await one<{ p: unknown[] }>(`SELECT ${POSITION_SQL[sort]} AS p FROM organizations WHERE NOT is_deleted ${where}
      ORDER BY ${ORDER_SQL[sort]} OFFSET ${Math.max(0, Math.floor(n * 0.95) - 1)} LIMIT 1`, values)).p
  }

  const shapes: Array<[string, string | null, ListingShape['query'], string, unknown[]]> = [
    ['member', owner, { limit: LIMIT, offset: 0 }, 'AND assigned_user_id = $1', [owner]],
    ['member, industry', owner, { limit: LIMIT, offset: 0, industrySegment: industry }, 'AND assigned_user_id = $1 AND industry_segment = $2', [owner, industry]],
    ['member, priority', owner, { limit: LIMIT, offset: 0, priorityLevel: 'B' }, 'AND assigned_user_id = $1 AND priority_level = \'B\'', [owner]],
    ['member, search', owner, { limit: LIMIT, offset: 0, search: fragment }, 'AND assigned_user_id = $1 AND name ILIKE $2', [owner, `%${fragment}%`]],
    ['admin', null, { limit: LIMIT, offset: 0 }, '', []],
    ['admin, industry', null, { limit: LIMIT, offset: 0, industrySegment: industry }, 'AND industry_segment = $1', [industry]],
    ['admin, priority', null, { limit: LIMIT, offset: 0, priorityLevel: 'D' }, 'AND priority_level = \'D\'', []]
  ]
  const counts = new Set(COUNT_FIELDS)
  for (const sort of ['priority', 'name', '-updatedAt'] as const) {
    for (const [label, userId, query, where, values] of shapes) {
      const filtered = where.includes('industry_segment') || where.includes('ILIKE') || (where.includes('priority_level') && sort !== 'priority')
      const { n: matching } = await one<{ n: number }>(`SELECT count(*)::int AS n FROM organizations WHERE NOT is_deleted ${where}`, values)
      const sortBound = userId !== null && filtered ? Math.max(LIMIT, matching) : LIMIT
      const first = await analyze(organizationPageQuery({ userId, query, sort, counts }))
      const deep = await analyze(organizationPageQuery({ userId, query, sort, counts, after: await deepPosition(sort, where, values) }))
      for (const [page, plan] of [['first page', first], ['deep cursor page', deep]] as const) {
        const name = `sort=${sort}, ${label}, ${page}`
        t.same(plan.filter((n) => n['Node Type'] === 'Seq Scan' && BIG_TABLES.has(n['Relation Name'] ?? '')).map((n) => n['Relation Name']), [],
          `${name}: no sequential scan`)
        const sorted = plan.filter((n) => n['Node Type'] === 'Sort').map((n) => Math.max(...(n.Plans ?? []).map((c) => (c['Actual Rows'] ?? 0) * (c['Actual Loops'] ?? 1))))
        t.ok(sorted.every((rows) => rows <= sortBound), `${name}: no sort of more than ${sortBound} rows (${sorted.join(', ') || 'no sort'})`)
      }
      // A filter the index does not lead with is applied to the rows the scan reads: their density varies along the list.
      t.ok(blocks(deep) <= blocks(first) * (filtered ? 3 : 2) + 40, `sort=${sort}, ${label}: a deep cursor page reads ${blocks(deep)} blocks, the first ${blocks(first)}`)
    }
  }
})
