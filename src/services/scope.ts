// Row-level scoping (contract §2): a member reaches only the organizations
// assigned to them, and everything hanging off those; an admin reaches all.
// Rows out of scope are indistinguishable from missing ones (404).
import { Prisma } from '../../generated/prisma/client'
import type { Caller } from '../lib/caller'
import type { Page } from '../schemas/common'

/** Organizations the caller may see: not deleted, and their own unless admin. */
export function visibleOrganizations (caller: Pick<Caller, 'id' | 'role'>): Prisma.OrganizationWhereInput {
  return caller.role === 'admin' ? { isDeleted: false } : { isDeleted: false, assignedUserId: caller.id }
}

/** NULL for an admin (every user's rows), else the member's own id: the SQL functions' convention. */
export function scopeUserId (caller: Pick<Caller, 'id' | 'role'>): string | null {
  return caller.role === 'admin' ? null : caller.id
}

/** SQL for a list's join to organizations `o`: nothing for an admin, the member's own organizations otherwise. */
export function ownedBy (caller: Pick<Caller, 'id' | 'role'>): Prisma.Sql {
  return caller.role === 'admin' ? Prisma.empty : Prisma.sql`AND o.assigned_user_id = ${caller.id}::uuid`
}

/** Maps SQL NULL to an absent JSON field (contract §2: nulls are omitted). */
export function omitNull<T> (value: T | null): T | undefined {
  return value === null ? undefined : value
}

/** Rows fetched with limit + 1: the extra row only says whether another page exists. */
export function paginate<T> (rows: T[], limit: number, offset: number): { data: T[]; page: Page } {
  return { data: rows.slice(0, limit), page: { limit, offset, hasMore: rows.length > limit } }
}
