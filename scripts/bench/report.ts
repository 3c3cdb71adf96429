// The bench's results: ratios to the ceilings, medians over runs, the
// issue's targets, and the table printed at the end.
import { median, type LatencyStats } from '../lib/stats'
import { dbLatencyTable, dbTargets, medianDbLatency, type DbLatencyResult } from './db-side'
import type { Counter, ScenarioResult } from './http-load'
import { CEILING_OF, SCENARIOS, type ScenarioKey } from './options'
import type { MicroStats, MicroVariant, PrismaResult } from './prisma-micro'
import { formatWalk, medianWalks, type WalkScenarioResult } from './cursor-walk'
import { CPU_NOTE, formatCpu, medianCpu } from './process-cpu'

export interface Target { id: string; text: string; value?: number; pass: boolean | null }

export type RunResults = Partial<Record<ScenarioKey, ScenarioResult | PrismaResult | DbLatencyResult | WalkScenarioResult>>

export const isHttp = (r: RunResults[ScenarioKey]): r is ScenarioResult =>
  r !== undefined && r.key !== 'prisma' && r.key !== 'db-latency' && r.key !== 'f'
const isDbLatency = (r: RunResults[ScenarioKey]): r is DbLatencyResult => r?.key === 'db-latency'

export function applyRatios (results: RunResults): void {
  for (const result of Object.values(results)) {
    if (!isHttp(result)) continue
    const ceilingKey = CEILING_OF[result.key]
    if (ceilingKey === undefined) continue
    const ceiling = results[ceilingKey]
    result.ceiling = ceilingKey
    if (isHttp(ceiling) && ceiling.reqPerSec > 0) result.ratio = result.reqPerSec / ceiling.reqPerSec
  }
}

function sumCounters (list: Array<Counter | undefined>): Counter | undefined {
  if (list.every((c) => c === undefined)) return undefined
  const out: Counter = {}
  for (const c of list) for (const [k, v] of Object.entries(c ?? {})) out[k] = (out[k] ?? 0) + v
  return out
}

/** Per scenario: medians of rate, latencies and ratio over the runs; errors and X-Cache summed. */
export function medians (runs: RunResults[]): RunResults {
  const out: RunResults = {}
  for (const key of SCENARIOS) {
    const list = runs.map((r) => r[key]).filter((r) => r !== undefined)
    if (list.length === 0) continue
    if (key === 'db-latency') {
      out[key] = medianDbLatency(list as DbLatencyResult[])
      continue
    }
    if (key === 'f') {
      out[key] = medianWalks(list as WalkScenarioResult[])
      continue
    }
    if (key === 'prisma') {
      const first = list[0] as PrismaResult
      const all = list as PrismaResult[]
      const pick = (group: string, variant: string): MicroVariant[] => all.map((p) => p.variants.find((v) => v.group === group && v.variant === variant)!)
      const micro = (xs: MicroStats[]): MicroStats => ({
        calls: median(xs.map((x) => x.calls)),
        opsPerSec: median(xs.map((x) => x.opsPerSec)),
        latencyMs: medianLatency(xs.map((x) => x.latencyMs))
      })
      out.prisma = {
        ...first,
        consistent: all.every((p) => p.consistent),
        variants: first.variants.map((v) => {
          const vs = pick(v.group, v.variant)
          return {
            group: v.group,
            variant: v.variant,
            sequential: micro(vs.map((x) => x.sequential)),
            concurrent: micro(vs.map((x) => x.concurrent)),
            ratio: { sequential: median(vs.map((x) => x.ratio?.sequential ?? NaN)), concurrent: median(vs.map((x) => x.ratio?.concurrent ?? NaN)) }
          }
        })
      }
      continue
    }
    const rs = list as ScenarioResult[]
    const ratios = rs.map((r) => r.ratio).filter((r): r is number => r !== undefined)
    const cpu = medianCpu(rs.map((r) => r.cpu))
    out[key] = {
      ...rs[0]!,
      requests: rs.reduce((a, r) => a + r.requests, 0),
      durationS: rs.reduce((a, r) => a + r.durationS, 0),
      reqPerSec: median(rs.map((r) => r.reqPerSec)),
      latencyMs: medianLatency(rs.map((r) => r.latencyMs)),
      errors: rs.reduce((a, r) => a + r.errors, 0),
      timeouts: rs.reduce((a, r) => a + r.timeouts, 0),
      non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
      statusCodes: sumCounters(rs.map((r) => r.statusCodes)) ?? {},
      xCache: sumCounters(rs.map((r) => r.xCache)),
      ratio: ratios.length === 0 ? undefined : median(ratios),
      cpu,
      // The first run's notes, plus any other run's warnings; the CPU line is the runs' median.
      notes: [...new Set([
        ...rs[0]!.notes.filter((n) => !n.startsWith(CPU_NOTE)),
        ...rs.slice(1).flatMap((r) => r.notes.filter((n) => /^(WARNING|first error)/.test(n))),
        ...(cpu === undefined ? [] : [`${formatCpu(cpu)}${rs.length > 1 ? ` (medians of ${rs.length} runs)` : ''}`])
      ])]
    }
  }
  return out
}

function medianLatency (list: LatencyStats[]): LatencyStats {
  return {
    count: list.reduce((a, l) => a + l.count, 0),
    mean: median(list.map((l) => l.mean)),
    p50: median(list.map((l) => l.p50)),
    p90: median(list.map((l) => l.p90)),
    p99: median(list.map((l) => l.p99)),
    max: Math.max(...list.map((l) => l.max))
  }
}

