// Organizations: the listing through get_organizations_optimized ($queryRaw,
// parameters bound by Prisma.sql), plain CRUD through Prisma, and PATCH with
// an If-Match check made under a row lock so concurrent writers serialize.
import { Prisma, type PrismaClient } from '../../generated/prisma/client'
import type { Caller } from '../lib/caller'
import type { CursorScope } from '../lib/cursor'
import { assertIfMatch } from '../lib/etag'
import { ForbiddenError, InvalidFieldError, NotFoundError } from '../lib/http-errors'
import type { Page } from '../schemas/common'
import { ORGANIZATION_FIELDS, type Organization, type OrganizationCreate, type OrganizationListQuery, type OrganizationSummary, type OrganizationUpdate } from '../schemas/organizations'
import { change, written, type Written } from './changes'
import { countRows, parseFields, project, type Lists, type Projected } from './listing'
import { COUNT_FIELDS, listedOrganization, listingFromWhere, organizationPageQuery, positionOf, walkSnapshotOf, type ListedOrganizationRow, type OrganizationSummaryRow } from './organization-listing'
import { omitNull, scopeUserId, visibleOrganizations } from './scope'

type Db = PrismaClient | Prisma.TransactionClient

/** The by-id row: the listed columns with all three counts, and the rest. */
interface OrganizationRow extends Required<OrganizationSummaryRow> {
  website: string | null
  assigned_user_id: string
  updated_at: Date
}

function toNumber (value: bigint | null): number | undefined {
  return value === null ? undefined : Number(value)
}

/**
 * The listing statement: get_organizations_optimized, which runs one static
 * query per filter shape with a generic plan cached in the server session, so
 * a call costs no planning (docs/database.md, "Listing"). Exported for the
 * EXPLAIN tests, which run this exact text.
 */
export function listingQuery (userId: string | null, query: Pick<OrganizationListQuery, 'industrySegment' | 'priorityLevel' | 'search' | 'limit' | 'offset'>): Prisma.Sql {
  return Prisma.sql`
    SELECT * FROM get_organizations_optimized(
      ${userId}::uuid, ${query.industrySegment ?? null}::varchar, ${query.priorityLevel ?? null}::priority_level,
      ${query.search ?? null}::varchar, ${query.limit}::integer, ${query.offset}::integer)`
}

/**
 * One organization with its three counts, read from its counter row by
 * organization_counts(), as the listing does. userId NULL: any owner (admins).
 */
export function organizationQuery (id: string, userId: string | null): Prisma.Sql {
  return Prisma.sql`
    SELECT o.id, o.name, o.industry_segment, o.priority_level, o.primary_email, o.primary_phone,
           o.website, o.annual_revenue, o.assigned_user_id, o.created_at, o.updated_at,
           k.contact_count, k.interaction_count, k.opportunity_count
    FROM organizations o
    CROSS JOIN LATERAL organization_counts(o.id) k
    WHERE o.id = ${id}::uuid AND o.is_deleted = FALSE
      AND (${userId}::uuid IS NULL OR o.assigned_user_id = ${userId}::uuid)`
}

export class OrganizationService {
  constructor (private readonly prisma: PrismaClient, private readonly lists: Lists) {}

  /** The list of contract §3 and §6: one statement per shape (organization-listing.ts), counts and total only when asked. */
  async list (caller: Caller, query: OrganizationListQuery): Promise<{ data: Array<Projected<OrganizationSummary>>; page: Page }> {
    // Members always get their own; an admin may narrow to one user.
    const userId = caller.role === 'admin' ? (query.assignedUserId?.toLowerCase() ?? null) : caller.id
    const filters = { industrySegment: query.industrySegment, priorityLevel: query.priorityLevel, search: query.search, assignedUserId: userId ?? undefined }
    const scope: CursorScope = { userId: caller.id, list: 'organizations', filters, sort: query.sort }
    const fields = parseFields(query.fields, ORGANIZATION_FIELDS)
    const after = this.lists.position(scope, query)
    const counts = new Set(COUNT_FIELDS.filter((field) => fields === undefined || fields.has(field)))
    const statement = organizationPageQuery({ userId, query: { ...query, limit: query.limit + 1 }, sort: query.sort, after, counts })
    const [rows, total] = await Promise.all([
      this.prisma.$queryRaw<ListedOrganizationRow[]>(statement),
      countRows(this.prisma, listingFromWhere(userId, query), query.count)
    ])
    const walkSnapshot = walkSnapshotOf(after)
    const listed = this.lists.page(scope, query, rows, (row) => project(listedOrganization(row), fields), (row) => positionOf(query.sort, row, walkSnapshot))
    Object.assign(listed.page, total)
    return listed
  }

  async get (caller: Caller, id: string): Promise<Organization> {
    return await this.read(this.prisma, caller, id)
  }

