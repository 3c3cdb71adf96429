// The database layer: one pg pool shared by Prisma (through @prisma/adapter-pg)
// and by the few raw queries, plus what the seed's DatabaseManager offered:
// pool and query metrics, a health check, a transaction helper and close().
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient } from '../generated/prisma/client'
import type { DatabaseConfig } from './config'

export interface DatabaseMetrics {
  totalConnections: number
  idleConnections: number
  waitingClients: number
  queryCount: number
  /** Mean duration in ms of every query since start. */
  averageQueryTime: number
  errorCount: number
}

export interface DatabaseLogger {
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

export type TransactionClient = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0]

/**
 * Fields of a pg error that are safe to log: codes and object names, never
 * the message's quoted values, the parameters or the statement text.
 */
export function safeDbError (err: unknown): Record<string, unknown> {
  const e = err as Partial<pg.DatabaseError> & { code?: string; name?: string }
  return {
    name: e.name,
    code: e.code,
    severity: e.severity,
    table: e.table,
    column: e.column,
    constraint: e.constraint,
    routine: e.routine
  }
}

export class Database {
  readonly pool: pg.Pool
  readonly prisma: PrismaClient
  private queryCount = 0
  private totalQueryMs = 0
  private errorCount = 0

  constructor (readonly config: DatabaseConfig & { url: string }, private readonly logger: DatabaseLogger) {
    this.pool = new pg.Pool({
      connectionString: config.url,
      max: config.poolSize,
      min: config.poolMin,
      idleTimeoutMillis: config.idleTimeoutMs,
      // Waiting for a free connection is bounded: an exhausted pool or an
      // unreachable server fails fast (the API answers 503) instead of queueing.
      connectionTimeoutMillis: config.connectTimeoutMs,
      // Client-side timeout, and the same limit server-side so PostgreSQL
      // stops working on an abandoned query too.
      query_timeout: config.queryTimeoutMs,
      statement_timeout: config.queryTimeoutMs,
      idle_in_transaction_session_timeout: config.queryTimeoutMs * 2,
      application_name: 'crm-service',
      ssl: config.ssl
    })
    // Without a listener an idle client's error (server restart) crashes the process.
    this.pool.on('error', (err) => {
      this.logger.warn({ err: safeDbError(err) }, 'idle database connection failed; it was removed from the pool')
    })
    this.pool.on('connect', (client) => this.instrument(client))
    this.prisma = new PrismaClient({ adapter: new PrismaPg(this.pool, { disposeExternalPool: false }) })
  }

  /** Opens `min` connections now so the first requests do not pay for them. */
  async warmUp (): Promise<void> {
    const clients = await Promise.all(Array.from({ length: this.config.poolMin }, async () => await this.pool.connect()))
    for (const client of clients) client.release()
  }

  // Times every query on this connection, whoever issues it (Prisma, raw SQL,
  // transactions), without touching its text or values.
  private instrument (client: pg.PoolClient): void {
    const original = client.query.bind(client) as (...args: unknown[]) => unknown
    const record = (started: number, failed: boolean): void => {
      this.queryCount++
      this.totalQueryMs += performance.now() - started
      if (failed) this.errorCount++
    }
    ;(client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const started = performance.now()
      const callback = args[args.length - 1]
      if (typeof callback === 'function') {
        args[args.length - 1] = (err: unknown, res: unknown) => {
          record(started, err != null)
          return (callback as (e: unknown, r: unknown) => unknown)(err, res)
        }
        return original(...args)
      }
      const result = original(...args)
      if (result instanceof Promise) {
        return result.then(
          (value) => { record(started, false); return value },
          (err) => { record(started, true); throw err })
      }
      return result
    }
  }

  metrics (): DatabaseMetrics {
    return {
      totalConnections: this.pool.totalCount,
      idleConnections: this.pool.idleCount,
      waitingClients: this.pool.waitingCount,
      queryCount: this.queryCount,
      averageQueryTime: this.queryCount === 0 ? 0 : this.totalQueryMs / this.queryCount,
      errorCount: this.errorCount
    }
  }

  /** True when PostgreSQL answers within the connect timeout. */
  async healthCheck (): Promise<boolean> {
    try {
      await this.pool.query('SELECT 1')
      return true
    } catch (err) {
      this.logger.warn({ err: safeDbError(err) }, 'database health check failed')
      return false
    }
  }

  /** Runs `fn` in one transaction; bounded both in waiting for a connection and in duration. */
  async transaction<T> (fn: (tx: TransactionClient) => Promise<T>): Promise<T> {
    return await this.prisma.$transaction(fn, {
      maxWait: this.config.connectTimeoutMs,
      timeout: this.config.queryTimeoutMs
    })
  }

  async close (): Promise<void> {
    await this.prisma.$disconnect()
    await this.pool.end()
  }
}
