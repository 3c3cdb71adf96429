// The soak's verdict on a run (heap floor growth, failed requests, a clean
// shutdown), the report it prints, and the JSON it writes.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { redactUrl } from '../lib/urls'
import { mb, MB, ms, pct } from './format'
import { floorOf, slopePerMinute, type HeapPlan } from './memory'
import { OP_TABLE } from './operations'
import type { SoakOptions } from './options'
import { summarize, type BucketSummary } from './recorder'
import type { SoakRun } from './run'

interface MinuteRow extends BucketSummary {
  minute: number
  fromS: number
  toS: number
  heapFloor?: number
  rssAtEnd?: number
}

/** Prints the report, writes it as JSON under opts.resultsDir, and returns the exit code: 0 pass, 1 fail. */
export function judgeSoak (opts: SoakOptions, plan: HeapPlan, run: SoakRun): number {
  const { baseline, final, sampleMs } = plan
  const { problems, dataset, service, samples, gcReadings, startSample, runtimeAtEnd, shutdown, loadSeconds, samplerErrors, startedAt } = run
  const rec = run.recorder
  const heapBase = floorOf(samples, baseline, 'heapUsed')
  const heapEnd = floorOf(samples, final, 'heapUsed')
  const rssBase = floorOf(samples, baseline, 'rss')
  const rssEnd = floorOf(samples, final, 'rss')
  const growthPct = heapBase !== undefined && heapEnd !== undefined ? (heapEnd / heapBase - 1) * 100 : undefined
  const rssGrowthPct = rssBase !== undefined && rssEnd !== undefined ? (rssEnd / rssBase - 1) * 100 : undefined
  const loadSamples = samples.filter((s) => s.atS <= opts.durationS)
  const peakHeap = loadSamples.length > 0 ? Math.max(...loadSamples.map((s) => s.heapUsed)) : undefined
  const peakRss = loadSamples.length > 0 ? Math.max(...loadSamples.map((s) => s.rss)) : undefined
  const judgedGc = gcReadings.filter((g) => g.atS >= opts.warmupS)
  const liveHeapSlope = slopePerMinute(judgedGc.map((g) => [g.atS, g.heapUsed]))
  if (rec !== undefined && rec.failureCount > 0) problems.push(`${rec.failureCount} request(s) failed`)
  if (problems.length === 0 && (heapBase === undefined || heapEnd === undefined)) problems.push('no memory sample in a judged window')
  if (growthPct !== undefined && growthPct > opts.maxHeapGrowthPct) problems.push(`heap floor grew ${growthPct.toFixed(1)} % after the warm-up (limit ${opts.maxHeapGrowthPct} %)`)
  const pass = problems.length === 0

  const minutes: MinuteRow[] = (rec?.minutes ?? []).map((b, i, all) => {
    const fromS = i * 60
    const toS = i === all.length - 1 ? Math.max(loadSeconds, fromS + 0.001) : (i + 1) * 60
    const inMinute = samples.filter((s) => s.atS >= fromS && s.atS < toS + 1e-9)
    return {
      minute: i + 1,
      fromS,
      toS,
      ...summarize(b, toS - fromS),
      heapFloor: inMinute.length > 0 ? Math.min(...inMinute.map((s) => s.heapUsed)) : undefined,
      rssAtEnd: inMinute.length > 0 ? inMinute[inMinute.length - 1]!.rss : undefined
    }
  })
  const total = rec === undefined ? undefined : summarize(rec.total, loadSeconds)
  const memory = {
    rule: `min heapUsed (runtime samples every ${sampleMs} ms and a forced full GC) over [${baseline.fromS.toFixed(1)}, ${baseline.toS.toFixed(1)}] s vs [${final.fromS.toFixed(1)}, ${final.toS.toFixed(1)}] s; fail above +${opts.maxHeapGrowthPct} %`,
    windows: { baseline, final },
    heapUsed: { start: startSample?.heapUsed, afterWarmup: heapBase, end: heapEnd, peak: peakHeap, growthPct },
    rss: { start: startSample?.rss, afterWarmup: rssBase, end: rssEnd, peak: peakRss, growthPct: rssGrowthPct },
    liveHeapAfterForcedGc: { readings: gcReadings, slopeBytesPerMinute: liveHeapSlope },
    samples
  }

  // ---- the report
  const out: string[] = ['', `soak ${pass ? 'PASSED' : 'FAILED'} — ${opts.minutes} min, ${opts.connections} connections, ${opts.users} users, ${dataset?.organizations ?? opts.organizations} organizations`]
  if (minutes.length > 0) {
    out.push('', 'minute  requests   req/s   p50 ms   p99 ms  failures  heap floor MB  rss MB')
    for (const m of minutes) {
      out.push(`${String(m.minute).padStart(6)}  ${String(m.requests).padStart(8)}  ${m.reqPerSec.toFixed(1).padStart(6)}  ${ms(m.latencyMs.p50).padStart(7)}  ${ms(m.latencyMs.p99).padStart(7)}  ${String(m.failures).padStart(8)}  ${mb(m.heapFloor).padStart(13)}  ${mb(m.rssAtEnd).padStart(6)}`)
    }
  }
  if (total !== undefined && rec !== undefined) {
    out.push('', `requests: ${total.requests} in ${loadSeconds.toFixed(1)} s = ${total.reqPerSec.toFixed(1)} req/s; reads ${total.reads} (${(total.reads / Math.max(1, total.requests) * 100).toFixed(1)} %), writes ${total.writes}`)
    out.push(`latency: p50 ${ms(total.latencyMs.p50)} ms, p90 ${ms(total.latencyMs.p90)} ms, p99 ${ms(total.latencyMs.p99)} ms, max ${ms(total.latencyMs.max)} ms`)
    out.push(`failures: ${rec.failureCount}; 412 retried: ${rec.preconditionRetries}; statuses ${JSON.stringify(Object.fromEntries([...rec.statuses].sort((a, b) => a[0] - b[0])))}; X-Cache ${JSON.stringify(rec.xCache)}`)
    for (const f of rec.failures.slice(0, 5)) out.push(`  at ${f.atS.toFixed(1)} s ${f.op}: ${f.method} ${f.path} → ${f.status ?? f.error ?? '?'} ${f.body ?? ''}`)
  }
  out.push('', 'memory (MB)      start   after warm-up   end     peak    growth')
  out.push(`  heapUsed     ${mb(startSample?.heapUsed).padStart(7)}   ${mb(heapBase).padStart(13)}   ${mb(heapEnd).padStart(5)}   ${mb(peakHeap).padStart(6)}   ${pct(growthPct)}`)
  out.push(`  rss          ${mb(startSample?.rss).padStart(7)}   ${mb(rssBase).padStart(13)}   ${mb(rssEnd).padStart(5)}   ${mb(peakRss).padStart(6)}   ${pct(rssGrowthPct)} (not judged)`)
  if (gcReadings.length > 0) {
    out.push(`  live heap after forced GC: ${gcReadings.map((g) => `${g.atS.toFixed(0)} s ${mb(g.heapUsed)}`).join(', ')}` +
      (liveHeapSlope === undefined || judgedGc.length < 3 ? '' : `; slope after the warm-up ${(liveHeapSlope / MB).toFixed(2)} MB/min`))
  }
  out.push(`  ${memory.rule}`)
  if (shutdown !== undefined) out.push(`shutdown: SIGTERM → exit ${shutdown.code ?? shutdown.signal} in ${shutdown.ms.toFixed(0)} ms`)
  if (service !== undefined && service.warnings.length > 0) out.push(`the service logged ${service.warnings.length} warning/error lines; first: ${service.warnings[0]!.slice(0, 300)}`)
  out.push(pass ? 'verdict: PASS' : `verdict: FAIL — ${problems.map((p) => p.split('\n')[0]).join('; ')}`)
  console.log(out.join('\n'))
  for (const p of problems.filter((p) => p.startsWith('harness:'))) console.error(p)

  const file = path.join(opts.resultsDir, `soak-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`)
  fs.mkdirSync(opts.resultsDir, { recursive: true })
  fs.writeFileSync(file, JSON.stringify({
    tool: 'crm-soak',
    version: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    pass,
    problems,
    options: { ...opts, adminUrl: redactUrl(opts.adminUrl) },
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, totalMemBytes: os.totalmem(), node: process.version, loadavgAtEnd: os.loadavg() },
    dataset: dataset === undefined
      ? undefined
      : {
          database: dataset.name,
          organizations: dataset.organizations,
          users: dataset.users,
          members: dataset.members.map((m) => m.email),
          admin: dataset.admin.email,
          seedSeconds: dataset.seedSeconds
        },
    server: service === undefined ? undefined : { entry: opts.server === 'dist' ? 'dist/src/server.js' : 'server.ts (ts-node transpile-only)', nodeFlags: ['--expose-gc', '-r <gc preload: gc() on SIGWINCH>'], env: { ...service.env, DATABASE_URL: redactUrl(service.env.DATABASE_URL ?? ''), JWT_SECRET: '(random per run)' }, shutdown, warnings: service.warnings.slice(0, 50) },
    mix: OP_TABLE.map((o) => ({ op: o.name, kind: o.kind, weight: o.weight })),
    load: total === undefined || rec === undefined
      ? undefined
      : {
          durationS: loadSeconds,
          warmupS: opts.warmupS,
          ...total,
          failureCount: rec.failureCount,
          failures: rec.failures,
          preconditionRetries: rec.preconditionRetries,
          samplerErrors,
          statuses: Object.fromEntries(rec.statuses),
          xCache: rec.xCache,
          byOperation: Object.fromEntries([...rec.ops].sort().map(([op, b]) => [op, summarize(b, loadSeconds)]))
        },
    minutes,
    memory,
    serviceRuntimeAtEnd: runtimeAtEnd === undefined
      ? undefined
      : {
          db: runtimeAtEnd.db,
          cache: runtimeAtEnd.cache,
          pools: runtimeAtEnd.pools,
          pressure: runtimeAtEnd.pressure,
          memoryWarnings: runtimeAtEnd.memory.warnings
        }
  }, null, 2))
  console.log(`written ${path.relative(process.cwd(), file)}`)
  return pass ? 0 : 1
}
