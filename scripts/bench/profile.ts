// npm run bench -- --profile [--profile-scenario d]: a CPU profile of the
// service (node --cpu-prof) while one scenario runs, summarized by package
// (self time), so the breakdown of a request needs no tooling of one's own.
// The .cpuprofile file is kept (open it in Chrome DevTools or speedscope).
import fs from 'node:fs'
import path from 'node:path'
import { PROJECT_ROOT } from '../../src/lib/paths'
import { stopChild } from '../lib/child-processes'
import type { ScenarioKey } from './options'
import { scenario, type Context } from './scenarios'
import { startService } from './servers'

interface CallFrame { functionName: string, url: string, lineNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame }
interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }

export interface ProfileEntry { name: string, ms: number, share: number }
export interface ProfileSummary {
  file: string
  totalMs: number
  /** Sampled time not idle (start-up and warm-up included). */
  busyMs: number
  /** Requests the profiled scenario's measured run answered (not its warm-up). */
  requests?: number
  byPackage: ProfileEntry[]
  byFunction: ProfileEntry[]
}

/** Where a frame's code comes from: a package, a Node.js module, the service's own file, or V8's pseudo-frames. */
export function packageOf (frame: CallFrame): string {
  const { url, functionName } = frame
  if (url === '') return functionName.startsWith('(') ? functionName : `(native) ${functionName || 'anonymous'}`
  const modules = url.lastIndexOf('node_modules/')
  if (modules >= 0) {
    const parts = url.slice(modules + 'node_modules/'.length).split('/')
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).replace(/^internal\//, '').split('/').slice(0, 2).join('/')}`
  const file = url.replace(/^file:\/\//, '')
  return path.isAbsolute(file) ? path.relative(PROJECT_ROOT, file) : file
}

function top (totals: Map<string, number>, totalMs: number, n: number): ProfileEntry[] {
  return [...totals].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, ms]) => ({ name, ms, share: ms / totalMs }))
}

/** Self time per package and per function of a .cpuprofile. */
export function summarizeProfile (file: string, n = 20): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const packages = new Map<string, number>()
  const functions = new Map<string, number>()
  let totalUs = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!)
    // A sample's time is the delta to the next one.
    const us = profile.timeDeltas[i + 1] ?? 0
    if (node === undefined) continue
    totalUs += us
    const pkg = packageOf(node.callFrame)
    packages.set(pkg, (packages.get(pkg) ?? 0) + us / 1000)
    const fn = `${node.callFrame.functionName || '(anonymous)'} ${pkg}${node.callFrame.url === '' ? '' : `:${node.callFrame.lineNumber + 1}`}`
    functions.set(fn, (functions.get(fn) ?? 0) + us / 1000)
  }
  const totalMs = totalUs / 1000
  const busyMs = totalMs - (packages.get('(idle)') ?? 0)
  return { file, totalMs, busyMs, byPackage: top(packages, totalMs, n), byFunction: top(functions, totalMs, n) }
}

/** The newest .cpuprofile in `dir`. */
export function newestProfile (dir: string): string | undefined {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')) : []
  return files.map((f) => path.join(dir, f)).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0]
}

export function formatProfile (summary: ProfileSummary, scenario: string): string {
  const rows = (entries: ProfileEntry[]): string => entries.map((e) => `  ${(100 * e.share).toFixed(1).padStart(5)} %  ${e.ms.toFixed(0).padStart(7)} ms  ${e.name}`).join('\n')
  return [
    `\nCPU profile of the service during (${scenario}): ${(summary.totalMs / 1000).toFixed(1)} s sampled, ${(summary.busyMs / 1000).toFixed(1)} s busy` +
      (summary.requests === undefined || summary.requests === 0 ? '' : ` (${(1000 * summary.busyMs / summary.requests).toFixed(0)} µs per measured request, start-up and warm-up included)`),
    `  ${path.relative(process.cwd(), summary.file)}`,
    'self time by package (node:… are Node.js modules, (idle) is time waiting, src/dist files are the service\'s own):',
    rows(summary.byPackage),
    'self time by function:',
    rows(summary.byFunction)
  ].join('\n')
}

/**
 * Starts a second service under --cpu-prof, runs `key` against it (warm-up
 * included in the profile), stops it (the profile is written on exit) and
 * summarizes the profile. The measured service is left alone.
 */
export async function profileScenario (ctx: Context, key: ScenarioKey, secret: string, prefix: string, dir: string): Promise<ProfileSummary> {
  fs.mkdirSync(dir, { recursive: true })
  const measured = ctx.service
  const service = await startService(ctx.opts, secret, prefix, ['--cpu-prof', `--cpu-prof-dir=${dir}`])
  const started = Date.now()
  let requests: number | undefined
  try {
    ctx.service = service
    const result = await scenario(ctx, key)
    if ('requests' in result) requests = result.requests
  } finally {
    ctx.service = measured
    await stopChild(service.child, 15_000)
  }
  const file = newestProfile(dir)
  if (file === undefined || fs.statSync(file).mtimeMs < started) throw new Error(`the profiled service wrote no profile in ${dir}:\n${service.output().slice(-2000)}`)
  return { ...summarizeProfile(file), requests }
}
