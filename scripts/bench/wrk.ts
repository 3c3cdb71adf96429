// The bench's load generator when wrk is installed (Debian's `wrk`): on 2
// cores it costs about a third of autocannon's CPU per request, so more of
// the machine is left to the service. The URLs come from the scenario (a
// list the Lua script cycles through, each thread from its own offset);
// wrk's own summary gives counts, errors, non-2xx and latencies (printed by
// the script's done() as one JSON line).
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { run } from '../lib/child-processes'
import type { LatencyStats } from '../lib/stats'

/** wrk's version line, or undefined when it is not installed. */
export function wrkVersion (): string | undefined {
  const probe = spawnSync('wrk', ['-v'], { encoding: 'utf8' })
  if (probe.error !== undefined) return undefined
  const line = `${probe.stdout}${probe.stderr}`.split('\n').find((l) => l.startsWith('wrk '))
  return line?.split(' [')[0]
}

export interface WrkSpec {
  base: string
  /** Cycled through in order; each thread starts at its share of the list. */
  paths: string[]
  headers?: Record<string, string>
  connections: number
  durationS: number
  threads?: number
}

export interface WrkResult {
  requests: number
  durationS: number
  bytes: number
  latencyMs: LatencyStats
  errors: number
  timeouts: number
  /** Answers outside 2xx and 3xx. */
  non2xx: number
}

const lua = (paths: string[], headers: Record<string, string>, threads: number): string => `
local paths = {
${paths.map((p) => `  ${JSON.stringify(p)},`).join('\n')}
}
local n = #paths
local i = 0
${Object.entries(headers).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`).join('\n')}

local threads = 0
function setup (thread)
  thread:set('offset', math.floor(threads * n / ${threads}))
  threads = threads + 1
end

function init (args)
  i = offset or 0
end

function request ()
  i = i + 1
  if i > n then i = 1 end
  return wrk.format(nil, paths[i])
end

function done (summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests":%d,"durationUs":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"mean":%f,"p50":%d,"p90":%d,"p99":%d,"max":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`

export async function runWrk (spec: WrkSpec): Promise<WrkResult> {
  if (spec.paths.length === 0) throw new Error('wrk: no paths')
  const threads = Math.min(spec.threads ?? Math.max(1, Math.min(2, os.cpus().length)), spec.connections)
  const script = path.join(os.tmpdir(), `crm-bench-wrk-${process.pid}-${Date.now().toString(36)}.lua`)
  fs.writeFileSync(script, lua(spec.paths, spec.headers ?? {}, threads))
  try {
    const output = await run('wrk', ['-t', String(threads), '-c', String(spec.connections), '-d', `${spec.durationS}s`, '--timeout', '30s', '-s', script, spec.base])
    const line = output.split('\n').find((l) => l.startsWith('RESULT '))
    if (line === undefined) throw new Error(`wrk printed no result:\n${output.slice(-2000)}`)
    const r = JSON.parse(line.slice('RESULT '.length)) as Record<string, number>
    const ms = (us: number): number => us / 1000
    return {
      requests: r.requests!,
      durationS: r.durationUs! / 1e6,
      bytes: r.bytes!,
      latencyMs: { count: r.requests!, mean: ms(r.mean!), p50: ms(r.p50!), p90: ms(r.p90!), p99: ms(r.p99!), max: ms(r.max!) },
      errors: r.connect! + r.read! + r.write!,
      timeouts: r.timeout!,
      non2xx: r.status!
    }
  } finally {
    fs.rmSync(script, { force: true })
  }
}
