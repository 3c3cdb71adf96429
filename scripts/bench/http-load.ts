// The HTTP load of the bench: autocannon runs, their latencies taken from
// every response, the X-Cache answers counted, summarized per scenario.
import type http from 'node:http'
import autocannon from 'autocannon'
import { latencyStats, type LatencyStats } from '../lib/stats'
import { TITLES, type BenchOptions, type ScenarioKey } from './options'

export interface ScenarioResult {
  key: ScenarioKey
  title: string
  tool: string
  requests: number
  durationS: number
  reqPerSec: number
  latencyMs: LatencyStats
  /** Connection errors and timeouts. */
  errors: number
  timeouts: number
  non2xx: number
  statusCodes: Record<string, number>
  xCache?: Record<string, number>
  bytesPerResponse?: number
  ceiling?: 'http-ceiling' | 'db-ceiling'
  ratio?: number
  notes: string[]
}

export type Counter = Record<string, number>
const bump = (counter: Counter, key: string): void => { counter[key] = (counter[key] ?? 0) + 1 }

function header (headers: http.IncomingHttpHeaders | undefined, name: string): string | undefined {
  if (headers === undefined) return undefined
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value[0] : value
  }
  return undefined
}

export interface CannonSpec {
  base: string
  requests: autocannon.Request[]
  headers?: Record<string, string>
}

/** One autocannon run; latencies come from every response's hrtime duration (autocannon's histogram keeps whole ms). */
async function cannon (spec: CannonSpec, connections: number, durationS: number): Promise<{ result: autocannon.Result; latencies: number[] }> {
  const latencies: number[] = []
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({
      url: spec.base,
      connections,
      duration: durationS,
      headers: spec.headers,
      requests: spec.requests,
      timeout: 30
    }, (err: unknown, res: autocannon.Result) => { if (err != null) reject(err instanceof Error ? err : new Error(String(err))); else resolve(res) })
    instance.on('response', (_client, _status, _bytes, responseTime) => { latencies.push(responseTime) })
  })
  return { result, latencies }
}

function summarize (key: ScenarioKey, result: autocannon.Result, latencies: number[], xCache?: Counter): ScenarioResult {
  const statusCodes: Record<string, number> = {}
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stat.count ?? 0
  const responses = latencies.length
  return {
    key,
    title: TITLES[key],
    tool: 'autocannon',
    requests: responses,
    durationS: result.duration,
    reqPerSec: responses / result.duration,
    latencyMs: latencyStats(latencies),
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statusCodes,
    xCache,
    bytesPerResponse: responses === 0 ? undefined : Math.round(result.throughput.total / responses),
    notes: []
  }
}

/** A scenario: warm-up (discarded), then the measured run. */
export async function measureHttp (opts: BenchOptions, key: ScenarioKey, build: () => { spec: CannonSpec; xCache?: Counter }): Promise<ScenarioResult> {
  if (opts.warmupS > 0) {
    const warm = build()
    await cannon(warm.spec, opts.connections, opts.warmupS)
  }
  const measured = build()
  const { result, latencies } = await cannon(measured.spec, opts.connections, opts.durationS)
  return summarize(key, result, latencies, measured.xCache)
}

interface CacheCounter {
  counter: Counter
  onResponse: (status: number, body: string, context: object, headers: http.IncomingHttpHeaders | undefined) => void
}

/** Counts X-Cache values of the answers (and, separately, what non-2xx answers said). */
export function cacheCounter (): CacheCounter {
  const counter: Counter = {}
  return {
    counter,
    onResponse: (status, _body, _context, headers) => {
      if (status < 200 || status > 299) bump(counter, `status ${status}`)
      else bump(counter, header(headers, 'x-cache') ?? String(status)) // writes carry no X-Cache: count their statuses
    }
  }
}
