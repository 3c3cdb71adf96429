// The database side of the bench beyond the ceiling: single-client latency
// and planning share (measured by db-ceiling.ts in its `latency` mode), their
// medians over runs, their table in the report and the targets for
// the database side.
import path from 'node:path'
import { nodeArgs, run } from '../lib/child-processes'
import { median, type LatencyStats } from '../lib/stats'
import type { ScenarioResult } from './http-load'
import type { Target } from './report'

/** get_organizations_optimized called directly, or the statement the service sends for (b). */
export type ListStatement = 'function' | 'service'

export interface DbLatencyInput {
  mode: 'latency'
  databaseUrl: string
  memberId: string
  /** Sequential calls per statement and variant (unnamed, prepared). */
  calls: number
  /** EXPLAIN (ANALYZE) calls per statement for the planning share. */
  explainSamples: number
  seed: number
}

export interface DbStatementLatency {
  statement: ListStatement
  sql: string
  /** Unnamed statements: parsed and planned on every call (what Prisma's $queryRaw and node-postgres send). */
  unnamed: LatencyStats
  /** A named prepared statement: PostgreSQL may switch to a cached generic plan after five calls. */
  prepared: LatencyStats
  explainSamples: number
  /** Medians over the EXPLAIN (ANALYZE, TIMING OFF) samples. */
  planningMs: number
  executionMs: number
  /** Median of planning / (planning + execution). */
  planningShare: number
}

export interface DbLatencyResult {
  key: 'db-latency'
  title: string
  connections: 1
  calls: number
  statements: DbStatementLatency[]
  notes: string[]
}

export async function runDbLatency (input: DbLatencyInput): Promise<Omit<DbLatencyResult, 'key' | 'title' | 'notes'> & { fallbacks: number }> {
  const script = path.join(__dirname, `db-ceiling${path.extname(__filename)}`)
  const output = await run(process.execPath, nodeArgs(script, [JSON.stringify(input)]))
  const line = output.split('\n').find((l) => l.startsWith('RESULT '))
  if (line === undefined) throw new Error(`the DB latency run printed no result:\n${output.slice(-4000)}`)
  const { statements, fallbacks } = JSON.parse(line.slice('RESULT '.length)) as { statements: DbStatementLatency[]; fallbacks: number }
  return { connections: 1, calls: input.calls, statements, fallbacks }
}

const medianOf = (xs: number[]): number => median(xs)

function medianLatency (list: LatencyStats[]): LatencyStats {
  return {
    count: list.reduce((a, l) => a + l.count, 0),
    mean: medianOf(list.map((l) => l.mean)),
    p50: medianOf(list.map((l) => l.p50)),
    p90: medianOf(list.map((l) => l.p90)),
    p99: medianOf(list.map((l) => l.p99)),
    max: Math.max(...list.map((l) => l.max))
  }
}

/** Per statement, the median of each figure over the runs. */
export function medianDbLatency (runs: DbLatencyResult[]): DbLatencyResult {
  const first = runs[0]!
  return {
    ...first,
    statements: first.statements.map((s) => {
      const all = runs.map((r) => r.statements.find((x) => x.statement === s.statement)!)
      return {
        ...s,
        unnamed: medianLatency(all.map((x) => x.unnamed)),
        prepared: medianLatency(all.map((x) => x.prepared)),
        explainSamples: all.reduce((a, x) => a + x.explainSamples, 0),
        planningMs: medianOf(all.map((x) => x.planningMs)),
        executionMs: medianOf(all.map((x) => x.executionMs)),
        planningShare: medianOf(all.map((x) => x.planningShare))
      }
    })
  }
}

const ms = (n: number): string => Number.isFinite(n) ? n.toFixed(3) : '-'

/** The report's table of the single-client figures. */
export function dbLatencyTable (r: DbLatencyResult): string[][] {
  const rows = [['db single client (ms)', 'p50', 'p99', 'prepared p50', 'prepared p99', 'planning', 'execution', 'planning share']]
  for (const s of r.statements) {
    rows.push([s.statement === 'function' ? 'SELECT * FROM get_organizations_optimized($1, …)' : 'the service\'s statement for (b)',
      ms(s.unnamed.p50), ms(s.unnamed.p99), ms(s.prepared.p50), ms(s.prepared.p99), ms(s.planningMs), ms(s.executionMs),
      Number.isFinite(s.planningShare) ? `${(s.planningShare * 100).toFixed(0)} %` : '-'])
  }
  return rows
}

/**
 * The issue's database-side targets: the ceiling (32 connections, (b)'s SQL)
 * ≥ 2,000 listings/s up to 100,000 organizations and ≥ 1,500 beyond; a
 * single-client listing p50 < 0.5 ms, planning included (unnamed statements),
 * for both statements.
 */
export function dbTargets (ceiling: ScenarioResult | undefined, latency: DbLatencyResult | undefined, organizations: number | undefined): Target[] {
  const min = organizations !== undefined && organizations > 100_000 ? 1500 : 2000
  const worstP50 = latency === undefined ? undefined : Math.max(...latency.statements.map((s) => s.unnamed.p50))
  return [
    { id: 'db-ceiling', text: `DB ceiling ≥ ${min.toLocaleString('en-US')} listings/s`, value: ceiling?.reqPerSec, pass: ceiling === undefined ? null : ceiling.reqPerSec >= min },
    { id: 'db-single-p50', text: 'single-client listing p50 < 0.5 ms, planning included (both statements)', value: worstP50, pass: worstP50 === undefined ? null : worstP50 < 0.5 }
  ]
}
