// Contacts, always reached through their organization's scope.
import { Prisma, type PrismaClient } from '../../generated/prisma/client'
import type { Caller } from '../lib/caller'
import { assertIfMatch } from '../lib/etag'
import { NotFoundError } from '../lib/http-errors'
import type { Page } from '../schemas/common'
import type { Contact, ContactCreate, ContactUpdate } from '../schemas/contacts'
import { change, written, type Written } from './changes'
import { omitNull, paginate, scopeUserId, visibleOrganizations } from './scope'
import type { OrganizationService } from './organizations'

type Db = PrismaClient | Prisma.TransactionClient

type ContactRow = Prisma.ContactGetPayload<Record<string, never>>

function toContact (row: ContactRow): Contact {
  return {
    id: row.id,
    organizationId: row.organizationId,
    firstName: row.firstName,
    lastName: row.lastName,
    email: omitNull(row.email),
    phone: omitNull(row.phone),
    title: omitNull(row.title),
    isPrimary: row.isPrimary,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt
  }
}

export class ContactService {
  constructor (private readonly prisma: PrismaClient, private readonly organizations: OrganizationService) {}

  /** Newest first (served by idx_contacts_organization_active). */
  async list (caller: Caller, organizationId: string, limit: number, offset: number): Promise<{ data: Contact[]; page: Page }> {
    const [, rows] = await Promise.all([
      this.organizations.assertVisible(caller, organizationId),
      this.prisma.contact.findMany({
        where: { organizationId, isDeleted: false, organization: visibleOrganizations(caller) },
        orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
        take: limit + 1,
        skip: offset
      })
    ])
    return paginate(rows.map(toContact), limit, offset)
  }

  /** A new primary contact takes over from the previous one: one primary per organization. */
  async create (caller: Caller, organizationId: string, input: ContactCreate): Promise<Written<Contact>> {
    const owner = await this.organizations.assertVisible(caller, organizationId)
    const created = await this.prisma.$transaction(async (tx) => {
      if (input.isPrimary === true) {
        // Serializes primary changers of one organization: otherwise two of them each clear
        // the primaries they can see (not each other's uncommitted one) and both commit.
        // NO KEY UPDATE: plain contact inserts (their FK check takes KEY SHARE) do not wait.
        await tx.$queryRaw`SELECT id FROM organizations WHERE id = ${organizationId}::uuid FOR NO KEY UPDATE`
        await tx.contact.updateMany({ where: { organizationId, isPrimary: true }, data: { isPrimary: false } })
      }
      return toContact(await tx.contact.create({ data: { ...input, organizationId } }))
    })
    return written(created, change('contact', 'create', created.id, [owner], organizationId))
  }

  async get (caller: Caller, id: string): Promise<Contact> {
    return toContact(await this.find(this.prisma, caller, id))
  }

  /** See OrganizationService.update for why the row is locked before If-Match is checked. */
  async update (caller: Caller, id: string, input: ContactUpdate, ifMatch?: string): Promise<Written<Contact>> {
    const scopedUser = scopeUserId(caller)
    return await this.prisma.$transaction(async (tx) => {
      if (input.isPrimary === true) {
        // As in create, and before the contact's row lock so primary changers never deadlock.
        await tx.$queryRaw`SELECT o.id FROM organizations o JOIN contacts c ON c.organization_id = o.id
          WHERE c.id = ${id}::uuid FOR NO KEY UPDATE OF o`
      }
      const locked = await tx.$queryRaw<Array<{ organization_id: string; assigned_user_id: string }>>(Prisma.sql`
        SELECT c.organization_id, o.assigned_user_id FROM contacts c
        JOIN organizations o ON o.id = c.organization_id
        WHERE c.id = ${id}::uuid AND c.is_deleted = FALSE AND o.is_deleted = FALSE
          AND (${scopedUser}::uuid IS NULL OR o.assigned_user_id = ${scopedUser}::uuid)
        FOR UPDATE OF c`)
      const organizationId = locked[0]?.organization_id
      if (organizationId === undefined) throw new NotFoundError('Contact')
      await assertIfMatch(ifMatch, async () => toContact(await this.find(tx, caller, id)))
      if (input.isPrimary === true) {
        await tx.contact.updateMany({ where: { organizationId, isPrimary: true, id: { not: id } }, data: { isPrimary: false } })
      }
      const updated = toContact(await tx.contact.update({ where: { id }, data: input }))
      return written(updated, change('contact', 'update', id, [locked[0]!.assigned_user_id], organizationId))
    })
  }

  async softDelete (caller: Caller, id: string): Promise<Written<null>> {
    const scopedUser = scopeUserId(caller)
    const deleted = await this.prisma.$queryRaw<Array<{ assigned_user_id: string; organization_id: string }>>(Prisma.sql`
      UPDATE contacts c SET is_deleted = TRUE, is_primary = FALSE
      FROM organizations o
      WHERE c.id = ${id}::uuid AND c.is_deleted = FALSE AND o.id = c.organization_id AND o.is_deleted = FALSE
        AND (${scopedUser}::uuid IS NULL OR o.assigned_user_id = ${scopedUser}::uuid)
      RETURNING o.assigned_user_id, c.organization_id`)
    if (deleted[0] === undefined) throw new NotFoundError('Contact')
    return written(null, change('contact', 'delete', id, [deleted[0].assigned_user_id], deleted[0].organization_id))
  }

  private async find (db: Db, caller: Caller, id: string): Promise<ContactRow> {
    const row = await db.contact.findFirst({ where: { id, isDeleted: false, organization: visibleOrganizations(caller) } })
    if (row === null) throw new NotFoundError('Contact')
    return row
  }
}