  async create (caller: Caller, input: OrganizationCreate): Promise<Written<Organization>> {
    const assignedUserId = await this.checkAssignee(caller, input.assignedUserId)
    // One INSERT … RETURNING: the answer is built from the row it inserted, so
    // a 2xx means committed and a connection lost mid-way means nothing was
    // (an insert followed by a separate read could commit and still fail).
    // A new organization has no contacts, interactions or opportunities yet.
    const row = await this.prisma.organization.create({ data: { ...input, assignedUserId } })
    // The same fields in the same order as read() gives: the ETag hashes this object.
    return written({
      id: row.id,
      name: row.name,
      industrySegment: omitNull(row.industrySegment),
      priorityLevel: row.priorityLevel,
      primaryEmail: omitNull(row.primaryEmail),
      primaryPhone: omitNull(row.primaryPhone),
      annualRevenue: toNumber(row.annualRevenue),
      createdAt: row.createdAt,
      contactCount: 0,
      interactionCount: 0,
      opportunityCount: 0,
      website: omitNull(row.website),
      assignedUserId: row.assignedUserId,
      updatedAt: row.updatedAt
    }, change('organization', 'create', row.id, [assignedUserId], row.id))
  }

  /**
   * Partial update. With If-Match, the row is locked (FOR UPDATE) before its
   * current ETag is compared, so of two PATCHes carrying the same ETag the
   * second waits for the first, sees the new representation and gets 412.
   */
  async update (caller: Caller, id: string, input: OrganizationUpdate, ifMatch?: string): Promise<Written<Organization>> {
    if (input.assignedUserId !== undefined) input = { ...input, assignedUserId: await this.checkAssignee(caller, input.assignedUserId) }
    const scopedUser = scopeUserId(caller)
    return await this.prisma.$transaction(async (tx) => {
      const locked = await tx.$queryRaw<Array<{ assigned_user_id: string }>>(Prisma.sql`
        SELECT assigned_user_id FROM organizations
        WHERE id = ${id}::uuid AND is_deleted = FALSE
          AND (${scopedUser}::uuid IS NULL OR assigned_user_id = ${scopedUser}::uuid)
        FOR UPDATE`)
      if (locked[0] === undefined) throw new NotFoundError('Organization')
      await assertIfMatch(ifMatch, async () => await this.read(tx, caller, id))
      await tx.organization.update({ where: { id }, data: input, select: { id: true } })
      const updated = await this.read(tx, caller, id)
      // The previous owner's views change too when the organization is reassigned.
      return written(updated, change('organization', 'update', updated.id, [locked[0].assigned_user_id, updated.assignedUserId], updated.id))
    })
  }

  async softDelete (caller: Caller, id: string): Promise<Written<null>> {
    const [deleted] = await this.prisma.organization.updateManyAndReturn({
      where: { id, ...visibleOrganizations(caller) },
      data: { isDeleted: true },
      select: { id: true, assignedUserId: true }
    })
    if (deleted === undefined) throw new NotFoundError('Organization')
    return written(null, change('organization', 'delete', deleted.id, [deleted.assignedUserId], deleted.id))
  }

  /** Throws 404 unless the caller may see this organization (used by the nested resources); returns its owner. */
  async assertVisible (caller: Caller, id: string): Promise<string> {
    const found = await this.prisma.organization.findFirst({ where: { id, ...visibleOrganizations(caller) }, select: { assignedUserId: true } })
    if (found === null) throw new NotFoundError('Organization')
    return found.assignedUserId
  }

  /**
   * One organization with its three counts in one statement. Hand-written
   * rather than findFirst + _count: this is the hottest read after the
   * listing, and Prisma would compile the nested _count query on the event
   * loop for every call (measured in `npm run bench -- --only prisma`). The
   * counts use the same definitions, and indexes, as get_organizations_optimized.
   */
  private async read (db: Db, caller: Caller, id: string): Promise<Organization> {
    const [row] = await db.$queryRaw<OrganizationRow[]>(organizationQuery(id, scopeUserId(caller)))
    if (row === undefined) throw new NotFoundError('Organization')
    // All three counts are selected, so the listed item is a whole summary (same fields, same order: the ETag hashes it).
    const summary = listedOrganization(row) as OrganizationSummary
    return { ...summary, website: omitNull(row.website), assignedUserId: row.assigned_user_id, updatedAt: row.updated_at }
  }

  /** A member may only assign to themselves; an admin to any active user. */
  private async checkAssignee (caller: Caller, assignedUserId: string | undefined): Promise<string> {
    // uuids compare case-insensitively; the lower-case form is also the one the cache's per-owner keys use.
    if (assignedUserId === undefined || assignedUserId.toLowerCase() === caller.id.toLowerCase()) return caller.id
    if (caller.role !== 'admin') throw new ForbiddenError('Members can only assign organizations to themselves')
    const user = await this.prisma.user.findFirst({ where: { id: assignedUserId, isActive: true }, select: { id: true } })
    if (user === null) throw new InvalidFieldError('body.assignedUserId', 'does not name an active user')
    return assignedUserId.toLowerCase()
  }
}
