// The organization list the API serves (contract §3, §6): filters, three
// sorts, offset or keyset paging, counts on request and sparse fields, in one
// statement per shape. Each sort has a btree index (migration
// 20261201001100) whose columns are the sort key in ascending order, so a
// keyset page is one row comparison, i.e. one index range, at any depth:
// newest first is ascending on crm_newest_first(created_at), minus the
// microseconds since the epoch, which keeps the id tie-breaker ascending.
//
// Statement texts differ only by which filters are present, the sort and
// the counts asked for, so each text suits one generic plan.
import { Prisma } from '../../generated/prisma/client'
import type { PriorityLevel } from '../../generated/prisma/enums'
import { InvalidCursorError } from '../lib/cursor'
import type { OrganizationListQuery, OrganizationSort, OrganizationSummary } from '../schemas/organizations'
import type { Projected } from './listing'
import { omitNull } from './scope'

/** The item fields whose values are counts: computed only when asked for. */
export const COUNT_FIELDS = ['contactCount', 'interactionCount', 'opportunityCount'] as const
type CountField = typeof COUNT_FIELDS[number]

/** An organization's listed columns; the counts only when they were selected. */
export interface OrganizationSummaryRow {
  id: string
  name: string
  industry_segment: string | null
  priority_level: PriorityLevel
  primary_email: string | null
  primary_phone: string | null
  annual_revenue: bigint | null
  created_at: Date
  contact_count?: bigint
  interaction_count?: bigint
  opportunity_count?: bigint
}

