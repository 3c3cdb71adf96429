// The database ceiling of the benchmark (started by scripts/bench/main.ts): the
// listing's SQL — the same statement the service sends for scenario (b), with
// the same parameter distribution — called by a raw `pg` loop at the bench's
// concurrency: one Pool of C connections, C workers each awaiting one query at
// a time. pgbench cannot draw random search strings and segments, hence Node.
//
// Input: one argument, JSON { databaseUrl, memberId, connections, durationS, warmupS, seed }.
// Output: a line `RESULT {json}` on stdout.
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { loadListSpec } from '../lib/list-spec'
import { latencyStats, type LatencyStats } from '../lib/stats'
import { LIST_SQL, listGenerator, listSqlParams } from './list-generator'

export interface DbCeilingInput {
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

async function main (): Promise<void> {
  const input = JSON.parse(process.argv[2] ?? '') as DbCeilingInput
  const pool = new pg.Pool({ connectionString: input.databaseUrl, max: input.connections, application_name: 'crm-bench-db-ceiling' })
  try {
    const spec = await loadListSpec(pool, input.memberId)
    const generator = listGenerator(spec, input.seed)
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
          const values = listSqlParams(input.memberId, generator.next())
          const t0 = performance.now()
          try {
            const result = await pool.query(LIST_SQL, values)
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
    const result: DbCeilingResult = {
      method: `raw pg loop (node-postgres Pool of ${input.connections}, unnamed extended-protocol statements like Prisma's $queryRaw)`,
      queries: run.latencies.length,
      errors: run.errors,
      firstError: run.firstError,
      durationS: run.elapsed,
      perSecond: run.latencies.length / run.elapsed,
      latencyMs: latencyStats(run.latencies),
      rowsPerQuery: run.latencies.length === 0 ? 0 : run.rows / run.latencies.length,
      fallbacks: generator.fallbacks
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
