// Interactions: an append-only log per organization, newest first.
import type { PrismaClient, Prisma } from '../../generated/prisma/client'
import type { Caller } from '../lib/caller'
import { InvalidFieldError } from '../lib/http-errors'
import type { Page } from '../schemas/common'
import type { Interaction, InteractionCreate, InteractionListQuery } from '../schemas/interactions'
import { change, written, type Written } from './changes'
import { omitNull, paginate, visibleOrganizations } from './scope'
import type { OrganizationService } from './organizations'

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
  constructor (private readonly prisma: PrismaClient, private readonly organizations: OrganizationService) {}

  /** Newest first, optionally only those at or after `since` (idx_interactions_organization_created). */
  async list (caller: Caller, organizationId: string, query: InteractionListQuery): Promise<{ data: Interaction[]; page: Page }> {
    // The date-time format admits what JavaScript cannot parse (a leap second
    // :60, an hour-only offset +01) and year 0000, which PostgreSQL lacks:
    // either would reach the database as an error (a 500).
    if (query.since !== undefined && (Number.isNaN(Date.parse(query.since)) || !/^[1-9]/.test(query.since))) {
      throw new InvalidFieldError('querystring.since', 'must be a date-time in the years 1000–9999')
    }
    const [, rows] = await Promise.all([
      this.organizations.assertVisible(caller, organizationId),
      this.prisma.interaction.findMany({
        where: {
          organizationId,
          organization: visibleOrganizations(caller),
          ...(query.since !== undefined ? { createdAt: { gte: new Date(query.since) } } : {})
        },
        orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
        take: query.limit + 1,
        skip: query.offset
      })
    ])
    return paginate(rows.map(toInteraction), query.limit, query.offset)
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
