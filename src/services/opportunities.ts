// Opportunities of an organization; `value` travels as a two-place decimal string.
import { Prisma, type PrismaClient } from '../../generated/prisma/client'
import type { OpportunityStage } from '../../generated/prisma/enums'
import type { Caller } from '../lib/caller'
import { assertIfMatch } from '../lib/etag'
import { NotFoundError } from '../lib/http-errors'
import type { Page } from '../schemas/common'
import type { Opportunity, OpportunityCreate, OpportunityListQuery, OpportunityUpdate, Stage } from '../schemas/opportunities'
import { change, written, type Written } from './changes'
import { paginate, scopeUserId, visibleOrganizations } from './scope'
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
  constructor (private readonly prisma: PrismaClient, private readonly organizations: OrganizationService) {}

  async list (caller: Caller, organizationId: string, query: OpportunityListQuery): Promise<{ data: Opportunity[]; page: Page }> {
    const [, rows] = await Promise.all([
      this.organizations.assertVisible(caller, organizationId),
      this.prisma.opportunity.findMany({
        where: {
          organizationId,
          organization: visibleOrganizations(caller),
          ...(query.stage !== undefined ? { stage: toPrismaStage(query.stage) } : {})
        },
        orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
        take: query.limit + 1,
        skip: query.offset
      })
    ])
    return paginate(rows.map(toOpportunity), query.limit, query.offset)
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
