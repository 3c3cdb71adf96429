// npm run bench, as a smoke test: every scenario for one second against a
// tiny seeded database, then the JSON it wrote. No timing is asserted (speed
// is the benchmark's business, not the test suite's) — only that the harness
// seeds, starts the service and its ceilings, measures, cleans up after its
// writes and records what it promises.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { REDIS_URL, runScript, type ScriptRun } from '../helpers/app'
import { createEmptyDatabase, withClient } from '../helpers/database'
import { parseBenchArgs } from '../../scripts/bench/options'
import { wrkVersion } from '../../scripts/bench/wrk'
import { UsageError } from '../../scripts/lib/args'

const ROOT = path.resolve(__dirname, '../..')
const SCRIPT = path.join(ROOT, 'scripts', 'bench', 'main.ts')

/** Runs the bench without blocking this process's event loop. */
const bench = async (args: string[]): Promise<ScriptRun> => await runScript(SCRIPT, args)

/** 'exit 0', or the end of what it printed when it failed. */
const outcome = (run: ScriptRun): string => run.status === 0 ? 'exit 0' : `exit ${run.status}:\n${run.stdout.slice(-3000)}\n${run.stderr.slice(-3000)}`

interface Latency { p50: number; p99: number; mean: number; count: number }
interface Scenario {
  key: string
  reqPerSec: number
  latencyMs: Latency
  errors: number
  non2xx: number
  xCache?: Record<string, number>
  ceiling?: string
  ratio?: number
}
interface Micro { group: string; variant: string; sequential: { opsPerSec: number }; concurrent: { opsPerSec: number }; ratio: { sequential: number } }
interface DbLatency {
  calls: number
  statements: Array<{ statement: string; sql: string; unnamed: Latency; prepared: Latency; planningMs: number; executionMs: number; planningShare: number }>
}
interface Report {
  tool: string
  loadGenerator: string
  dbCeilingMethod: string
  machine: { cpus: number; node: string; cpuList: unknown[] }
  options: { organizations: number; connections: number; durationS: number; only: string[] }
  dataset: { action: string; organizations: number; layout: string; visibility: Record<string, { pages: number; allVisible: number }> }
  member: { id: string; organizations: number }
  runs: Array<Record<string, unknown>>
  median: Record<string, Scenario> & { prisma: { consistent: boolean; variants: Micro[] }; 'db-latency': DbLatency }
  targets: Array<{ id: string; pass: boolean | null }>
}

t.test('bench options', async (t) => {
  const defaults = parseBenchArgs([])
  t.match(defaults, { organizations: 100000, layout: 'live', durationS: 10, connections: 32, runs: 1, server: 'dist', reseed: false, dbCalls: 1000 })
  t.equal(defaults.databaseUrl, 'postgresql://root@127.0.0.1:5432/crm_bench_live_100000')
  t.match(defaults, { acceptEncoding: 'gzip, deflate, br', tool: 'auto' })
  t.equal(defaults.profile, undefined, 'no profile unless asked')
  t.equal(parseBenchArgs(['--accept-encoding', 'none']).acceptEncoding, undefined, '--accept-encoding none: no header')
  t.equal(parseBenchArgs(['--profile']).profile, 'd', '--profile: the dashboard by default')
  t.equal(parseBenchArgs(['--profile', '--profile-scenario', 'a']).profile, 'a')
  t.throws(() => parseBenchArgs(['--tool', 'ab']), /--tool/)
  t.match(defaults.resultsDir, /bench[/\\]results$/)
  t.same(parseBenchArgs(['--only', 'a,ceilings']).only, ['http-ceiling', 'a', 'db-ceiling'], 'run order: each ceiling before its scenarios')
  t.same(parseBenchArgs(['--only', 'B, prisma,db']).only, ['db-ceiling', 'b', 'prisma'])
  t.same(parseBenchArgs(['--only', 'db-side']).only, ['db-ceiling', 'db-latency'])
  t.equal(parseBenchArgs(['--organizations', '1000000']).databaseUrl, 'postgresql://root@127.0.0.1:5432/crm_bench_live_1000000')
  t.equal(parseBenchArgs(['--organizations', '1000000', '--layout', 'clustered']).databaseUrl, 'postgresql://root@127.0.0.1:5432/crm_bench_1000000',
    'one database per layout')
  for (const [args, message] of [
    [['--only', 'a,nope'], /unknown scenario "nope"/],
    [['--only', ','], /names no scenario/],
    [['--connections', '0'], /--connections must be an integer from 1/],
    [['--duration', '1.5'], /--duration must be an integer/],
    [['--server', 'docker'], /--server must be dist or ts/],
    [['--layout', 'heap'], /--layout must be clustered or live/],
    [['--database-url', 'mysql://x'], /--database-url must be/],
    [['--redis-url', 'http://x'], /--redis-url must be/],
    [['--bogus'], /Unknown option/]
  ] as Array<[string[], RegExp]>) {
    t.throws(() => parseBenchArgs(args), message, args.join(' '))
  }
  let help: unknown
  try { parseBenchArgs(['--help']) } catch (err) { help = err }
  t.ok(help instanceof UsageError && help.message === '', '--help: a UsageError without message (the usage is printed, exit 0)')
})

