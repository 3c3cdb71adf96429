// The database layer: one pg pool shared by Prisma (through @prisma/adapter-pg)
// and by the few raw queries, plus what the seed's DatabaseManager offered:
// pool and query metrics, a health check, a transaction helper and close().
import { createHash } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { LRUCache } from 'lru-cache'
import pg from 'pg'
import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient } from '../../generated/prisma/client'
import type { DatabaseConfig } from './config'
import { boundCheckout, destroy, STALL_MS, StallWatchdog } from './stall-watchdog'

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

/** Called after every query (metrics): its duration, whether it failed, and its name. */
export type QueryObserver = (durationMs: number, failed: boolean, name: string) => void

/**
 * A short name for a statement, safe to log and to use as a metric label:
 * the verb and the first table or function it names, never any value
 * (e.g. "select organizations", "select get_organizations_optimized", "begin").
 */
export function queryName (text: unknown): string {
  if (typeof text !== 'string') return 'unknown'
  const verb = /^\s*(\w+)/.exec(text)?.[1]?.toLowerCase() ?? 'unknown'
  const target = /\b(?:from|into|update|join)\s+(?:"?\w+"?\.)?"?(\w+)"?/i.exec(text)?.[1] ??
    /^\s*select\s+(?:\*\s+from\s+)?(\w+)\s*\(/i.exec(text)?.[1]
  return target === undefined ? verb : `${verb} ${target.toLowerCase()}`
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

/**
 * Prisma's own transaction timers, set just past the pool's connect timeout
 * and the statement timeout: those fail with errors the API answers as 503
 * (with Retry-After), while Prisma's (P2028) would be a 500.
 */
export function transactionLimits (config: Pick<DatabaseConfig, 'connectTimeoutMs' | 'queryTimeoutMs'>): { maxWait: number; timeout: number } {
  return { maxWait: config.connectTimeoutMs + 1000, timeout: config.queryTimeoutMs + 1000 }
}

/**
 * Names for PostgreSQL prepared statements, so each pooled connection parses
 * a statement once and PostgreSQL may reuse its plan (a generic plan after
 * five executions, when that is no costlier). The name is a hash of the SQL
 * text: the same text always gets the same name, different texts never share
 * one. The listing is named too: get_organizations_optimized keeps one
 * generic plan per filter shape inside the server session itself.
 */
export function preparedStatementName (): (query: { sql: string }) => string {
  const names = new LRUCache<string, string>({ max: 2000 })
  return (query) => {
    let name = names.get(query.sql)
    if (name === undefined) {
      name = `crm_${createHash('sha1').update(query.sql).digest('hex')}`
      names.set(query.sql, name)
    }
    return name
  }
}

export class Database {
  readonly pool: pg.Pool
  readonly prisma: PrismaClient
  private queryCount = 0
  private totalQueryMs = 0
  private errorCount = 0
  /** Set by the metrics plugin. */
  onQuery: QueryObserver | undefined
  /**
   * The logger of whoever issues a query (the request being served), read
   * when the query is sent: pg completes queries in its socket's async
   * context, where the request's is gone.
   */
  currentLogger: (() => DatabaseLogger | undefined) | undefined

  /** Every connection of the pool, idle or checked out (the watchdog may have to cut them all). */
  private readonly clients = new Set<pg.PoolClient>()
  private readonly watchdog: StallWatchdog

  constructor (readonly config: DatabaseConfig & { url: string }, private readonly logger: DatabaseLogger) {
    const pooled = config.pooler === 'transaction'
    this.pool = new pg.Pool({
      connectionString: config.url,
      max: config.poolSize,
      min: config.poolMin,
      idleTimeoutMillis: config.idleTimeoutMs,
      // Waiting for a free connection is bounded: an exhausted pool or an
      // unreachable server fails fast (the API answers 503) instead of queueing.
      connectionTimeoutMillis: config.connectTimeoutMs,
      // A server that vanished (host down, network cut) is noticed by the kernel.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      // Client-side timeout, and the same limit server-side so PostgreSQL
      // stops working on an abandoned query too. Behind a transaction pooler
      // the server-side limits cannot be startup parameters (PgBouncer refuses
      // them, and a setting would stick to a server connection other clients
      // share): they are the role's settings and PgBouncer's own there
      // (docs/operations.md, "Behind PgBouncer").
      query_timeout: config.queryTimeoutMs,
      ...(pooled ? {} : { statement_timeout: config.queryTimeoutMs, idle_in_transaction_session_timeout: config.queryTimeoutMs * 2 }),
      application_name: 'crm-service',
      ssl: config.ssl
    })
    boundCheckout(this.pool, config.connectTimeoutMs, () => this.watchdog.hung())
    // Without a listener an idle client's error (server restart) crashes the process.
    this.pool.on('error', (err) => {
      this.logger.warn({ err: safeDbError(err) }, 'idle database connection failed; it was removed from the pool')
    })
    this.pool.on('connect', (client) => {
      this.clients.add(client)
      this.instrument(client)
      // A checked-out client between two queries (Prisma holds one across a
      // transaction) has no pool listener: a server shutting down (57P01)
      // would be an uncaught 'error' event. Its holder's next query rejects
      // on the broken client (503), so the event itself needs no handling.
      client.on('error', () => {})
    })
    this.pool.on('remove', (client) => this.clients.delete(client))
    this.watchdog = new StallWatchdog({
      connectionString: config.url,
      ssl: config.ssl,
      // Stall plus probe within the connect timeout: a request cut by the
      // watchdog waits about as long as one refused by the pool's checkout.
      deadlineMs: Math.max(config.connectTimeoutMs - STALL_MS, config.connectTimeoutMs / 2),
      onHung: () => {
        this.logger.warn({ connections: this.clients.size }, 'the database does not answer (a new connection got no reply within the connect timeout): closing every pooled connection')
        for (const client of this.clients) destroy(client)
      },
      onRecovered: (hungMs) => this.logger.warn({ hungMs }, 'the database answers again')
    })
    this.prisma = new PrismaClient({
      // Named statements outlive their transaction on the server connection;
      // a transaction pooler gives the next transaction another one (PgBouncer
      // then drops it: "got packet 'E' from server when not linked").
      adapter: new PrismaPg(this.pool, { disposeExternalPool: false, ...(pooled ? {} : { statementNameGenerator: preparedStatementName() }) }),
      // For every $transaction (the services' too). Prisma's defaults (2 s to
      // start, 5 s in all) would fail a transaction waiting for a busy pool
      // after 2 s with a 500; a little beyond our own limits, the pool's connect
      // timeout and the statement timeout fire first and answer 503 instead.
      transactionOptions: transactionLimits(config)
    })
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
    const slowQueryMs = this.config.slowQueryMs
    const record = (started: number, failed: boolean, text: unknown, log: DatabaseLogger, done: () => void): void => {
      done()
      const ms = performance.now() - started
      this.queryCount++
      this.totalQueryMs += ms
      if (failed) this.errorCount++
      if (this.onQuery !== undefined || (slowQueryMs > 0 && ms >= slowQueryMs)) {
        const name = queryName(text)
        this.onQuery?.(ms, failed, name)
        if (slowQueryMs > 0 && ms >= slowQueryMs) log.warn({ query: name, durationMs: Math.round(ms), failed }, 'slow query')
      }
    }
    ;(client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const started = performance.now()
      const done = this.watchdog.begin()
      const first = args[0] as { text?: unknown } | string | undefined
      const text = typeof first === 'string' ? first : first?.text
      const log = this.currentLogger?.() ?? this.logger
      const callback = args[args.length - 1]
      if (typeof callback === 'function') {
        args[args.length - 1] = (err: unknown, res: unknown) => {
          record(started, err != null, text, log, done)
          return (callback as (e: unknown, r: unknown) => unknown)(err, res)
        }
        return original(...args)
      }
      let result: unknown
      try {
        result = original(...args)
      } catch (err) {
        done()
        throw err
      }
      if (!(result instanceof Promise)) done() // a submittable (cursor, stream): not tracked
      if (result instanceof Promise) {
        return result.then(
          (value) => { record(started, false, text, log, done); return value },
          (err) => { record(started, true, text, log, done); throw err })
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

  /**
   * True when PostgreSQL answers within the connect timeout. The deadline is
   * our own: on a pooled connection to a hung server the query would wait for
   * the query timeout (the watchdog then cuts it).
   */
  async healthCheck (): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error('no answer within the connect timeout'), { code: 'ETIMEDOUT' })), this.config.connectTimeoutMs)
    })
    const query = this.pool.query('SELECT 1')
    query.catch(() => {})
    try {
      await Promise.race([query, expired])
      return true
    } catch (err) {
      this.logger.warn({ err: safeDbError(err) }, 'database health check failed')
      return false
    } finally {
      clearTimeout(timer)
    }
  }

  /** Runs `fn` in one transaction; bounded both in waiting for a connection and in duration. */
  async transaction<T> (fn: (tx: TransactionClient) => Promise<T>): Promise<T> {
    return await this.prisma.$transaction(fn, transactionLimits(this.config))
  }

  async close (): Promise<void> {
    this.watchdog.stop()
    await this.prisma.$disconnect()
    await this.pool.end()
  }
}
