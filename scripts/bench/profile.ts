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
interface ProfileNode { id: number, callFrame: CallFrame, children?: number[] }
interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }

export interface ProfileEntry { name: string, ms: number, share: number }
export interface ProfileSummary {
  file: string
  totalMs: number
  /** Sampled time not idle. */
  busyMs: number
  /** True when the samples were cut to the scenario's measured run (start-up and warm-up excluded). */
  measuredOnly: boolean
  /** Requests the profiled scenario's measured run answered (not its warm-up). */
  requests?: number
  byPackage: ProfileEntry[]
  byFunction: ProfileEntry[]
  /** For the costliest native functions: the nearest JavaScript frames calling them (who asks for that work). */
  nativeCallers: Array<{ native: string, callers: ProfileEntry[] }>
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

const functionName = (frame: CallFrame): string =>
  `${frame.functionName || '(anonymous)'} ${packageOf(frame)}${frame.url === '' ? '' : `:${frame.lineNumber + 1}`}`

/** The nearest frame above `id` that is JavaScript (has a URL): who called a native function. */
function jsCaller (id: number, parents: Map<number, ProfileNode>): string {
  for (let node = parents.get(id); node !== undefined; node = parents.get(node.id)) {
    if (node.callFrame.url !== '') return functionName(node.callFrame)
  }
  return '(root)'
}

/**
 * Self time per package and per function of a .cpuprofile; with `windowUs`
 * (monotonic µs, http-load.ts monotonicUs) only the samples taken inside it,
 * so start-up and warm-up stay out.
 */
export function summarizeProfile (file: string, n = 20, windowUs?: { start: number, end: number }): Omit<ProfileSummary, 'requests'> {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parents = new Map<number, ProfileNode>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node)
  const packages = new Map<string, number>()
  const functions = new Map<string, number>()
  const natives = new Map<string, Map<string, number>>()
  let totalUs = 0
  let at = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0
    const node = byId.get(profile.samples[i]!)
    // A sample's time is the delta to the next one.
    const us = profile.timeDeltas[i + 1] ?? 0
    if (node === undefined) continue
    if (windowUs !== undefined && (at < windowUs.start || at >= windowUs.end)) continue
    totalUs += us
    const pkg = packageOf(node.callFrame)
    packages.set(pkg, (packages.get(pkg) ?? 0) + us / 1000)
    const fn = functionName(node.callFrame)
    functions.set(fn, (functions.get(fn) ?? 0) + us / 1000)
    if (pkg.startsWith('(native)')) {
      const callers = natives.get(fn) ?? new Map<string, number>()
      natives.set(fn, callers)
      const caller = jsCaller(node.id, parents)
      callers.set(caller, (callers.get(caller) ?? 0) + us / 1000)
    }
  }
  const totalMs = totalUs / 1000
  const busyMs = totalMs - (packages.get('(idle)') ?? 0)
  const byFunction = top(functions, totalMs, n)
  const nativeCallers = byFunction.filter((e) => natives.has(e.name)).slice(0, 4)
    .map((e) => ({ native: e.name, callers: top(natives.get(e.name)!, totalMs, 5) }))
  return { file, totalMs, busyMs, measuredOnly: windowUs !== undefined, byPackage: top(packages, totalMs, n), byFunction, nativeCallers }
}

/**
 * The newest .cpuprofile of a main thread in `dir`. --cpu-prof writes one
 * per thread, `CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile`; the
 * service's worker threads (thread id > 0) sit idle and are not its requests.
 */
export function newestProfile (dir: string): string | undefined {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(f)) : []
  return files.map((f) => path.join(dir, f)).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0]
}

export function formatProfile (summary: ProfileSummary, scenario: string): string {
  const rows = (entries: ProfileEntry[]): string => entries.map((e) => `  ${(100 * e.share).toFixed(1).padStart(5)} %  ${e.ms.toFixed(0).padStart(7)} ms  ${e.name}`).join('\n')
  return [
    `\nCPU profile of the service during (${scenario}): ${(summary.totalMs / 1000).toFixed(1)} s sampled, ${(summary.busyMs / 1000).toFixed(1)} s busy` +
      (summary.requests === undefined || summary.requests === 0 ? '' : ` (${(1000 * summary.busyMs / summary.requests).toFixed(0)} µs per measured request)`) +
      (summary.measuredOnly ? ', the measured run only (start-up and warm-up excluded)' : ', start-up and warm-up included'),
    `  ${path.relative(process.cwd(), summary.file)}`,
    'self time by package (node:… are Node.js modules, (idle) is time waiting, src/dist files are the service\'s own):',
    rows(summary.byPackage),
    'self time by function:',
    rows(summary.byFunction),
    ...summary.nativeCallers.flatMap(({ native, callers }) => [`callers of ${native} (nearest JavaScript frame):`, rows(callers)])
  ].join('\n')
}

/**
 * Starts a second service under --cpu-prof, runs `key` against it, stops it
 * (the profile is written on exit) and summarizes the samples of the
 * measured run (start-up and warm-up are left out). The measured service is
 * left alone.
 */
export async function profileScenario (ctx: Context, key: ScenarioKey, secret: string, prefix: string, dir: string): Promise<ProfileSummary> {
  fs.mkdirSync(dir, { recursive: true })
  const measured = ctx.service
  const service = await startService(ctx.opts, secret, prefix, ['--cpu-prof', `--cpu-prof-dir=${dir}`])
  const started = Date.now()
  let requests: number | undefined
  let windowUs: { start: number, end: number } | undefined
  try {
    ctx.service = service
    const result = await scenario(ctx, key)
    if ('requests' in result) requests = result.requests
    if ('windowUs' in result) windowUs = result.windowUs
  } finally {
    ctx.service = measured
    await stopChild(service.child, 15_000)
  }
  const file = newestProfile(dir)
  if (file === undefined || fs.statSync(file).mtimeMs < started) throw new Error(`the profiled service wrote no profile in ${dir}:\n${service.output().slice(-2000)}`)
  return { ...summarizeProfile(file, 20, windowUs), requests }
}
