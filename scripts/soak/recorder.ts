// What the soak's load recorded: requests, failures and latencies per minute,
// per operation and in total, statuses and X-Cache answers.
import { performance } from 'node:perf_hooks'
import { latencyStats, type LatencyStats } from '../lib/stats'

export type Kind = 'read' | 'write'

export interface FailureRecord { atS: number; op: string; method: string; path: string; status?: number; error?: string; body?: string }

export interface Bucket { requests: number; reads: number; writes: number; failures: number; latencies: number[] }

const newBucket = (): Bucket => ({ requests: 0, reads: 0, writes: 0, failures: 0, latencies: [] })

export class Recorder {
  readonly minutes: Bucket[] = []
  readonly ops = new Map<string, Bucket>()
  readonly statuses = new Map<number, number>()
  readonly xCache = { HIT: 0, MISS: 0, BYPASS: 0 }
  readonly failures: FailureRecord[] = []
  failureCount = 0
  preconditionRetries = 0
  total = newBucket()
  /** Requests still in flight when the run ends count in its last minute (no stub "minute 11"). */
  constructor (private readonly startMs: number, private readonly lastMinute: number) {}

  elapsedS (now = performance.now()): number { return (now - this.startMs) / 1000 }

  record (op: string, kind: Kind, latencyMs: number, ok: boolean, status: number | undefined, xCache: string | undefined): void {
    const now = performance.now()
    const minute = Math.min(this.lastMinute, Math.max(0, Math.floor((now - this.startMs) / 60_000)))
    while (this.minutes.length <= minute) this.minutes.push(newBucket())
    let opBucket = this.ops.get(op)
    if (opBucket === undefined) this.ops.set(op, opBucket = newBucket())
    for (const b of [this.minutes[minute]!, opBucket, this.total]) {
      b.requests++
      if (kind === 'read') b.reads++
      else b.writes++
      if (!ok) b.failures++
      b.latencies.push(latencyMs)
    }
    if (status !== undefined) this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1)
    if (xCache === 'HIT' || xCache === 'MISS' || xCache === 'BYPASS') this.xCache[xCache]++
  }

  fail (failure: FailureRecord): void {
    this.failureCount++
    if (this.failures.length < 50) this.failures.push(failure)
  }
}

export interface BucketSummary {
  requests: number
  reqPerSec: number
  reads: number
  writes: number
  failures: number
  latencyMs: LatencyStats
}

export function summarize (b: Bucket, seconds: number): BucketSummary {
  return {
    requests: b.requests,
    reqPerSec: seconds > 0 ? b.requests / seconds : 0,
    reads: b.reads,
    writes: b.writes,
    failures: b.failures,
    latencyMs: latencyStats(b.latencies)
  }
}
