// The dashboard: the caller's row of the dashboard_analytics materialized
// view ($queryRaw), and its refresh, which at most one instance runs at a time.
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { Prisma, type PrismaClient } from '../../generated/prisma/client'
import type { Dashboard } from '../schemas/dashboard'

/** Advisory lock held (by the refresh's transaction) while refreshing (Prisma's migrate lock is 72707369). */
export const DASHBOARD_REFRESH_LOCK = 72707370
/** A refresh scans every base table: far longer than an API query may take (about 10 s at 1M organizations). */
export const DASHBOARD_REFRESH_TIMEOUT_MS = 10 * 60_000

export interface RefreshResult {
  refreshed: boolean
  refreshedAt?: Date
  durationMs: number
}

export interface RefreshConnection {
  url: string
  ssl: false | { rejectUnauthorized: boolean }
  connectTimeoutMs: number
}

interface DashboardRow {
  user_id: string | null
  total_organizations: bigint | null
  high_priority_orgs: bigint | null
  total_contacts: bigint | null
  interactions_this_month: bigint | null
  active_opportunities: bigint | null
  won_revenue_this_quarter: Prisma.Decimal | null
  refreshed_at: Date | null
  view_refreshed_at: Date | null
}

/** The caller's row of the view, or none (exported for the EXPLAIN tests). */
export function dashboardQuery (userId: string): Prisma.Sql {
  return Prisma.sql`
    SELECT d.*, (SELECT max(v.refreshed_at) FROM dashboard_analytics v) AS view_refreshed_at
    FROM (SELECT 1) AS one
    LEFT JOIN dashboard_analytics d ON d.user_id = ${userId}::uuid`
}

export class DashboardService {
  constructor (private readonly prisma: PrismaClient, private readonly connection: RefreshConnection) {}

  /**
   * The caller's figures as of the last refresh. A user created since then
   * has no row yet: they get zeros, with the view's refresh time.
   */
  async forUser (userId: string): Promise<Dashboard> {
    const [row] = await this.prisma.$queryRaw<DashboardRow[]>(dashboardQuery(userId))
    const count = (value: bigint | null | undefined): number => Number(value ?? 0n)
    return {
      userId,
      totalOrganizations: count(row?.total_organizations),
      highPriorityOrgs: count(row?.high_priority_orgs),
      totalContacts: count(row?.total_contacts),
      interactionsThisMonth: count(row?.interactions_this_month),
      activeOpportunities: count(row?.active_opportunities),
      wonRevenueThisQuarter: (row?.won_revenue_this_quarter ?? new Prisma.Decimal(0)).toFixed(2),
      refreshedAt: row?.refreshed_at ?? row?.view_refreshed_at ?? undefined
    }
  }

  /**
   * Refreshes the view CONCURRENTLY (readers keep the old contents meanwhile)
   * on a connection of its own: the pool's statement timeout is too short for
   * it, and the advisory lock is held by its transaction. With wait=false another
   * instance's refresh in progress means this one is skipped.
   */
  /** When the view was last refreshed, by any instance (undefined before the first refresh). */
  async lastRefreshedAt (): Promise<Date | undefined> {
    const [row] = await this.prisma.$queryRaw<Array<{ at: Date | null }>>`SELECT max(refreshed_at) AS at FROM dashboard_analytics`
    return row?.at ?? undefined
  }

  async refresh (options: { wait: boolean }): Promise<RefreshResult> {
    const started = performance.now()
    const client = new pg.Client({
      connectionString: this.connection.url,
      ssl: this.connection.ssl,
      connectionTimeoutMillis: this.connection.connectTimeoutMs,
      application_name: 'crm-service dashboard refresh'
    })
    // A server that goes away between two of its statements (a crash, a
    // restart) is reported by the next query's rejection; the client's own
    // 'error' event must not become an uncaught exception meanwhile.
    client.on('error', () => {})
    await client.connect()
    try {
      // One transaction, its timeout and lock scoped to it: behind a
      // transaction pooler (DATABASE_POOLER=transaction) nothing of a session
      // survives between transactions, so neither a startup statement_timeout
      // nor a session-level lock would hold. The transaction-level lock
      // conflicts with session-level ones on the same key all the same.
      const begin = async (): Promise<void> => {
        await client.query('BEGIN')
        await client.query(`SET LOCAL statement_timeout = ${DASHBOARD_REFRESH_TIMEOUT_MS}`)
      }
      const locked = async (): Promise<boolean> =>
        (await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [DASHBOARD_REFRESH_LOCK])).rows[0]?.locked === true
      await begin()
      // The view's refreshed_at is now(), the time this transaction began. One
      // that waited for another refresh began before that one committed, and
      // would label newer figures with an older time (refreshedAt would step
      // back). So a refresh that had to wait starts over in a new transaction.
      while (!await locked()) {
        if (!options.wait) {
          await client.query('ROLLBACK')
          return { refreshed: false, durationMs: performance.now() - started }
        }
        // Wait for the refresh in progress to commit, then begin anew.
        await client.query('SELECT pg_advisory_xact_lock($1)', [DASHBOARD_REFRESH_LOCK])
        await client.query('ROLLBACK')
        await begin()
      }
      await client.query('SELECT refresh_dashboard_analytics()')
      const { rows } = await client.query<{ refreshed_at: Date | null }>('SELECT max(refreshed_at) AS refreshed_at FROM dashboard_analytics')
      await client.query('COMMIT')
      // The same periodic job moves the interaction counters' kept-from day
      // forward (it only keeps the listing's reads short; the counts are exact
      // either way): batches of 1,000 organizations, each its own transaction,
      // so no counter row stays locked for longer than one batch. Two
      // instances rolling at once only lock the same rows in the same order.
      for (let i = 0; i < 1000; i++) {
        const { rows: [rolled] } = await client.query<{ n: number }>('SELECT organization_counters_roll(1000) AS n')
        if ((rolled?.n ?? 0) < 1000) break
      }
      return { refreshed: true, refreshedAt: rows[0]?.refreshed_at ?? undefined, durationMs: performance.now() - started }
    } finally {
      // Closing the session also ends the transaction (and its lock) if anything above failed.
      await client.end()
    }
  }
}