t.test('npm run bench: every scenario, the ceilings and the JSON report', async (t) => {
  t.setTimeout(300_000)
  const db = await createEmptyDatabase('bench')
  t.teardown(db.drop)
  const results = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-bench-test-'))
  t.teardown(() => fs.rmSync(results, { recursive: true, force: true }))
  const common = ['--organizations', '300', '--duration', '1', '--warmup', '0', '--connections', '4',
    '--database-url', db.url, '--redis-url', REDIS_URL, '--results-dir', results]

  const readReport = (): Report => {
    const [file] = fs.readdirSync(results)
    const report = JSON.parse(fs.readFileSync(path.join(results, file!), 'utf8')) as Report
    fs.rmSync(path.join(results, file!))
    return report
  }

  // First only the DB ceiling (no service): the empty database is migrated and seeded, live layout by default.
  const first = await bench([...common, '--only', 'db'])
  t.equal(first.status, 0, outcome(first))
  t.match(first.stdout, /seeding crm_test_bench_\w+ with 300 organizations, layout live/)
  const seeded = readReport()
  t.match(seeded.dataset, { action: 'seeded', organizations: 300, layout: 'live' })
  t.ok(seeded.dataset.visibility.interactions!.pages > 0, 'the report says how much of each heap is all-visible')
  t.same(Object.keys(seeded.median), ['db-ceiling'])
  t.ok(seeded.median['db-ceiling']!.reqPerSec > 0)

  // Another layout is another seed; the single-client figures of both statements.
  const latency = await bench([...common, '--only', 'db-latency', '--layout', 'clustered', '--db-calls', '30'])
  t.equal(latency.status, 0, outcome(latency))
  t.match(latency.stdout, /seeding crm_test_bench_\w+ with 300 organizations, layout clustered/, 'a live seed is not reused for clustered')
  t.match(latency.stdout, /db single client/)
  const single = readReport()
  t.match(single.dataset, { action: 'seeded', layout: 'clustered' })
  const dbl = single.median['db-latency']
  t.equal(dbl.calls, 30)
  t.same(dbl.statements.map((s) => s.statement), ['function', 'service'], 'the function called directly and the service\'s statement')
  t.match(dbl.statements[0]!.sql, /^SELECT \* FROM get_organizations_optimized\(\$1/)
  for (const s of dbl.statements) {
    t.ok(s.unnamed.count === 30 && s.unnamed.p50 > 0 && s.unnamed.p99 >= s.unnamed.p50, `${s.statement}: unnamed p50 and p99`)
    t.ok(s.prepared.count === 30 && s.prepared.p50 > 0, `${s.statement}: prepared p50`)
    t.ok(s.planningMs > 0 && s.executionMs > 0 && s.planningShare > 0 && s.planningShare < 1, `${s.statement}: planning share ${s.planningShare}`)
  }

  // Then everything, with the service through ts-node (--server ts): no build, which another test file may be running.
  const full = await bench([...common, '--only', 'all', '--layout', 'clustered', '--db-calls', '30', '--server', 'ts', '--prisma-iterations', '20', '--tool', 'autocannon'])
  t.equal(full.status, 0, outcome(full))
  t.match(full.stdout, /reusing crm_test_bench_/, 'the second run reuses the seeded database')
  t.match(full.stdout, /load generator: autocannon/)
  t.match(full.stdout, /targets:/)
  const files = fs.readdirSync(results)
  t.equal(files.length, 1, 'one JSON file')
  t.match(files[0], /^bench-300-\d{4}-\d\d-\d\dT[\d-]+Z\.json$/)
  const report = JSON.parse(fs.readFileSync(path.join(results, files[0]!), 'utf8')) as Report

  t.equal(report.tool, 'crm-bench')
  t.match(report.loadGenerator, /^autocannon \d/)
  t.match(report.dbCeilingMethod, /raw pg/)
  t.ok(report.machine.cpus >= 1 && report.machine.cpuList.length === report.machine.cpus, 'machine: cpus')
  t.equal(report.machine.node, process.version)
  t.match(report.options, { organizations: 300, connections: 4, durationS: 1 })
  t.same(report.options.only, ['http-ceiling', 'a', 'c', 'c2', 'd', 'db-ceiling', 'db-latency', 'b', 'f', 'e', 'prisma'])
  t.match(report.dataset, { action: 'reused', organizations: 300, layout: 'clustered' })
  t.ok(report.member.organizations > 0, 'a member with organizations')
  t.equal(report.runs.length, 1)

  for (const key of ['http-ceiling', 'a', 'b', 'c', 'c2', 'd', 'e', 'db-ceiling']) {
    const s = report.median[key]
    t.ok(s !== undefined, `${key} measured`)
    if (s === undefined) continue
    t.ok(s.reqPerSec > 0 && s.latencyMs.count > 0, `${key}: requests answered`)
    t.ok(s.latencyMs.p50 > 0 && s.latencyMs.p99 >= s.latencyMs.p50, `${key}: p50 and p99`)
    t.equal(s.errors, 0, `${key}: no errors`)
    t.equal(s.non2xx, 0, `${key}: no non-2xx`)
  }
  if (process.platform === 'linux') {
    // Where the machine's CPU went: the service is a node process, and it did the work of (a).
    const cpu = (report.median.a as Scenario & { cpu?: { perRequestUs: Record<string, number>, idlePercent: number } }).cpu
    t.ok(cpu !== undefined && (cpu.perRequestUs.node ?? 0) > 0 && cpu.idlePercent >= 0 && cpu.idlePercent <= 100, `(a): CPU per request by program (${JSON.stringify(cpu)})`)
    t.match(full.stdout, /a: .*CPU per request: .*node [\d.]+ µs.*; machine idle [\d.]+ %, steal [\d.]+ %/, 'and the report prints it')
  }
  t.equal(report.median.a!.ceiling, 'http-ceiling')
  t.equal(report.median.b!.ceiling, 'db-ceiling')
  for (const key of ['a', 'b', 'c', 'd']) t.type(report.median[key]!.ratio, 'number', `${key}: a ratio to its ceiling`)
  // (A Redis command timing out on a loaded machine answers BYPASS: not asserted either way.)
  t.ok((report.median.a!.xCache?.HIT ?? 0) > 0 && report.median.a!.xCache?.MISS === undefined, '(a) is served from the cache')
  t.ok((report.median.b!.xCache?.MISS ?? 0) > 0 && report.median.b!.xCache?.HIT === undefined, '(b) never hits the cache')
  t.ok((report.median.c2!.xCache?.MISS ?? 0) > 0 && report.median.c2!.xCache?.HIT === undefined, '(c2) never hits the cache')
  t.same(report.targets.map((x) => x.id), ['b-ratio', 'b-p50', 'a-ratio', 'c-ratio', 'd-ratio', 'no-errors', 'b-all-miss', 'db-ceiling', 'db-single-p50'])
  t.ok(report.median['db-latency'].statements.length === 2, 'the single-client figures are in the full run too')
  const walks = (report.median.f as unknown as { walks: Array<{ who: string, pages: number, rows: number, pagesPerSecond: number }> }).walks
  t.same(walks.map((w) => w.who.split(' ')[0]), ['member', 'admin'], '(f) walks a member\'s and the admin\'s list')
  const { n: live } = (await withClient(db.url, async (client) => (await client.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM organizations WHERE NOT is_deleted')).rows[0]!))
  t.equal(walks[1]!.rows, live, '(f): the admin\'s walk by cursor reads every live organization once')
  t.ok(walks.every((w) => w.pages >= 1 && w.pagesPerSecond > 0), '(f): pages per second')
  t.match(full.stdout, /\(f\) cursor walk, limit 200:/)
  t.equal(report.targets.find((x) => x.id === 'no-errors')!.pass, true)

  const prisma = report.median.prisma
  t.ok(prisma.consistent, 'the Prisma, $queryRaw and pg variants read the same counts')
  t.same([...new Set(prisma.variants.map((v) => v.group))], ['org by id', 'auth user by id'])
  t.ok(prisma.variants.every((v) => v.sequential.opsPerSec > 0 && v.concurrent.opsPerSec > 0 && v.ratio.sequential > 0), 'every variant measured')

  // The write mix left nothing behind.
  await withClient(db.url, async (client) => {
    const { rows } = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM interactions WHERE subject = 'bench write mix'")
    t.equal(rows[0]!.n, 0, 'the write mix\'s interactions were deleted')
  })

  // wrk when installed (.ci/run installs it), else autocannon, and which one is said; a CPU profile of (a).
  fs.rmSync(path.join(results, files[0]!))
  const wrk = wrkVersion()
  const profiled = await bench([...common, '--only', 'http-ceiling,a', '--server', 'ts', '--profile', '--profile-scenario', 'a'])
  t.equal(profiled.status, 0, outcome(profiled))
  const second = JSON.parse(fs.readFileSync(path.join(results, fs.readdirSync(results).find((f) => f.endsWith('.json'))!), 'utf8')) as Report & {
    profile: {
      scenario: string,
      file: string,
      busyMs: number,
      measuredOnly: boolean
      byPackage: Array<{ name: string, share: number }>,
      nativeCallers: Array<{ native: string, callers: unknown[] }>
    }
  }
  if (wrk === undefined) {
    t.match(profiled.stdout, /load generator: autocannon [\d.]+ \(in process; wrk is not installed\)/)
    t.match(second.loadGenerator, /^autocannon \d/)
  } else {
    t.match(profiled.stdout, /load generator: wrk /)
    t.equal(second.loadGenerator, wrk)
    t.equal((second.median.a as Scenario & { tool: string }).tool, 'wrk')
    t.ok((second.median.a!.xCache?.HIT ?? 0) > 0 && second.median.a!.xCache?.MISS === undefined, '(a) hits, counted from the service\'s cache counters')
  }
  t.equal(second.median.a!.non2xx, 0)
  const aBytes = (second.median.a as Scenario & { bytesPerResponse: number }).bytesPerResponse
  const ceilingBytes = (second.median['http-ceiling'] as Scenario & { bytesPerResponse: number }).bytesPerResponse
  t.ok(aBytes < ceilingBytes, `(a) asks for gzip, deflate, br and gets a compressed body (${aBytes} bytes a response, ${ceilingBytes} uncompressed)`)
  t.match(profiled.stdout, /CPU profile of the service during \(a\)/)
  t.match(profiled.stdout, /self time by package/)
  t.equal(second.profile.scenario, 'a')
  t.ok(fs.existsSync(second.profile.file) && second.profile.file.endsWith('.cpuprofile'), 'the .cpuprofile is kept')
  t.ok(second.profile.busyMs > 0 && second.profile.byPackage.length > 0, 'top entries by package')
  t.ok(second.profile.measuredOnly, 'the samples are cut to the measured run (no start-up, no warm-up)')
  t.match(path.basename(second.profile.file), /^CPU\.\d+\.\d+\.\d+\.0\./, 'the main thread\'s profile, not a worker thread\'s')
  t.ok(second.profile.nativeCallers.every((n) => n.callers.length > 0), 'each costly native function names its callers')
  t.ok(second.profile.byPackage.some((p) => p.name.startsWith('node:')), 'Node.js modules grouped as node:…')
  t.ok(second.profile.byPackage.every((p) => !p.name.includes('node_modules')), 'packages named by package, not by path')
  t.ok(second.profile.byPackage.reduce((sum, p) => sum + p.share, 0) <= 1.0001, 'shares of one total')
})
