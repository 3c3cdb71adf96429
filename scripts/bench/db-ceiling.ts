// The database side of the benchmark (started by scripts/bench/main.ts), in a
// child process so it shares no event loop with the harness. Two modes:
//
// ceiling  the statement the service sends for scenario (b) (built by the
//          service's own organizationPageQuery, so it stays the service's SQL), with
//          the same parameter distribution, called by a raw `pg` loop at the
//          bench's concurrency: one Pool of C connections, C workers each
//          awaiting one query at a time. pgbench cannot draw random search
//          strings and segments, hence Node.
// latency  one connection, for get_organizations_optimized called directly
//          (SELECT * FROM get_organizations_optimized($1, …), bound parameters)
//          and for the service's statement: the latency of N sequential calls
//          as unnamed statements (parsed and planned per call, as Prisma's
//          $queryRaw sends them) and as a named prepared statement (PostgreSQL
//          may then reuse a generic plan), and the planning share from
//          EXPLAIN (ANALYZE) samples: planning time against execution time.
//          The two statements alternate call by call.
//
// Input: one argument, JSON DbCeilingInput or DbLatencyInput (see db-side.ts).
// Output: a line `RESULT {json}` on stdout.
import { createHash } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { COUNT_FIELDS, organizationPageQuery } from '../../src/services/organization-listing'
import { loadListSpec } from '../lib/list-spec'
import { latencyStats, median, type LatencyStats } from '../lib/stats'
import type { DbLatencyInput, DbStatementLatency, ListStatement } from './db-side'
import { LIST_SQL, listGenerator, listSqlParams, type ListParams } from './list-generator'

export interface DbCeilingInput {
  mode?: 'ceiling'
  databaseUrl: string
  memberId: string
  connections: number
  durationS: number
  warmupS: number
  seed: number
}

export interface DbCeilingResult {
  method: string
  queries: number
  errors: number
  firstError?: string
  durationS: number
  perSecond: number
  latencyMs: LatencyStats
  rowsPerQuery: number
  fallbacks: number
}

interface Query { text: string; values: unknown[] }

/** The SQL and parameters of one listing call. */
function listQuery (kind: ListStatement, memberId: string, p: ListParams): Query {
  if (kind === 'function') return { text: LIST_SQL, values: listSqlParams(memberId, p) }
  // As OrganizationService.list builds it: it asks for limit + 1 rows.
  const { industrySegment, priorityLevel, search } = p
  const query = { industrySegment, priorityLevel, search, limit: p.limit + 1, offset: p.offset }
  const sql = organizationPageQuery({ userId: memberId, query, sort: 'priority', counts: new Set(COUNT_FIELDS) })
  return { text: sql.text, values: sql.values }
}

async function ceiling (pool: pg.Pool, input: DbCeilingInput, next: () => ListParams): Promise<DbCeilingResult> {
  // Open every connection before the clock starts, as the service's pool would have.
  const clients = await Promise.all(Array.from({ length: input.connections }, async () => await pool.connect()))
  for (const client of clients) client.release()

  const measure = async (seconds: number): Promise<{ latencies: number[]; errors: number; rows: number; firstError?: string; elapsed: number }> => {
    const latencies: number[] = []
    let errors = 0
    let rows = 0
    let firstError: string | undefined
    const started = performance.now()
    const deadline = started + seconds * 1000
    const worker = async (): Promise<void> => {
      while (performance.now() < deadline) {
        const q = listQuery('service', input.memberId, next())
        const t0 = performance.now()
        try {
          const result = await pool.query(q.text, q.values)
          rows += result.rowCount ?? 0
          latencies.push(performance.now() - t0)
        } catch (err) {
          errors++
          firstError ??= (err as Error).message
        }
      }
    }
    await Promise.all(Array.from({ length: input.connections }, worker))
    return { latencies, errors, rows, firstError, elapsed: (performance.now() - started) / 1000 }
  }

  if (input.warmupS > 0) await measure(input.warmupS)
  const run = await measure(input.durationS)
  return {
    method: `raw pg loop (node-postgres Pool of ${input.connections}, the service's statement for (b), unnamed extended-protocol statements like Prisma's $queryRaw)`,
    queries: run.latencies.length,
    errors: run.errors,
    firstError: run.firstError,
    durationS: run.elapsed,
    perSecond: run.latencies.length / run.elapsed,
    latencyMs: latencyStats(run.latencies),
    rowsPerQuery: run.latencies.length === 0 ? 0 : run.rows / run.latencies.length,
    fallbacks: 0
  }
}

