// Where the machine's CPU went during a measured run, per program: the
// service, Redis, PostgreSQL and the load generator share two cores, so a
// ratio to the HTTP ceiling is bounded by what every one of them spends per
// request, not by the service alone. Read from /proc (Linux only): each
// process's user + system time, and the whole machine's idle, interrupt and
// steal time from /proc/stat, all in clock ticks.
import { readdirSync, readFileSync } from 'node:fs'
import { median } from '../lib/stats'

/** The name the report gives CPU time of processes gone by the end of the run. */
export const EXITED = 'exited processes (wrk)'

/** USER_HZ: /proc's clock tick, 100 per second on every Linux the kernel ABI allows. */
const TICK_US = 10_000

export interface CpuSnapshot {
  /** pid → program name and CPU ticks so far (all its threads). */
  processes: Map<number, { comm: string, ticks: number }>
  /** The machine's ticks by kind, summed over its CPUs. */
  machine: { total: number, idle: number, interrupts: number, steal: number }
}

/** Where each program's CPU went during a run, per request. */
export interface CpuPerRequest {
  /**
   * µs of CPU per request by program (the bench's own process as "bench");
   * interrupts (network receive) as "irq"; what processes that exited
   * during the run spent (the load generator) as EXITED.
   */
  perRequestUs: Record<string, number>
  /** Shares of the machine's time: idle (nothing to run) and stolen by the hypervisor. */
  idlePercent: number
  stealPercent: number
}

function readProcesses (): CpuSnapshot['processes'] {
  const processes: CpuSnapshot['processes'] = new Map()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue // it exited between the listing and the read
    }
    // "pid (comm) state ppid …": comm may hold spaces or parentheses, so split after the last ')'.
    const close = stat.lastIndexOf(')')
    const comm = stat.slice(stat.indexOf('(') + 1, close)
    const fields = stat.slice(close + 2).split(' ')
    // After comm: state is field 3 of proc(5), utime 14 and stime 15, i.e. indexes 11 and 12 here.
    processes.set(Number(entry), { comm, ticks: Number(fields[11]) + Number(fields[12]) })
  }
  return processes
}

function readMachine (): CpuSnapshot['machine'] {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!
  // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest time is already in user)
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number) as number[]
  return {
    total: user! + nice! + system! + idle! + iowait! + irq! + softirq! + steal!,
    idle: idle! + iowait!,
    interrupts: irq! + softirq!,
    steal: steal!
  }
}

/** The CPU counters now; undefined off Linux (the report then leaves the breakdown out). */
export function cpuSnapshot (): CpuSnapshot | undefined {
  if (process.platform !== 'linux') return undefined
  try {
    return { processes: readProcesses(), machine: readMachine() }
  } catch {
    return undefined
  }
}

/**
 * The CPU spent between two snapshots per request, by program name. A
 * process started in between counts from zero (wrk is started after the
 * first snapshot); one that exited in between is missed (none does while a
 * scenario runs: the service, Redis, PostgreSQL's backends stay up).
 */
export function cpuPerRequest (before: CpuSnapshot, after: CpuSnapshot, requests: number): CpuPerRequest | undefined {
  const elapsed = after.machine.total - before.machine.total
  if (requests <= 0 || elapsed <= 0) return undefined
  const ticks = new Map<string, number>()
  for (const [pid, now] of after.processes) {
    const spent = now.ticks - (before.processes.get(pid)?.ticks ?? 0)
    if (spent <= 0) continue
    const name = pid === process.pid ? 'bench' : now.comm
    ticks.set(name, (ticks.get(name) ?? 0) + spent)
  }
  const interrupts = after.machine.interrupts - before.machine.interrupts
  ticks.set('irq', interrupts)
  // The machine's busy time no live process accounts for: processes that
  // exited before the second snapshot, i.e. the load generator (wrk runs as
  // a child that ends with the run).
  const busy = elapsed - (after.machine.idle - before.machine.idle) - (after.machine.steal - before.machine.steal)
  const attributed = [...ticks.values()].reduce((sum, spent) => sum + spent, 0)
  ticks.set(EXITED, Math.max(0, busy - attributed))
  const perRequestUs = Object.fromEntries([...ticks]
    .map(([name, spent]) => [name, Math.round(10 * spent * TICK_US / requests) / 10] as const)
    .filter(([, us]) => us >= 0.5)
    .sort((a, b) => b[1] - a[1]))
  const percent = (part: number): number => Math.round(1000 * part / elapsed) / 10
  return {
    perRequestUs,
    idlePercent: percent(after.machine.idle - before.machine.idle),
    stealPercent: percent(after.machine.steal - before.machine.steal)
  }
}

/** How the report's CPU line begins. */
export const CPU_NOTE = 'CPU per request:'

/** One line for the report: "CPU per request: node 54 µs, redis-server 12 µs, …; machine idle 20 %, steal 1 %". */
export function formatCpu (cpu: CpuPerRequest): string {
  const programs = Object.entries(cpu.perRequestUs).map(([name, us]) => `${name} ${us} µs`).join(', ')
  return `${CPU_NOTE} ${programs}; machine idle ${cpu.idlePercent} %, steal ${cpu.stealPercent} %`
}

/** The median of several runs' breakdowns, program by program (a program missing from a run counts as 0 there). */
export function medianCpu (list: Array<CpuPerRequest | undefined>): CpuPerRequest | undefined {
  const runs = list.filter((c): c is CpuPerRequest => c !== undefined)
  if (runs.length === 0) return undefined
  const names = [...new Set(runs.flatMap((c) => Object.keys(c.perRequestUs)))]
  const perRequestUs = Object.fromEntries(names
    .map((name) => [name, median(runs.map((c) => c.perRequestUs[name] ?? 0))] as const)
    .filter(([, us]) => us >= 0.5)
    .sort((a, b) => b[1] - a[1]))
  return { perRequestUs, idlePercent: median(runs.map((c) => c.idlePercent)), stealPercent: median(runs.map((c) => c.stealPercent)) }
}
