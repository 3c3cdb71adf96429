// The HTTP load of the bench: wrk runs when wrk is installed (wrk.ts), else
// autocannon runs, their latencies taken from every response, the X-Cache
// answers counted (with wrk: from the service's cache counters before and
// after), summarized per scenario.
import type http from 'node:http'
import autocannon from 'autocannon'
import { latencyStats, type LatencyStats } from '../lib/stats'
import { cpuPerRequest, cpuSnapshot, formatCpu, type CpuPerRequest } from './process-cpu'
import { TITLES, type BenchOptions, type ScenarioKey } from './options'
import { runWrk, wrkVersion } from './wrk'

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
  /** The highest event-loop delay the service reported during the run (wrk runs). */
  eventLoopDelayMaxMs?: number
  /** CPU per request by program over the measured run (Linux), warm-up excluded. */
  cpu?: CpuPerRequest
  /** The measured run's start and end on the monotonic clock in µs (the one V8's CPU profiles use), warm-up excluded. */
  windowUs?: { start: number, end: number }
  ceiling?: 'http-ceiling' | 'db-ceiling'
  ratio?: number
  notes: string[]
}

export type Counter = Record<string, number>

/**
 * Now on CLOCK_MONOTONIC in µs: process.hrtime and V8's profile timestamps
 * (startTime, timeDeltas) read the same clock on Linux, in every process, so
 * a profile of the service can be cut to the bench's measured window.
 */
export function monotonicUs (): number {
  return Number(process.hrtime.bigint() / 1000n)
}
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

/** The load generator the options pick: wrk when asked for or installed, else autocannon. */
export function loadTool (opts: Pick<BenchOptions, 'tool'>): { name: 'wrk' | 'autocannon', version: string } {
  const wrk = opts.tool === 'autocannon' ? undefined : wrkVersion()
  if (opts.tool === 'wrk' && wrk === undefined) throw new Error('--tool wrk: wrk is not installed (Debian: apt-get install wrk)')
  if (wrk !== undefined) return { name: 'wrk', version: wrk }
  return { name: 'autocannon', version: `autocannon ${(require('autocannon/package.json') as { version: string }).version}` }
}

/** The paths a spec's requests produce, for wrk to cycle through (a setupRequest is called for each). */
function specPaths (spec: CannonSpec, count: number): string[] | undefined {
  if (spec.requests.some((r) => (r.method ?? 'GET') !== 'GET' || r.body !== undefined)) return undefined // writes: autocannon
  const paths: string[] = []
  for (let i = 0; paths.length < count; i++) {
    const request = spec.requests[i % spec.requests.length]!
    const setup = request.setupRequest as ((req: autocannon.Request, context: object) => autocannon.Request | undefined) | undefined
    const path = setup === undefined ? request.path : setup({ ...request }, {})?.path
    if (path === undefined) break
    paths.push(path)
    if (spec.requests.every((r) => r.setupRequest === undefined) && paths.length >= spec.requests.length) break
  }
  return paths
}

export interface RuntimeProbe { counts: Counter, eventLoopDelayMs?: number }

/** Reads the probe every 500 ms until stopped: the highest event-loop delay seen. */
function sampleEventLoop (probe: () => Promise<RuntimeProbe | undefined>): () => Promise<number | undefined> {
  let max: number | undefined
  const state = { running: true }
  const loop = (async () => {
    while (state.running) {
      await new Promise((resolve) => setTimeout(resolve, 500))
      const delay = (await probe())?.eventLoopDelayMs
      if (delay !== undefined && (max === undefined || delay > max)) max = delay
    }
  })()
  return async () => { state.running = false; await loop; return max }
}

async function withWrk (opts: BenchOptions, key: ScenarioKey, build: () => { spec: CannonSpec }, paths: (spec: CannonSpec, s: number) => string[] | undefined,
  probe?: () => Promise<RuntimeProbe | undefined>): Promise<ScenarioResult | undefined> {
  // The URL list is built before the run starts, so its CPU is not the run's.
  const prepare = (durationS: number): (() => ReturnType<typeof runWrk>) | undefined => {
    const { spec } = build()
    // Enough distinct URLs that a cache-busting run never wraps around (at 8,000 req/s).
    const list = paths(spec, Math.min(durationS * 8000, 400_000))
    if (list === undefined) return undefined
    return async () => await runWrk({ base: spec.base, paths: list, headers: spec.headers, connections: opts.connections, durationS })
  }
  if (opts.warmupS > 0) {
    const warmup = prepare(opts.warmupS)
    if (warmup === undefined) return undefined
    await warmup()
  }
  const run = prepare(opts.durationS)
  if (run === undefined) return undefined
  const before = (await probe?.())?.counts
  const stopSampling = probe === undefined ? undefined : sampleEventLoop(probe)
  const cpuBefore = cpuSnapshot()
  const start = monotonicUs()
  const r = await run()
  const end = monotonicUs()
  const cpuAfter = cpuSnapshot()
  const eventLoopMaxMs = await stopSampling?.()
  const after = (await probe?.())?.counts
  const xCache = before === undefined || after === undefined
    ? undefined
    : Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => (v as number) > 0))
  return withCpu({
    key,
    title: TITLES[key],
    tool: 'wrk',
    requests: r.requests,
    durationS: r.durationS,
    reqPerSec: r.requests / r.durationS,
    latencyMs: r.latencyMs,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    statusCodes: {},
    xCache,
    bytesPerResponse: r.requests === 0 ? undefined : Math.round(r.bytes / r.requests),
    ...(eventLoopMaxMs === undefined ? {} : { eventLoopDelayMaxMs: eventLoopMaxMs }),
    windowUs: { start, end },
    notes: eventLoopMaxMs === undefined ? [] : [`service event-loop delay: at most ${eventLoopMaxMs.toFixed(1)} ms (under-pressure's mean per sample interval, read every 500 ms)`]
  }, cpuBefore, cpuAfter)
}

/** The result with its CPU breakdown (and a note saying it), when /proc could be read. */
function withCpu (result: ScenarioResult, before: ReturnType<typeof cpuSnapshot>, after: ReturnType<typeof cpuSnapshot>): ScenarioResult {
  const cpu = before === undefined || after === undefined ? undefined : cpuPerRequest(before, after, result.requests)
  return cpu === undefined ? result : { ...result, cpu, notes: [...result.notes, formatCpu(cpu)] }
}

/**
 * A scenario: warm-up (discarded), then the measured run. `probe` reads the
 * service's cache counters (X-Cache is not seen per response with wrk) and
 * event-loop delay.
 */
export async function measureHttp (opts: BenchOptions, key: ScenarioKey, build: () => { spec: CannonSpec; xCache?: Counter },
  probe?: () => Promise<RuntimeProbe | undefined>): Promise<ScenarioResult> {
  if (loadTool(opts).name === 'wrk') {
    const result = await withWrk(opts, key, build, specPaths, probe)
    if (result !== undefined) return result
  }
  if (opts.warmupS > 0) {
    const warm = build()
    await cannon(warm.spec, opts.connections, opts.warmupS)
  }
  const measured = build()
  const cpuBefore = cpuSnapshot()
  const start = monotonicUs()
  const { result, latencies } = await cannon(measured.spec, opts.connections, opts.durationS)
  const end = monotonicUs()
  const cpuAfter = cpuSnapshot() // before summarizing: the latencies' sort is the harness's work, not the run's
  return withCpu({ ...summarize(key, result, latencies, measured.xCache), windowUs: { start, end } }, cpuBefore, cpuAfter)
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
