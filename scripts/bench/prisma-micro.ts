// The Prisma micro-scenario of the bench: the hot reads through Prisma's ORM,
// $queryRaw and raw pg, in this process, against the bench's database.
import { performance } from 'node:perf_hooks'
import type pg from 'pg'
import { Prisma } from '../../generated/prisma/client'
import { loadConfig } from '../../src/lib/config'
import { Database } from '../../src/lib/database'
import { CursorCodec } from '../../src/lib/cursor'
import { Lists } from '../../src/services/listing'
import { OrganizationService } from '../../src/services/organizations'
import { latencyStats, type LatencyStats } from '../lib/stats'
import type { Member } from './dataset'
import { TITLES, type BenchOptions } from './options'

export interface MicroStats { calls: number; opsPerSec: number; latencyMs: LatencyStats }
export interface MicroVariant {
  group: string
  variant: string
  sequential: MicroStats
  concurrent: MicroStats
  ratio?: { sequential: number; concurrent: number }
}
export interface PrismaResult { key: 'prisma'; title: string; iterations: number; concurrency: number; poolSize: number; reference: string; consistent: boolean; variants: MicroVariant[]; notes: string[] }

async function timeCalls (call: (i: number) => Promise<unknown>, iterations: number, concurrency: number): Promise<MicroStats> {
  const latencies: number[] = []
  let next = 0
  const started = performance.now()
  const worker = async (): Promise<void> => {
    while (next < iterations) {
      const i = next++
      const t0 = performance.now()
      await call(i)
      latencies.push(performance.now() - t0)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const seconds = (performance.now() - started) / 1000
  return { calls: latencies.length, opsPerSec: latencies.length / seconds, latencyMs: latencyStats(latencies) }
}

const ORG_BY_ID_SQL = `
  SELECT o.id, o.name, o.industry_segment, o.priority_level, o.primary_email, o.primary_phone, o.website,
         o.annual_revenue, o.assigned_user_id, o.created_at, o.updated_at,
         (SELECT count(*)::int FROM contacts c WHERE c.organization_id = o.id AND c.is_deleted = FALSE) AS contact_count,
         (SELECT count(*)::int FROM interactions i WHERE i.organization_id = o.id AND i.created_at >= $2) AS interaction_count,
         (SELECT count(*)::int FROM opportunities p WHERE p.organization_id = o.id
            AND p.stage IN ('prospecting', 'qualification', 'proposal', 'negotiation')) AS opportunity_count
  FROM organizations o
  WHERE o.id = $1::uuid AND o.is_deleted = FALSE AND o.assigned_user_id = $3::uuid`
const USER_BY_ID_SQL = 'SELECT id, email, name, role, is_active FROM users WHERE id = $1::uuid'
const OPEN_STAGES = ['prospecting', 'qualification', 'proposal', 'negotiation'] as const

/** The same text and values as a Prisma.sql fragment ($n placeholders become bound values, in order of appearance). */
function prismaSql (text: string, values: unknown[]): Prisma.Sql {
  const parts = text.split(/\$(\d+)/)
  return Prisma.sql(parts.filter((_, i) => i % 2 === 0), ...parts.filter((_, i) => i % 2 === 1).map((n) => values[Number(n) - 1]))
}

/**
 * The hot reads three ways against the same database, in this process:
 * Prisma's ORM (findFirst with a filtered _count include, as
 * services/organizations.ts `read` was written; findUnique for the auth
 * lookup), the same through the service as it is now, a $queryRaw of
 * equivalent SQL, and raw pg (the reference; also as a named prepared
 * statement). Sequential calls show per-call overhead, concurrent ones the
 * CPU cost under load.
 */
export async function prismaScenario (ctx: { opts: BenchOptions; member: Member; ids: string[]; pool: pg.Pool }): Promise<PrismaResult> {
  const { opts, member, ids } = ctx
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: opts.databaseUrl, JWT_SECRET: 'x'.repeat(32) })
  const database = new Database({ ...config.database, url: opts.databaseUrl }, { warn: () => {}, error: () => {} })
  try {
    await database.warmUp()
    const prisma = database.prisma
    const service = new OrganizationService(prisma, new Lists(new CursorCodec(config.jwtSecret)))
    const caller = { id: member.id, email: member.email, name: 'bench', role: 'member' as const }
    const since = new Date(Date.now() - 90 * 86_400_000)
    const orgId = (i: number): string => ids[i % ids.length]!
    const { rows: userRows } = await ctx.pool.query<{ id: string }>('SELECT id FROM users ORDER BY id')
    const userId = (i: number): string => userRows[i % userRows.length]!.id

    const orgVariants: Array<[string, (i: number) => Promise<unknown>]> = [
      ['prisma findFirst + _count', async (i) => await prisma.organization.findFirst({
        where: { id: orgId(i), isDeleted: false, assignedUserId: member.id },
        include: {
          _count: {
            select: {
              contacts: { where: { isDeleted: false } },
              interactions: { where: { createdAt: { gte: since } } },
              opportunities: { where: { stage: { in: [...OPEN_STAGES] } } }
            }
          }
        }
      })],
      ['service.get (current code)', async (i) => await service.get(caller, orgId(i))],
      ['$queryRaw', async (i) => await prisma.$queryRaw(prismaSql(ORG_BY_ID_SQL, [orgId(i), since, member.id]))],
      ['pg (same SQL)', async (i) => await database.pool.query(ORG_BY_ID_SQL, [orgId(i), since, member.id])],
      ['pg prepared (named)', async (i) => await database.pool.query({ name: 'bench_org_by_id', text: ORG_BY_ID_SQL, values: [orgId(i), since, member.id] })]
    ]
    const userVariants: Array<[string, (i: number) => Promise<unknown>]> = [
      ['prisma findUnique', async (i) => await prisma.user.findUnique({ where: { id: userId(i) }, select: { id: true, email: true, name: true, role: true, isActive: true } })],
      ['$queryRaw', async (i) => await prisma.$queryRaw(prismaSql(USER_BY_ID_SQL, [userId(i)]))],
      ['pg (same SQL)', async (i) => await database.pool.query(USER_BY_ID_SQL, [userId(i)])],
      ['pg prepared (named)', async (i) => await database.pool.query({ name: 'bench_user_by_id', text: USER_BY_ID_SQL, values: [userId(i)] })]
    ]

    // The variants must read the same thing.
    const probe = ids[0]!
    const viaPrisma = await orgVariants[0]![1](0) as { _count: { contacts: number; interactions: number; opportunities: number } } | null
    const viaRaw = await orgVariants[3]![1](0) as pg.QueryResult<{ contact_count: number; interaction_count: number; opportunity_count: number }>
    const viaService = await service.get(caller, probe)
    const raw = viaRaw.rows[0]
    const consistent = viaPrisma !== null && raw !== undefined &&
      viaPrisma._count.contacts === raw.contact_count && viaPrisma._count.interactions === raw.interaction_count &&
      viaPrisma._count.opportunities === raw.opportunity_count && viaService.contactCount === raw.contact_count &&
      viaService.opportunityCount === raw.opportunity_count

    const variants: MicroVariant[] = []
    const iterations = opts.prismaIterations
    for (const [group, list] of [['org by id', orgVariants], ['auth user by id', userVariants]] as const) {
      const measured: MicroVariant[] = []
      for (const [variant, call] of list) {
        await timeCalls(call, Math.min(200, iterations), 4) // warm-up: JIT, plan caches, prepared statements
        const sequential = await timeCalls(call, iterations, 1)
        const concurrent = await timeCalls(call, iterations, opts.connections)
        measured.push({ group, variant, sequential, concurrent })
      }
      const reference = measured.find((m) => m.variant === 'pg (same SQL)')!
      for (const m of measured) {
        m.ratio = { sequential: m.sequential.opsPerSec / reference.sequential.opsPerSec, concurrent: m.concurrent.opsPerSec / reference.concurrent.opsPerSec }
      }
      variants.push(...measured)
    }
    return {
      key: 'prisma',
      title: TITLES.prisma,
      iterations,
      concurrency: opts.connections,
      poolSize: config.database.poolSize,
      reference: 'pg (same SQL)',
      consistent,
      variants,
      notes: [`lib/database pool of ${config.database.poolSize} (the service's default), ${iterations} calls per variant and mode, after a warm-up`]
    }
  } finally {
    await database.close()
  }
}
