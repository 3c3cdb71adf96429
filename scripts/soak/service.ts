// The service under soak: the real server as a child process, started with
// --expose-gc and a preload that runs a full GC on SIGWINCH and reports the
// heap right after it, so the heap rule can compare live heaps.
import { spawn, type ChildProcess } from 'node:child_process'
import { PROJECT_ROOT } from '../../src/lib/paths'
import { nodeArgs, track } from '../lib/child-processes'
import { freePort } from '../lib/free-port'
import { SERVER_NODE_FLAGS, serviceEntry, serviceEnv, waitUntilReady } from '../lib/service'
import type { SoakOptions } from './options'

export const GC_PRELOAD = `'use strict'
// Soak harness: a full GC on SIGWINCH (close-with-grace ignores it), then one line of figures on stderr.
process.on('SIGWINCH', () => {
  if (typeof global.gc !== 'function') return
  const started = process.hrtime.bigint()
  global.gc()
  const gcMs = Number(process.hrtime.bigint() - started) / 1e6
  const m = process.memoryUsage()
  process.stderr.write('SOAK_GC ' + JSON.stringify({ at: Date.now(), gcMs, heapUsed: m.heapUsed, heapTotal: m.heapTotal, rss: m.rss, external: m.external, arrayBuffers: m.arrayBuffers }) + '\\n')
})
`

export interface GcReading { at: number; gcMs: number; heapUsed: number; heapTotal: number; rss: number; external: number; arrayBuffers: number }

export interface Service {
  child: ChildProcess
  base: URL
  env: Record<string, string>
  output: () => string
  warnings: string[]
  nextGc: () => Promise<GcReading>
}

export async function startService (opts: SoakOptions, databaseUrl: string, secret: string, prefix: string, preload: string): Promise<Service> {
  const port = await freePort()
  // The periodic refresh is part of a real instance's life: every minute here, so a soak sees several.
  const env = serviceEnv({ port, databaseUrl, redisUrl: opts.redisUrl, prefix, secret, dashboardRefreshMs: 60_000 })
  const entry = serviceEntry(opts.server)
  const inherited = { ...process.env }
  for (const key of Object.keys(inherited)) if (/^(DATABASE_|REDIS_|CACHE_|JWT_|PORT$|HOST$|METRICS_PORT$|NODE_OPTIONS$)/.test(key)) delete inherited[key]
  const child = track(spawn(process.execPath, [...SERVER_NODE_FLAGS, '--expose-gc', '-r', preload, ...nodeArgs(entry)], { cwd: PROJECT_ROOT, env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }))
  let output = ''
  const warnings: string[] = []
  let waiting: Array<(r: GcReading) => void> = []
  const onLine = (line: string): void => {
    if (line.startsWith('SOAK_GC ')) {
      const reading = JSON.parse(line.slice(8)) as GcReading
      const resolvers = waiting
      waiting = []
      for (const resolve of resolvers) resolve(reading)
      return
    }
    if (line.trim() === '') return
    output = (output + line + '\n').slice(-200_000)
    if (/"level":(40|50|60)/.test(line) || !line.startsWith('{')) { if (warnings.length < 200) warnings.push(line.slice(0, 1000)) }
  }
  for (const stream of [child.stdout!, child.stderr!]) {
    let partial = ''
    stream.on('data', (c: Buffer) => {
      const lines = (partial + c.toString()).split('\n')
      partial = lines.pop()!
      lines.forEach(onLine)
    })
  }
  const base = new URL(`http://127.0.0.1:${port}`)
  await waitUntilReady(child, base.origin, () => output)
  const nextGc = async (): Promise<GcReading> => await new Promise<GcReading>((resolve, reject) => {
    const timer = setTimeout(() => { waiting = waiting.filter((r) => r !== done); reject(new Error('no answer to the forced GC within 10 s')) }, 10_000)
    const done = (r: GcReading): void => { clearTimeout(timer); resolve(r) }
    waiting.push(done)
    child.kill('SIGWINCH')
  })
  return { child, base, env, output: () => output, warnings, nextGc }
}
