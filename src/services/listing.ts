// What every list of contract §6 shares: keyset cursors over a sort key,
// counts on request (exact, or estimated past 10,000 rows) and sparse fields.
// The lists' own SQL stays in their services; the fragments here only use
// bound values and fixed identifiers.
import { Prisma, type PrismaClient } from '../../generated/prisma/client'
import { CursorCodec, InvalidCursorError, type CursorScope } from '../lib/cursor'
import { InvalidFieldError } from '../lib/http-errors'
import type { CountMode, Page } from '../schemas/common'

/** Counting reads at most this many rows; past it, count=estimated answers the planner's figure. */
export const EXACT_COUNT_LIMIT = 10_000

export interface ListPaging {
  limit: number
  offset: number
  cursor?: string
  count?: CountMode
}

/** The position of a row in a newest-first list: created_at to the microsecond (as UTC text), then id. */
export interface NewestFirstPosition { createdAt: string, id: string }

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** created_at as the cursor holds it: UTC, microseconds, a text PostgreSQL reads back exactly. */
export function cursorTimestamp (column: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
}

export class Lists {
  constructor (readonly cursors: CursorCodec) {}

  /** The decoded position of `cursor=`, or undefined without one; 400 when it is not valid for this list. */
  position (scope: CursorScope, paging: ListPaging): unknown[] | undefined {
    if (paging.cursor === undefined) return undefined
    if (paging.offset !== 0) throw new InvalidFieldError('querystring.offset', 'must be 0 (or absent) with a cursor')
    return this.cursors.decode(scope, paging.cursor)
  }

  newestFirstPosition (scope: CursorScope, paging: ListPaging): NewestFirstPosition | undefined {
    const position = this.position(scope, paging)
    if (position === undefined) return undefined
    const [createdAt, id] = position
    if (position.length !== 2 || typeof createdAt !== 'string' || !TIMESTAMP.test(createdAt) || typeof id !== 'string' || !UUID.test(id)) {
      throw new InvalidCursorError('is not a cursor of this list')
    }
    return { createdAt, id }
  }

  /** The page of rows fetched with limit + 1, with nextCursor from the last row shown when another follows. */
  page<R, T> (
    scope: CursorScope, paging: ListPaging, rows: R[], toItem: (row: R) => T, positionOf: (row: R) => readonly (string | number)[]
  ): { data: T[], page: Page } {
    const shown = rows.slice(0, paging.limit)
    const page: Page = { limit: paging.limit, offset: paging.offset, hasMore: rows.length > paging.limit }
    const last = shown[shown.length - 1]
    if (page.hasMore && last !== undefined) page.nextCursor = this.cursors.encode(scope, positionOf(last))
    return { data: shown.map(toItem), page }
  }
}

/**
 * The keyset condition of a newest-first list (created_at DESC, id ASC) on
 * table alias `t`: the rows after `position`. The first conjunct is a plain
 * range the index scan starts from; the second drops the ties already shown.
 */
export function afterNewestFirst (position: NewestFirstPosition | undefined): Prisma.Sql {
  if (position === undefined) return Prisma.empty
  return Prisma.sql`AND t.created_at <= ${position.createdAt}::timestamptz
    AND (t.created_at < ${position.createdAt}::timestamptz OR t.id > ${position.id}::uuid)`
}

/**
 * page.total (and totalIsEstimate) for `count=`, over `fromWhere` (a FROM …
 * WHERE … with the list's scope and filters, no order, no limit). Estimated:
 * counts exactly while that reads at most EXACT_COUNT_LIMIT rows, else the
 * planner's row estimate for the same filtered query.
 */
export async function countRows (db: PrismaClient, fromWhere: Prisma.Sql, mode: CountMode | undefined): Promise<Pick<Page, 'total' | 'totalIsEstimate'>> {
  if (mode === undefined) return {}
  if (mode === 'exact') {
    const [row] = await db.$queryRaw<Array<{ n: bigint }>>(Prisma.sql`SELECT count(*) AS n ${fromWhere}`)
    return { total: Number(row?.n ?? 0) }
  }
  const [bounded] = await db.$queryRaw<Array<{ n: bigint }>>(Prisma.sql`
    SELECT count(*) AS n FROM (SELECT 1 ${fromWhere} LIMIT ${EXACT_COUNT_LIMIT + 1}) AS bounded`)
  const counted = Number(bounded?.n ?? 0)
  if (counted <= EXACT_COUNT_LIMIT) return { total: counted, totalIsEstimate: false }
  const [plan] = await db.$queryRaw<Array<{ 'QUERY PLAN': Array<{ Plan: { 'Plan Rows': number } }> }>>(Prisma.sql`
    EXPLAIN (FORMAT JSON) SELECT 1 ${fromWhere}`)
  const estimate = Math.round(plan?.['QUERY PLAN'][0]?.Plan['Plan Rows'] ?? 0)
  // More than the limit exist for sure: an estimate below it would be a known error.
  return { total: Math.max(estimate, EXACT_COUNT_LIMIT + 1), totalIsEstimate: true }
}

/** The names `fields=` asks for (id always included), or undefined for every field; 400 for an unknown one. */
export function parseFields<K extends string> (raw: string | undefined, known: readonly K[]): Set<K> | undefined {
  if (raw === undefined) return undefined
  const asked = new Set<K>()
  for (const name of raw.split(',')) {
    if (!(known as readonly string[]).includes(name)) {
      throw new InvalidFieldError('querystring.fields', `has an unknown field "${name.slice(0, 64)}" (known: ${known.join(', ')})`)
    }
    asked.add(name as K)
  }
  asked.add('id' as K)
  return asked
}

/** A list item that fields= may have projected: id and any of the others. */
export type Projected<T extends { id: string }> = Partial<T> & Pick<T, 'id'>

/** An item with only the asked fields (all of them without `fields=`). */
export function project<T extends { id: string }> (item: T, fields: ReadonlySet<string> | undefined): Projected<T> {
  if (fields === undefined) return item
  const projected: Projected<T> = { id: item.id } as Projected<T>
  for (const key of Object.keys(item) as Array<keyof T & string>) {
    if (fields.has(key)) projected[key] = item[key]
  }
  return projected
}