const KINDS: readonly ListStatement[] = ['function', 'service']

/** A named statement per distinct text (the service's may differ by filter shape). */
const statementName = (text: string): string => `bench-${createHash('md5').update(text).digest('hex').slice(0, 16)}`

/**
 * Both statements on one connection, interleaved call by call (which one goes
 * first alternates), each call with a new page of the (b) mix, so neither
 * profits from pages the other just read or suffers from a noisy stretch.
 */
async function singleClient (client: pg.PoolClient, input: DbLatencyInput, next: () => ListParams): Promise<DbStatementLatency[]> {
  const latencies = async (calls: number, prepared: boolean): Promise<Record<ListStatement, number[]>> => {
    const out: Record<ListStatement, number[]> = { function: [], service: [] }
    for (let i = 0; i < calls; i++) {
      for (const kind of i % 2 === 0 ? KINDS : [...KINDS].reverse()) {
        const q = listQuery(kind, input.memberId, next())
        const t0 = performance.now()
        await client.query({ name: prepared ? statementName(q.text) : undefined, text: q.text, values: q.values })
        out[kind].push(performance.now() - t0)
      }
    }
    return out
  }
  await latencies(20, false) // warm the session's catalog caches
  const unnamed = await latencies(input.calls, false)
  const prepared = await latencies(input.calls, true)
  const planning: Record<ListStatement, number[]> = { function: [], service: [] }
  const execution: Record<ListStatement, number[]> = { function: [], service: [] }
  for (let i = 0; i < input.explainSamples; i++) {
    for (const kind of i % 2 === 0 ? KINDS : [...KINDS].reverse()) {
      const q = listQuery(kind, input.memberId, next())
      // TIMING OFF: no per-node clock reads inflating the execution time.
      const { rows } = await client.query<{ 'QUERY PLAN': Array<Record<string, number>> }>({ text: `EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) ${q.text}`, values: q.values })
      const plan = rows[0]!['QUERY PLAN'][0]!
      planning[kind].push(plan['Planning Time']!)
      execution[kind].push(plan['Execution Time']!)
    }
  }
  return KINDS.map((kind) => ({
    statement: kind,
    sql: listQuery(kind, input.memberId, next()).text.replace(/\s+/g, ' ').trim(),
    unnamed: latencyStats(unnamed[kind]),
    prepared: latencyStats(prepared[kind]),
    explainSamples: planning[kind].length,
    planningMs: median(planning[kind]),
    executionMs: median(execution[kind]),
    planningShare: median(planning[kind].map((p, i) => p / (p + execution[kind][i]!)))
  }))
}

async function main (): Promise<void> {
  const input = JSON.parse(process.argv[2] ?? '') as DbCeilingInput | DbLatencyInput
  const connections = input.mode === 'latency' ? 1 : input.connections
  const pool = new pg.Pool({ connectionString: input.databaseUrl, max: connections, application_name: `crm-bench-db-${input.mode ?? 'ceiling'}` })
  try {
    const spec = await loadListSpec(pool, input.memberId)
    const generator = listGenerator(spec, input.seed)
    const next = (): ListParams => generator.next()
    let result: unknown
    if (input.mode === 'latency') {
      const client = await pool.connect()
      try {
        result = { statements: await singleClient(client, input, next), fallbacks: generator.fallbacks }
      } finally {
        client.release()
      }
    } else {
      result = { ...(await ceiling(pool, input, next)), fallbacks: generator.fallbacks }
    }
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
  } finally {
    await pool.end()
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench db-ceiling: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