export interface ListedOrganizationRow extends OrganizationSummaryRow {
  /** The sort key of the row, for nextCursor. */
  sort_key: string | null
  sort_at: string | null
  /** pg_current_snapshot() of this page's statement. */
  snapshot: string
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const PRIORITIES = new Set(['A', 'B', 'C', 'D'])
const INTEGER_TEXT = /^-?\d{1,19}$/

interface SortSpec {
  /** ORDER BY of the rows (alias o) after a cursor, every column ascending (the keyset index's order). */
  order: Prisma.Sql
  /** ORDER BY of a first or offset page: the same order, written as the index that serves it best is. */
  firstOrder: Prisma.Sql
  /** The order again over the page's own rows (alias page; a sort of at most one page). */
  pageOrder: Prisma.Sql
  /** Columns the page must carry beyond the listed ones, for key and at. */
  pageColumns: Prisma.Sql
  /** The same columns, to compare as a row with a cursor's position. */
  row: Prisma.Sql
  /**
   * The row's key for its cursor, from the page's columns (alias page): text
   * (priority or lower(name)) and microseconds. Computed on the page's rows
   * only: in the page's own select list they were computed for every row the
   * scan read, the offset's skipped ones included (0.4 ms at offset 1,200).
   */
  key: Prisma.Sql
  at: Prisma.Sql
  /** The column naming the transaction that last changed this sort's key (migration 20261201001800). */
  changedBy: Prisma.Sql
  /** The cursor's position (without its snapshot) as SQL values, after checking its shape. */
  position: (position: unknown[]) => Prisma.Sql
}

const SNAPSHOT = /^\d{1,20}:\d{1,20}:(\d{1,20}(,\d{1,20})*)?$/

/** The position's values after checking their shape: [key?, at?, id, snapshot]. */
function checkPosition (position: unknown[], shape: { key?: (value: unknown) => boolean, at: boolean }): unknown[] {
  const values = [...position]
  const snapshot = values.pop()
  const id = values.pop()
  const at = shape.at ? values.pop() : undefined
  const key = shape.key !== undefined ? values.pop() : undefined
  const ok = values.length === 0 && typeof snapshot === 'string' && SNAPSHOT.test(snapshot) && typeof id === 'string' && UUID.test(id) &&
    (!shape.at || (typeof at === 'string' && INTEGER_TEXT.test(at))) && (shape.key === undefined || shape.key(key))
  if (!ok) throw new InvalidCursorError('is not a cursor of this list')
  return position
}

const SORTS: Record<OrganizationSort, SortSpec> = {
  priority: {
    order: Prisma.sql`o.priority_level, crm_newest_first(o.created_at), o.id`,
    // The covering listing indexes (…, priority_level, created_at DESC, id) INCLUDE the page's columns.
    firstOrder: Prisma.sql`o.priority_level, o.created_at DESC, o.id`,
    pageOrder: Prisma.sql`page.priority_level, page.created_at DESC, page.id`,
    pageColumns: Prisma.empty,
    row: Prisma.sql`o.priority_level, crm_newest_first(o.created_at), o.id`,
    key: Prisma.sql`page.priority_level::text`,
    at: Prisma.sql`crm_newest_first(page.created_at)::text`,
    changedBy: Prisma.sql`o.priority_changed_xid`,
    position: (position) => {
      checkPosition(position, { key: (value) => typeof value === 'string' && PRIORITIES.has(value), at: true })
      return Prisma.sql`${position[0]}::priority_level, ${position[1]}::bigint, ${position[2]}::uuid`
    }
  },
  name: {
    order: Prisma.sql`lower(o.name), o.id`,
    firstOrder: Prisma.sql`lower(o.name), o.id`,
    pageOrder: Prisma.sql`lower(page.name), page.id`,
    pageColumns: Prisma.empty,
    row: Prisma.sql`lower(o.name), o.id`,
    key: Prisma.sql`lower(page.name)`,
    at: Prisma.sql`NULL::text`,
    changedBy: Prisma.sql`o.name_changed_xid`,
    position: (position) => {
      checkPosition(position, { key: (value) => typeof value === 'string', at: false })
      return Prisma.sql`${position[0]}::text, ${position[1]}::uuid`
    }
  },
  '-updatedAt': {
    order: Prisma.sql`crm_newest_first(o.updated_at), o.id`,
    firstOrder: Prisma.sql`crm_newest_first(o.updated_at), o.id`,
    pageOrder: Prisma.sql`page.updated_at DESC, page.id`,
    pageColumns: Prisma.sql`, o.updated_at`,
    row: Prisma.sql`crm_newest_first(o.updated_at), o.id`,
    key: Prisma.sql`NULL::text`,
    at: Prisma.sql`crm_newest_first(page.updated_at)::text`,
    changedBy: Prisma.sql`o.updated_xid`,
    position: (position) => {
      checkPosition(position, { at: true })
      return Prisma.sql`${position[0]}::bigint, ${position[1]}::uuid`
    }
  }
}

/** A listed row as the API shows it: the counts only when they were computed. */
export function listedOrganization (row: OrganizationSummaryRow): Projected<OrganizationSummary> {
  const item: Projected<OrganizationSummary> = {
    id: row.id,
    name: row.name,
    industrySegment: omitNull(row.industry_segment),
    priorityLevel: row.priority_level,
    primaryEmail: omitNull(row.primary_email),
    primaryPhone: omitNull(row.primary_phone),
    annualRevenue: row.annual_revenue === null ? undefined : Number(row.annual_revenue),
    createdAt: row.created_at
  }
  if (row.contact_count !== undefined) item.contactCount = Number(row.contact_count)
  if (row.interaction_count !== undefined) item.interactionCount = Number(row.interaction_count)
  if (row.opportunity_count !== undefined) item.opportunityCount = Number(row.opportunity_count)
  return item
}

/**
 * The cursor position of a listed row under `sort`: its sort key, then the
 * snapshot of the walk's first page (`walkSnapshot`, from the cursor given)
 * or of this page when it is the first.
 */
export function positionOf (sort: OrganizationSort, row: ListedOrganizationRow, walkSnapshot: string | undefined): Array<string | number> {
  const snapshot = walkSnapshot ?? row.snapshot
  if (sort === 'priority') return [row.sort_key ?? '', row.sort_at ?? '', row.id, snapshot]
  if (sort === 'name') return [row.sort_key ?? '', row.id, snapshot]
  return [row.sort_at ?? '', row.id, snapshot]
}

/** The walk's first snapshot a (checked) cursor position carries. */
export function walkSnapshotOf (position: unknown[] | undefined): string | undefined {
  return position === undefined ? undefined : String(position[position.length - 1])
}

/** `name ILIKE` pattern of a search term: a substring in which %, _ and \ match literally. */
function containing (term: string): string {
  return `%${term.replace(/[\\%_]/g, (character) => `\\${character}`)}%`
}

export interface ListingShape {
  /** NULL for every owner (an admin without assignedUserId). */
  userId: string | null
  query: Omit<OrganizationListQuery, 'assignedUserId' | 'cursor' | 'count' | 'fields' | 'sort'>
  sort: OrganizationSort
  /** The decoded cursor position (already bound to the list by its MAC). */
  after?: unknown[]
  /** Which counts to compute; all three without fields=. */
  counts: ReadonlySet<CountField>
}

/** FROM … WHERE … of a list: its scope and filters (for the page and for count=). */
export function listingFromWhere (userId: string | null, query: ListingShape['query']): Prisma.Sql {
  const conditions = [Prisma.sql`o.is_deleted = FALSE`]
  if (userId !== null) conditions.push(Prisma.sql`o.assigned_user_id = ${userId}::uuid`)
  if (query.industrySegment !== undefined) conditions.push(Prisma.sql`o.industry_segment = ${query.industrySegment}::varchar`)
  if (query.priorityLevel !== undefined) conditions.push(Prisma.sql`o.priority_level = ${query.priorityLevel}::priority_level`)
  // A member's search runs over the member's own rows (their index, bounded
  // by what they own), never through the trigram index: a common trigram
  // matches tens of thousands of organizations of every owner, each then
  // read from the heap to be dropped (75-130 ms at 1M). `|| ''` leaves the
  // match as it is and keeps it off that index. Admins search everyone's.
  const searched = userId === null ? Prisma.sql`o.name` : Prisma.sql`(o.name || '')`
  if (query.search !== undefined) conditions.push(Prisma.sql`${searched} ILIKE ${containing(query.search)}::varchar`)
  return Prisma.sql`FROM organizations o WHERE ${Prisma.join(conditions, ' AND ')}`
}

/**
 * The counts asked for (contract §1), from each page row's counter row
 * (organization_counts(), migration 20261201000100): one counter row per
 * organization, whatever it holds. All three (the default) come from
 * organization_counts_page() (migration 20261201001900), one call for the
 * page whose query is planned once per server session: joining the inlined
 * organization_counts() made the planner plan its subqueries on every call
 * (two thirds of the statement's planning). A subset keeps the inlined
 * function, so columns not selected are not computed (fields=contactCount
 * never reads interactions); with no count asked it is not joined at all.
 */
function countColumns (counts: ReadonlySet<CountField>): { columns: Prisma.Sql, join: Prisma.Sql } {
  const columns: Prisma.Sql[] = []
  if (counts.has('contactCount')) columns.push(Prisma.sql`k.contact_count`)
  if (counts.has('interactionCount')) columns.push(Prisma.sql`k.interaction_count`)
  if (counts.has('opportunityCount')) columns.push(Prisma.sql`k.opportunity_count`)
  if (columns.length === 0) return { columns: Prisma.empty, join: Prisma.empty }
  const join = columns.length === COUNT_FIELDS.length
    ? Prisma.sql`LEFT JOIN organization_counts_page(ARRAY(SELECT page.id FROM page)) k ON k.organization_id = page.id`
    : Prisma.sql`CROSS JOIN LATERAL organization_counts(page.id) k`
  return { columns: Prisma.sql`, ${Prisma.join(columns, ', ')}`, join }
}

/** The page statement: `limit` rows (the caller asks for one more to learn hasMore) of one sort, after a cursor or an offset. */
export function organizationPageQuery (shape: ListingShape): Prisma.Sql {
  const sort = SORTS[shape.sort]
  const counts = countColumns(shape.counts)
  // A member's list is ordered by owner first (a constant for it): only the
  // owner's indexes give that order, so the planner never walks the admins'
  // index filtering out other owners' rows.
  const owner = shape.userId === null ? Prisma.empty : Prisma.sql`o.assigned_user_id, `
  const ownerValue = shape.userId === null ? Prisma.empty : Prisma.sql`${shape.userId}::uuid, `
  // After a cursor: the rows past its position whose key the walk's first snapshot already saw.
  const after = shape.after === undefined
    ? Prisma.empty
    : Prisma.sql`AND (${owner}${sort.row}) > (${ownerValue}${sort.position(shape.after)})
      AND (${sort.changedBy} IS NULL OR pg_visible_in_snapshot(${sort.changedBy}::text::xid8, ${walkSnapshotOf(shape.after)}::pg_snapshot))`
  return Prisma.sql`
    WITH page AS (
      SELECT o.id, o.name, o.industry_segment, o.priority_level, o.primary_email, o.primary_phone,
             o.annual_revenue, o.created_at ${sort.pageColumns}
      ${listingFromWhere(shape.userId, shape.query)} ${after}
      ORDER BY ${owner}${shape.after === undefined ? sort.firstOrder : sort.order}
      LIMIT ${shape.query.limit}::integer OFFSET ${shape.query.offset}::integer
    )
    SELECT page.id, page.name, page.industry_segment, page.priority_level, page.primary_email, page.primary_phone,
           page.annual_revenue, page.created_at, ${sort.key} AS sort_key, ${sort.at} AS sort_at,
           pg_current_snapshot()::text AS snapshot ${counts.columns}
    FROM page ${counts.join} ORDER BY ${sort.pageOrder}`
}
