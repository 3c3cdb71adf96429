// Interactions: an append-only log per organization, newest first.
import { Prisma, type PrismaClient } from '../../generated/prisma/client'
import type { CursorScope } from '../lib/cursor'
import type { Caller } from '../lib/caller'
import { InvalidFieldError } from '../lib/http-errors'
import type { Page } from '../schemas/common'
import { INTERACTION_FIELDS, type Interaction, type InteractionCreate, type InteractionListQuery } from '../schemas/interactions'
import { change, written, type Written } from './changes'
import { afterNewestFirst, countRows, cursorTimestamp, parseFields, project, type Lists, type Projected } from './listing'
import { omitNull, ownedBy } from './scope'
import type { OrganizationService } from './organizations'

type ListedInteraction = Prisma.InteractionGetPayload<Record<string, never>> & { cursorAt: string }

function toInteraction (row: Prisma.InteractionGetPayload<Record<string, never>>): Interaction {
  return {
    id: row.id,
    organizationId: row.organizationId,
    contactId: omitNull(row.contactId),
    userId: row.userId,
    type: row.type,
    subject: row.subject,
    notes: omitNull(row.notes),
    createdAt: row.createdAt
  }
}

export class InteractionService {
  constructor (private readonly prisma: PrismaClient, private readonly organizations: OrganizationService, private readonly lists: Lists) {}

  /** Newest first, optionally only those at or after `since` (idx_interactions_organization_created), by offset or cursor. */
  async list (caller: Caller, organizationId: string, query: InteractionListQuery): Promise<{ data: Array<Projected<Interaction>>; page: Page }> {
    // The date-time format admits what JavaScript cannot parse (a leap second
    // :60, an hour-only offset +01) and year 0000, which PostgreSQL lacks:
    // either would reach the database as an error (a 500).
    if (query.since !== undefined && (Number.isNaN(Date.parse(query.since)) || !/^[1-9]/.test(query.since))) {
      throw new InvalidFieldError('querystring.since', 'must be a date-time in the years 1000–9999')
    }
    const scope: CursorScope = { userId: caller.id, list: `interactions:${organizationId.toLowerCase()}`, filters: { since: query.since }, sort: 'newest' }
    const fields = parseFields(query.fields, INTERACTION_FIELDS)
    const after = this.lists.newestFirstPosition(scope, query)
    const since = query.since === undefined ? Prisma.empty : Prisma.sql`AND t.created_at >= ${new Date(query.since)}`
    const fromWhere = Prisma.sql`FROM interactions t JOIN organizations o ON o.id = t.organization_id
      WHERE t.organization_id = ${organizationId}::uuid AND o.is_deleted = FALSE ${ownedBy(caller)} ${since}`
    const [, rows, total] = await Promise.all([
      this.organizations.assertVisible(caller, organizationId),
      this.prisma.$queryRaw<ListedInteraction[]>(Prisma.sql`
        SELECT t.id, t.organization_id AS "organizationId", t.contact_id AS "contactId", t.user_id AS "userId",
               t.type, t.subject, t.notes, t.created_at AS "createdAt", ${cursorTimestamp(Prisma.sql`t.created_at`)} AS "cursorAt"
        ${fromWhere} ${afterNewestFirst(after)}
        ORDER BY t.created_at DESC, t.id
        LIMIT ${query.limit + 1} OFFSET ${query.offset}`),
      countRows(this.prisma, fromWhere, query.count)
    ])
    const listed = this.lists.page(scope, query, rows, (row) => project(toInteraction(row), fields), (row) => [row.cursorAt, row.id])
    Object.assign(listed.page, total)
    return listed
  }

  /** Logged by the caller; a contact, when named, must be a live contact of the same organization. */
  async create (caller: Caller, organizationId: string, input: InteractionCreate): Promise<Written<Interaction>> {
    const owner = await this.organizations.assertVisible(caller, organizationId)
    if (input.contactId !== undefined) {
      const contact = await this.prisma.contact.findFirst({ where: { id: input.contactId, organizationId, isDeleted: false }, select: { id: true } })
      if (contact === null) throw new InvalidFieldError('body.contactId', 'does not name a contact of this organization')
    }
    const created = toInteraction(await this.prisma.interaction.create({ data: { ...input, organizationId, userId: caller.id } }))
    return written(created, change('interaction', 'create', created.id, [owner], organizationId))
  }
}
