// `--pooler`: (c) and (c2) through a PgBouncer in transaction mode against
// direct, in the same run (issue 17). A second service is started with
// DATABASE_POOLER=transaction behind a PgBouncer of the bench's own
// (test/helpers/pgbouncer.ts, installed from Debian's packages when missing),
// whose server pool is the service's own pool size, so both services can use
// the same number of server connections. Each run measures direct then
// pooled, scenario by scenario, so the machine's noise falls on both.
import { ensureCommand } from '../../test/helpers/debian-package'
import { startPgbouncer, type TestPgbouncer } from '../../test/helpers/pgbouncer'
import type { ScenarioResult } from './http-load'
import { scenario, type Context } from './scenarios'
import { startService, type Service } from './servers'

const SCENARIOS = ['c', 'c2'] as const
/** DATABASE_POOL_SIZE's default: the server connections PgBouncer may open. */
const SERVER_POOL = 20

export interface PooledService { service: Service, bouncer: TestPgbouncer }

export interface PoolerRun { key: typeof SCENARIOS[number], direct: ScenarioResult, pooled: ScenarioResult }

export async function startPooledService (ctx: Context, secret: string, prefix: string): Promise<PooledService> {
  const found = await ensureCommand('pgbouncer', 'pgbouncer')
  if ('skip' in found) throw new Error(`--pooler needs PgBouncer: ${found.skip}`)
  const upstream = new URL(ctx.opts.databaseUrl)
  const bouncer = await startPgbouncer({
    binary: found.path,
    upstream: { host: upstream.hostname, port: Number(upstream.port || 5432), user: decodeURIComponent(upstream.username) },
    poolSize: SERVER_POOL
  })
  const database = upstream.pathname.slice(1)
  try {
    const service = await startService({ ...ctx.opts, databaseUrl: bouncer.urlFor(database) }, secret, prefix, [],
      { DATABASE_POOLER: 'transaction', DATABASE_DIRECT_URL: ctx.opts.databaseUrl })
    return { service, bouncer }
  } catch (err) {
    await bouncer.stop()
    throw err
  }
}

/** One run: each scenario on the direct service, then on the pooled one. */
export async function comparePooler (ctx: Context, pooled: Service): Promise<PoolerRun[]> {
  const out: PoolerRun[] = []
  for (const key of SCENARIOS) {
    const direct = await scenario(ctx, key) as ScenarioResult
    const viaPooler = await scenario({ ...ctx, service: pooled }, key) as ScenarioResult
    console.log(`  ${key}: direct ${Math.round(direct.reqPerSec)} req/s (p50 ${direct.latencyMs.p50.toFixed(1)} ms), ` +
      `through PgBouncer ${Math.round(viaPooler.reqPerSec)} req/s (p50 ${viaPooler.latencyMs.p50.toFixed(1)} ms), ` +
      `${viaPooler.errors + viaPooler.non2xx} errors/non-2xx`)
    out.push({ key, direct, pooled: viaPooler })
  }
  return out
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** The table for the report: medians over the runs. */
export function formatPooler (runs: PoolerRun[][]): string {
  const lines = ['\nthrough PgBouncer (transaction mode) vs direct, same run, medians:',
    '| scenario | direct req/s | PgBouncer req/s | ratio | direct p50 ms | PgBouncer p50 ms | PgBouncer errors + non-2xx |', '|---|---|---|---|---|---|---|']
  for (const key of SCENARIOS) {
    const of = runs.map((run) => run.find((r) => r.key === key)!).filter(Boolean)
    const direct = median(of.map((r) => r.direct.reqPerSec))
    const pooled = median(of.map((r) => r.pooled.reqPerSec))
    lines.push(`| ${key} | ${Math.round(direct)} | ${Math.round(pooled)} | ${(pooled / direct).toFixed(2)} | ` +
      `${median(of.map((r) => r.direct.latencyMs.p50)).toFixed(1)} | ${median(of.map((r) => r.pooled.latencyMs.p50)).toFixed(1)} | ` +
      `${of.reduce((sum, r) => sum + r.pooled.errors + r.pooled.non2xx, 0)} |`)
  }
  return lines.join('\n')
}
