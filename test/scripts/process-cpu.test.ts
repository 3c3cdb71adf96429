// The bench's CPU breakdown per program: ticks between two /proc snapshots,
// per request, with what exited processes spent and the machine's idle share.
import t from 'tap'
import { cpuPerRequest, cpuSnapshot, EXITED, formatCpu, medianCpu, type CpuSnapshot } from '../../scripts/bench/process-cpu'

const snapshot = (processes: Array<[number, string, number]>, machine: CpuSnapshot['machine']): CpuSnapshot =>
  ({ processes: new Map(processes.map(([pid, comm, ticks]) => [pid, { comm, ticks }])), machine })

t.test('per request, by program', async (t) => {
  const before = snapshot([[10, 'node', 100], [11, 'redis-server', 50], [12, 'wrk', 5]],
    { total: 1000, idle: 500, interrupts: 10, steal: 0 })
  // 200 ticks elapsed (2 CPUs × 1 s): node 100, redis 20, a new postgres 10, irq 10, idle 40, steal 2;
  // wrk exited in between: the 18 busy ticks nobody accounts for are its.
  const after = snapshot([[10, 'node', 200], [11, 'redis-server', 70], [13, 'postgres', 10], [process.pid, 'node', 0]],
    { total: 1200, idle: 540, interrupts: 20, steal: 2 })
  const cpu = cpuPerRequest(before, after, 10_000)
  t.same(cpu, {
    perRequestUs: { node: 100, 'redis-server': 20, [EXITED]: 18, postgres: 10, irq: 10 },
    idlePercent: 20,
    stealPercent: 1
  }, '1 tick is 10 ms; 10,000 requests')
  t.equal(formatCpu(cpu!), `CPU per request: node 100 µs, redis-server 20 µs, ${EXITED} 18 µs, postgres 10 µs, irq 10 µs; machine idle 20 %, steal 1 %`)
  t.equal(cpuPerRequest(before, after, 0), undefined, 'no requests: nothing to divide by')
})

t.test('medians of runs, a program missing from a run counting 0 there', async (t) => {
  const run = (node: number, redis?: number): NonNullable<ReturnType<typeof cpuPerRequest>> =>
    ({ perRequestUs: { node, ...(redis === undefined ? {} : { 'redis-server': redis }) }, idlePercent: node / 10, stealPercent: 0 })
  t.same(medianCpu([run(100, 20), run(120), run(90, 30)]), { perRequestUs: { node: 100, 'redis-server': 20 }, idlePercent: 10, stealPercent: 0 })
  t.equal(medianCpu([undefined]), undefined)
})

t.test('a real snapshot on Linux', { skip: process.platform !== 'linux' }, async (t) => {
  const first = cpuSnapshot()!
  // Spin until this process has been charged a tick (10 ms of CPU) and the
  // machine's counters have moved on too, however busy the machine is. The
  // two are kept apart by the kernel: a process's time is exact, /proc/stat's
  // is sampled per tick, and its idle + iowait sum may even step back a tick
  // (CI saw the process grow while the machine's total had not yet).
  const grown = (s: CpuSnapshot): boolean => s.processes.get(process.pid)!.ticks > first.processes.get(process.pid)!.ticks &&
    s.machine.total > first.machine.total
  const deadline = Date.now() + 60_000
  let second = cpuSnapshot()!
  while (!grown(second) && Date.now() < deadline) second = cpuSnapshot()!
  t.ok(second.processes.get(process.pid)!.ticks > first.processes.get(process.pid)!.ticks, 'this process\'s own ticks grew')
  t.ok(second.machine.total > first.machine.total, 'and the machine\'s')
  t.ok([...second.processes.values()].some((p) => p.comm === 'node'), 'programs are named as /proc names them')
})
