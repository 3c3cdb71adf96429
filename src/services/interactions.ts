// Interactions: an append-only log per organization, newest first.
import type { PrismaClient, Prisma } from '../../generated/prisma/client'
import type { InteractionType } from '../../generated/prisma/enums'
import type { Caller } from '../lib/caller'
import { InvalidFieldError } from '../lib/http-errors'
import { omitNull, paginate, visibleOrganizations, type Page, type TouchedOwners } from './scope'
import type { OrganizationService } from './organizations'

export interface Interaction {
  id: string
  organizationId: string
  contactId?: string
  userId: string
  type: InteractionType
  subject: string
  notes?: string
  createdAt: Date
}

export interface InteractionInput {
  type: InteractionType
  subject: string
  notes?: string
  contactId?: string
}

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
  async list (caller: Caller, organizationId: string, query: { limit: number; offset: number; since?: string }): Promise<{ data: Interaction[]; page: Page }> {
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
  async create (caller: Caller, organizationId: string, input: InteractionInput, touched?: TouchedOwners): Promise<Interaction> {
    touched?.add(await this.organizations.assertVisible(caller, organizationId))
    if (input.contactId !== undefined) {
      const contact = await this.prisma.contact.findFirst({ where: { id: input.contactId, organizationId, isDeleted: false }, select: { id: true } })
      if (contact === null) throw new InvalidFieldError('body.contactId', 'does not name a contact of this organization')
    }
    return toInteraction(await this.prisma.interaction.create({ data: { ...input, organizationId, userId: caller.id } }))
  }
}
