// The soak's heap rule (see main.ts): when memory is sampled and a full GC
// forced, the floors of the judged windows, and the live heap's slope.
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { latencyStats } from '../lib/stats'
import { mb, ms } from './format'
import { decode, safeText, type HttpClient } from './http-client'
import type { SoakOptions } from './options'
import type { Recorder } from './recorder'
import type { GcReading, Service } from './service'
import type { Context, User } from './workers'

export interface MemorySample { atS: number; rss: number; heapUsed: number; heapTotal: number; external: number; source: 'runtime' | 'forced-gc' }

export interface RuntimeAnswer {
  memory: { current: { rss: number; heapUsed: number; heapTotal: number; external: number }; heapLimit: number; warnings: number }
  db: Record<string, number>
  cache: Record<string, unknown>
  pools: Record<string, unknown>
  pressure: Record<string, unknown>
}

export async function readRuntime (client: HttpClient, admin: User): Promise<RuntimeAnswer> {
  const answer = await client.request('GET', '/api/v1/admin/runtime', admin.token)
  if (answer.status !== 200) throw new Error(`GET /api/v1/admin/runtime answered ${answer.status}: ${safeText(answer).slice(0, 300)}`)
  return decode(answer) as RuntimeAnswer
}

export interface Window { fromS: number; toS: number }

export function floorOf (samples: MemorySample[], window: Window, key: 'heapUsed' | 'rss'): number | undefined {
  const inside = samples.filter((s) => s.atS >= window.fromS && s.atS <= window.toS)
  return inside.length === 0 ? undefined : Math.min(...inside.map((s) => s[key]))
}

/** Least-squares slope, in units per minute, of (seconds, value) points. */
export function slopePerMinute (points: Array<[number, number]>): number | undefined {
  if (points.length < 2) return undefined
  const n = points.length
  const mx = points.reduce((s, [x]) => s + x, 0) / n
  const my = points.reduce((s, [, y]) => s + y, 0) / n
  let num = 0
  let den = 0
  for (const [x, y] of points) { num += (x - mx) * (y - my); den += (x - mx) ** 2 }
  return den === 0 ? undefined : (num / den) * 60
}

export interface HeapPlan {
  /** Length of each judged window. */
  windowS: number
  /** How often the server's memory is read. */
  sampleMs: number
  /** Right after the warm-up, and at the end of the run. */
  baseline: Window
  final: Window
  /** When a full GC is forced: in the middle of each judged window, and every minute between them. */
  gcAtS: number[]
}

export function planHeapRule (opts: SoakOptions): HeapPlan {
  const windowS = Math.min(60, (opts.durationS - opts.warmupS) / 2)
  const sampleMs = Math.round(Math.min(2000, Math.max(200, windowS * 100)))
  const baseline: Window = { fromS: opts.warmupS, toS: opts.warmupS + windowS }
  const final: Window = { fromS: opts.durationS - windowS, toS: opts.durationS }
  const gcAtS: number[] = []
  const firstGc = baseline.fromS + windowS / 2
  const lastGc = final.fromS + windowS / 2
  const step = Math.max(windowS, 60)
  gcAtS.push(firstGc)
  for (let t = firstGc + step; t < lastGc - step / 2; t += step) gcAtS.push(t)
  if (lastGc > firstGc) gcAtS.push(lastGc)
  return { windowS, sampleMs, baseline, final, gcAtS }
}

export type TimedGcReading = GcReading & { atS: number }

/** What the sampler gathers, alongside the load. */
export interface MemoryRecord {
  samples: MemorySample[]
  gcReadings: TimedGcReading[]
  problems: string[]
  samplerErrors: number
}

/**
 * Until the load stops: the server's memory every plan.sampleMs (as the
 * admin, through /api/v1/admin/runtime), a forced GC at each plan.gcAtS, and
 * a progress line per minute.
 */
export async function sampleMemory (ctx: Context, service: Service, admin: User, plan: HeapPlan, record: MemoryRecord): Promise<void> {
  const rec: Recorder = ctx.recorder
  const { gcAtS, sampleMs } = plan
  const { samples } = record
  let nextGc = 0
  let lastMinuteShown = -1
  while (!ctx.stopped && performance.now() < ctx.stopAt) {
    const atS = rec.elapsedS()
    if (nextGc < gcAtS.length && atS >= gcAtS[nextGc]!) {
      nextGc++
      try {
        const r = await service.nextGc()
        const s = rec.elapsedS()
        record.gcReadings.push({ ...r, atS: s })
        samples.push({ atS: s, rss: r.rss, heapUsed: r.heapUsed, heapTotal: r.heapTotal, external: r.external, source: 'forced-gc' })
      } catch (err) {
        record.samplerErrors++
        record.problems.push(`forced GC at ${atS.toFixed(0)} s: ${(err as Error).message}`)
      }
    }
    try {
      const r = await readRuntime(ctx.http, admin)
      samples.push({ atS: rec.elapsedS(), ...r.memory.current, source: 'runtime' })
    } catch (err) {
      record.samplerErrors++
      rec.fail({ atS: rec.elapsedS(), op: 'memory-sample', method: 'GET', path: '/api/v1/admin/runtime', error: (err as Error).message })
    }
    const minute = Math.floor(rec.elapsedS() / 60)
    if (minute > lastMinuteShown && minute >= 1) {
      lastMinuteShown = minute
      const b = rec.minutes[minute - 1]
      const last = samples[samples.length - 1]
      if (b !== undefined) {
        const l = latencyStats(b.latencies)
        console.log(`  minute ${minute}: ${b.requests} requests (${(b.requests / 60).toFixed(0)}/s), p50 ${ms(l.p50)} ms, p99 ${ms(l.p99)} ms, ${b.failures} failures; heapUsed ${mb(last?.heapUsed)} MB, rss ${mb(last?.rss)} MB`)
      }
    }
    const wait = Math.min(sampleMs, ctx.stopAt - performance.now(), nextGc < gcAtS.length ? (gcAtS[nextGc]! - rec.elapsedS()) * 1000 : Infinity)
    if (wait > 0) await sleep(wait)
  }
}
