// Contacts, always reached through their organization's scope.
import { Prisma, type PrismaClient } from '../../generated/prisma/client'
import type { Caller } from '../lib/caller'
import { assertIfMatch } from '../lib/etag'
import { NotFoundError } from '../lib/http-errors'
import type { Page } from '../schemas/common'
import type { CursorScope } from '../lib/cursor'
import { CONTACT_FIELDS, type Contact, type ContactCreate, type ContactListQuery, type ContactUpdate } from '../schemas/contacts'
import { change, written, type Written } from './changes'
import { afterNewestFirst, countRows, cursorTimestamp, parseFields, project, type Lists, type Projected } from './listing'
import { omitNull, ownedBy, scopeUserId, visibleOrganizations } from './scope'
import type { OrganizationService } from './organizations'

type Db = PrismaClient | Prisma.TransactionClient

type ContactRow = Omit<Prisma.ContactGetPayload<Record<string, never>>, 'isDeleted'>
type ListedContact = ContactRow & { cursorAt: string }

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
  constructor (private readonly prisma: PrismaClient, private readonly organizations: OrganizationService, private readonly lists: Lists) {}

  /** Newest first (idx_contacts_organization_active), by offset or keyset cursor (contract §6). */
  async list (caller: Caller, organizationId: string, query: ContactListQuery): Promise<{ data: Array<Projected<Contact>>; page: Page }> {
    const scope: CursorScope = { userId: caller.id, list: `contacts:${organizationId.toLowerCase()}`, filters: {}, sort: 'newest' }
    const fields = parseFields(query.fields, CONTACT_FIELDS)
    const after = this.lists.newestFirstPosition(scope, query)
    const fromWhere = Prisma.sql`FROM contacts t JOIN organizations o ON o.id = t.organization_id
      WHERE t.organization_id = ${organizationId}::uuid AND t.is_deleted = FALSE AND o.is_deleted = FALSE ${ownedBy(caller)}`
    const [, rows, total] = await Promise.all([
      this.organizations.assertVisible(caller, organizationId),
      this.prisma.$queryRaw<ListedContact[]>(Prisma.sql`
        SELECT t.id, t.organization_id AS "organizationId", t.first_name AS "firstName", t.last_name AS "lastName",
               t.email, t.phone, t.title, t.is_primary AS "isPrimary", t.created_at AS "createdAt", t.updated_at AS "updatedAt",
               ${cursorTimestamp(Prisma.sql`t.created_at`)} AS "cursorAt"
        ${fromWhere} ${afterNewestFirst(after)}
        ORDER BY t.created_at DESC, t.id
        LIMIT ${query.limit + 1} OFFSET ${query.offset}`),
      countRows(this.prisma, fromWhere, query.count)
    ])
    const listed = this.lists.page(scope, query, rows, (row) => project(toContact(row), fields), (row) => [row.cursorAt, row.id])
    Object.assign(listed.page, total)
    return listed
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
