// Opportunities of an organization; `value` travels as a two-place decimal string.
import { Prisma, type PrismaClient } from '../../generated/prisma/client'
import type { OpportunityStage } from '../../generated/prisma/enums'
import type { Caller } from '../lib/caller'
import type { CursorScope } from '../lib/cursor'
import { assertIfMatch } from '../lib/etag'
import { NotFoundError } from '../lib/http-errors'
import type { Page } from '../schemas/common'
import { OPPORTUNITY_FIELDS, type Opportunity, type OpportunityCreate, type OpportunityListQuery, type OpportunityUpdate, type Stage } from '../schemas/opportunities'
import { change, written, type Written } from './changes'
import { afterNewestFirst, countRows, cursorTimestamp, parseFields, project, type Lists, type Projected } from './listing'
import { ownedBy, scopeUserId, visibleOrganizations } from './scope'
import type { OrganizationService } from './organizations'

type Db = PrismaClient | Prisma.TransactionClient

/** API stage names (contract §1) to Prisma's enum member names, and back. */
const toPrismaStage = (stage: Stage): OpportunityStage => stage.replace('-', '_') as OpportunityStage
const fromPrismaStage = (stage: OpportunityStage): Stage => stage.replace('_', '-') as Stage

type OpportunityInput = OpportunityUpdate | OpportunityCreate

function toOpportunity (row: Prisma.OpportunityGetPayload<Record<string, never>>): Opportunity {
  return {
    id: row.id,
    organizationId: row.organizationId,
    name: row.name,
    stage: fromPrismaStage(row.stage),
    value: row.value.toFixed(2),
    // A DATE comes back as midnight UTC of that day.
    closeDate: row.closeDate === null ? undefined : row.closeDate.toISOString().slice(0, 10),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt
  }
}

/** A row of the list's own SQL: the stage as PostgreSQL spells it (the API's spelling). */
type ListedOpportunity = Omit<Prisma.OpportunityGetPayload<Record<string, never>>, 'stage'> & { stage: Stage, cursorAt: string }

function listedOpportunity (row: ListedOpportunity): Opportunity {
  return toOpportunity({ ...row, stage: toPrismaStage(row.stage) })
}

function toData (input: OpportunityInput): Prisma.OpportunityUncheckedUpdateInput {
  return {
    ...(input.name !== undefined ? { name: input.name } : {}),
    ...(input.stage !== undefined ? { stage: toPrismaStage(input.stage) } : {}),
    // A number the schema admits prints as plain decimals (no exponent between 1e-7 and 1e21).
    ...(input.value !== undefined ? { value: new Prisma.Decimal(String(input.value)) } : {}),
    ...(input.closeDate !== undefined ? { closeDate: input.closeDate === null ? null : new Date(`${input.closeDate}T00:00:00Z`) } : {})
  }
}

export class OpportunityService {
  constructor (private readonly prisma: PrismaClient, private readonly organizations: OrganizationService, private readonly lists: Lists) {}

  /** Newest first (idx_opportunities_organization_created), optionally of one stage, by offset or cursor. */
  async list (caller: Caller, organizationId: string, query: OpportunityListQuery): Promise<{ data: Array<Projected<Opportunity>>; page: Page }> {
    const scope: CursorScope = { userId: caller.id, list: `opportunities:${organizationId.toLowerCase()}`, filters: { stage: query.stage }, sort: 'newest' }
    const fields = parseFields(query.fields, OPPORTUNITY_FIELDS)
    const after = this.lists.newestFirstPosition(scope, query)
    const stage = query.stage === undefined ? Prisma.empty : Prisma.sql`AND t.stage = ${query.stage}::opportunity_stage`
    const fromWhere = Prisma.sql`FROM opportunities t JOIN organizations o ON o.id = t.organization_id
      WHERE t.organization_id = ${organizationId}::uuid AND o.is_deleted = FALSE ${ownedBy(caller)} ${stage}`
    const [, rows, total] = await Promise.all([
      this.organizations.assertVisible(caller, organizationId),
      this.prisma.$queryRaw<ListedOpportunity[]>(Prisma.sql`
        SELECT t.id, t.organization_id AS "organizationId", t.name, t.stage::text AS stage, t.value, t.close_date AS "closeDate",
               t.created_at AS "createdAt", t.updated_at AS "updatedAt", ${cursorTimestamp(Prisma.sql`t.created_at`)} AS "cursorAt"
        ${fromWhere} ${afterNewestFirst(after)}
        ORDER BY t.created_at DESC, t.id
        LIMIT ${query.limit + 1} OFFSET ${query.offset}`),
      countRows(this.prisma, fromWhere, query.count)
    ])
    const listed = this.lists.page(scope, query, rows, (row) => project(listedOpportunity(row), fields), (row) => [row.cursorAt, row.id])
    Object.assign(listed.page, total)
    return listed
  }

  async create (caller: Caller, organizationId: string, input: OpportunityCreate): Promise<Written<Opportunity>> {
    const owner = await this.organizations.assertVisible(caller, organizationId)
    const data = toData(input) as Prisma.OpportunityUncheckedCreateInput
    const created = toOpportunity(await this.prisma.opportunity.create({ data: { ...data, name: input.name, organizationId } }))
    return written(created, change('opportunity', 'create', created.id, [owner], organizationId))
  }

  async get (caller: Caller, id: string): Promise<Opportunity> {
    return toOpportunity(await this.find(this.prisma, caller, id))
  }

  /** See OrganizationService.update for why the row is locked before If-Match is checked. */
  async update (caller: Caller, id: string, input: OpportunityUpdate, ifMatch?: string): Promise<Written<Opportunity>> {
    const scopedUser = scopeUserId(caller)
    return await this.prisma.$transaction(async (tx) => {
      const locked = await tx.$queryRaw<Array<{ assigned_user_id: string }>>(Prisma.sql`
        SELECT o.assigned_user_id FROM opportunities op
        JOIN organizations o ON o.id = op.organization_id
        WHERE op.id = ${id}::uuid AND o.is_deleted = FALSE
          AND (${scopedUser}::uuid IS NULL OR o.assigned_user_id = ${scopedUser}::uuid)
        FOR UPDATE OF op`)
      if (locked[0] === undefined) throw new NotFoundError('Opportunity')
      await assertIfMatch(ifMatch, async () => toOpportunity(await this.find(tx, caller, id)))
      const updated = toOpportunity(await tx.opportunity.update({ where: { id }, data: toData(input) }))
      return written(updated, change('opportunity', 'update', id, [locked[0].assigned_user_id], updated.organizationId))
    })
  }

  private async find (db: Db, caller: Caller, id: string): Promise<Prisma.OpportunityGetPayload<Record<string, never>>> {
    const row = await db.opportunity.findFirst({ where: { id, organization: visibleOrganizations(caller) } })
    if (row === null) throw new NotFoundError('Opportunity')
    return row
  }
}