export function evaluateTargets (m: RunResults, organizations?: number): Target[] {
  const http = (k: ScenarioKey): ScenarioResult | undefined => { const r = m[k]; return isHttp(r) ? r : undefined }
  const ratioTarget = (k: ScenarioKey, min: number, ceiling: string): Target => {
    const r = http(k)
    return { id: `${k}-ratio`, text: `(${k}) ≥ ${min * 100} % of the ${ceiling} ceiling`, value: r?.ratio, pass: r?.ratio === undefined ? null : r.ratio >= min }
  }
  const b = http('b')
  const measured = SCENARIOS.map(http).filter((r): r is ScenarioResult => r !== undefined)
  const failures = measured.reduce((a, r) => a + r.errors + r.non2xx, 0)
  const bHits = b?.xCache?.HIT ?? 0
  return [
    ratioTarget('b', 0.5, 'DB'),
    { id: 'b-p50', text: '(b) p50 < 10 ms', value: b?.latencyMs.p50, pass: b === undefined ? null : b.latencyMs.p50 < 10 },
    ratioTarget('a', 0.5, 'HTTP'),
    ratioTarget('c', 0.5, 'HTTP'),
    ratioTarget('d', 0.5, 'HTTP'),
    { id: 'no-errors', text: 'no errors and no non-2xx in any scenario', value: measured.length === 0 ? undefined : failures, pass: measured.length === 0 ? null : failures === 0 },
    { id: 'b-all-miss', text: '(b) every request a cache MISS (harness check)', value: b === undefined ? undefined : bHits, pass: b === undefined ? null : bHits === 0 },
    ...dbTargets(http('db-ceiling'), isDbLatency(m['db-latency']) ? m['db-latency'] : undefined, organizations)
  ]
}

export const fmt = (n: number | undefined, digits = 2): string => n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits)
export const fmtInt = (n: number | undefined): string => n === undefined || !Number.isFinite(n) ? '-' : Math.round(n).toLocaleString('en-US')

function table (rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  const line = (r: string[]): string => r.map((c, i) => (i === 0 || i === r.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd()
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n')
}

export function report (m: RunResults, targets: Target[], runs: number): string {
  const rows: string[][] = [['scenario', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'ceiling', 'ratio', 'X-Cache']]
  for (const key of SCENARIOS) {
    const r = m[key]
    if (!isHttp(r)) continue
    const cache = r.xCache === undefined ? '' : (r.key === 'e' ? 'status ' : '') + Object.entries(r.xCache).map(([k, v]) => `${k} ${v}`).join(', ')
    rows.push([`${key}  ${r.title}`, fmtInt(r.reqPerSec), fmt(r.latencyMs.p50), fmt(r.latencyMs.p99), String(r.errors), String(r.non2xx),
      r.ceiling ?? '', r.ratio === undefined ? '' : `${(r.ratio * 100).toFixed(0)} %`, cache])
  }
  const out = [`\nresults${runs > 1 ? ` (medians of ${runs} runs; errors and X-Cache summed)` : ''}:`, table(rows)]
  const dbl = m['db-latency']
  if (isDbLatency(dbl)) out.push('', table(dbLatencyTable(dbl)), `(${dbl.calls} sequential calls per statement and variant on one connection; planning/execution: medians of EXPLAIN (ANALYZE, TIMING OFF) samples)`)
  const walk = m.f as WalkScenarioResult | undefined
  if (walk !== undefined) out.push('', `(f) cursor walk, limit ${walk.limit}:`, ...walk.walks.map((w) => `  ${formatWalk(w)}`))
  const p = m.prisma as PrismaResult | undefined
  if (p !== undefined) {
    const prow: string[][] = [['prisma micro-scenario', 'seq ops/s', 'seq p50', 'seq p99', `conc(${p.concurrency}) ops/s`, 'conc p50', 'conc p99', 'vs pg seq', 'vs pg conc']]
    for (const v of p.variants) {
      prow.push([`${v.group}: ${v.variant}`, fmtInt(v.sequential.opsPerSec), fmt(v.sequential.latencyMs.p50, 3), fmt(v.sequential.latencyMs.p99, 3),
        fmtInt(v.concurrent.opsPerSec), fmt(v.concurrent.latencyMs.p50, 3), fmt(v.concurrent.latencyMs.p99, 3),
        `${fmt((v.ratio?.sequential ?? NaN) * 100, 0)} %`, `${fmt((v.ratio?.concurrent ?? NaN) * 100, 0)} %`])
    }
    out.push('', table(prow), `(latencies in ms; ratios: throughput relative to ${p.reference}; results ${p.consistent ? 'identical' : 'DIFFER'} across variants)`)
  }
  out.push('', 'targets:')
  for (const t of targets) {
    const value = t.value === undefined ? '' : t.id.endsWith('ratio') ? ` (${(t.value * 100).toFixed(0)} %)` : t.id === 'b-p50' ? ` (${fmt(t.value)} ms)` : t.id === 'db-single-p50' ? ` (${fmt(t.value, 3)} ms)` : t.id === 'db-ceiling' ? ` (${fmtInt(t.value)}/s)` : ` (${t.value})`
    out.push(`  ${t.pass === null ? 'n/a ' : t.pass ? 'PASS' : 'FAIL'}  ${t.text}${value}`)
  }
  const notes = SCENARIOS.map((k) => m[k]).filter(isHttp).filter((r) => r.notes.length > 0).map((r) => `  ${r.key}: ${r.notes.join('; ')}`)
  if (notes.length > 0) out.push('', 'notes:', ...notes)
  return out.join('\n')
}
