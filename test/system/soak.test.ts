// npm run soak, as a smoke test: a few seconds of the mixed load against the
// real server (server.ts through ts-node: no build, which another test file
// may be running) on a tiny seeded database. No figure is asserted beyond
// "there is one": the soak's verdict over minutes is the soak's business.
// What is checked: it exits 0, every request answered 2xx, it reports and
// writes the memory figures it promises, the server exited 0 on SIGTERM, the
// scratch database is gone, and bad arguments exit 2.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { REDIS_URL, runScript, type ScriptRun } from '../helpers/app'
import { ADMIN_URL, withClient } from '../helpers/database'

const ROOT = path.resolve(__dirname, '../..')
const SCRIPT = path.join(ROOT, 'scripts', 'soak', 'main.ts')

/**
 * Runs the soak without blocking this process's event loop. `coverage: false`
 * leaves out tap's process-info hook (NODE_OPTIONS), which costs seconds per
 * start on a busy machine: for the argument checks, which never start anything.
 */
async function soak (args: string[], { coverage = true } = {}): Promise<ScriptRun> {
  const env = { ...process.env }
  if (!coverage) delete env.NODE_OPTIONS
  return await runScript(SCRIPT, args, env)
}

interface Latency { p50: number; p99: number; count: number }
interface Figures { start: number; afterWarmup: number; end: number; peak: number; growthPct: number }
interface Report {
  tool: string
  pass: boolean
  problems: string[]
  options: { minutes: number; warmupS: number; connections: number; users: number }
  dataset: { database: string; organizations: number; members: string[] }
  server: { shutdown: { code: number | null } }
  load: {
    requests: number;
    reads: number;
    writes: number;
    reqPerSec: number;
    failureCount: number
    latencyMs: Latency;
    statuses: Record<string, number>;
    byOperation: Record<string, { requests: number }>
  }
  minutes: Array<{ minute: number; requests: number; reqPerSec: number; latencyMs: Latency; failures: number }>
  memory: {
    rule: string
    heapUsed: Figures
    rss: Figures
    liveHeapAfterForcedGc: { readings: Array<{ atS: number; heapUsed: number }> }
    samples: Array<{ atS: number; heapUsed: number; rss: number }>
  }
}

t.test('bad arguments exit 2 with the usage', async (t) => {
  // Each case is a ts-node start (≈1.5 s of CPU): a few representative ones.
  const cases: Array<[string[], RegExp]> = [
    [['--minutes', '0', '--warmup-seconds', '0'], /--minutes must be a number above 0/],
    [['--users', '9', '--organizations', '5000'], /seeds 3 members; --users 9 needs 8/],
    [['--bogus'], /Unknown option '--bogus'/]
  ]
  const runs = await Promise.all(cases.map(async ([args]) => await soak(args, { coverage: false })))
  cases.forEach(([args, message], i) => {
    const run = runs[i]!
    t.equal(run.status, 2, `${args.join(' ')}: exit 2`)
    t.match(run.stderr, message, `${args.join(' ')}: says why`)
    t.match(run.stderr, /usage: npm run soak -- \[options\][\s\S]*--minutes M[\s\S]*--warmup-seconds S[\s\S]*--connections N[\s\S]*--users U[\s\S]*--database-url URL/)
    t.equal(run.stdout, '', 'nothing started')
  })
})

t.test('a short soak: real server, mixed load, memory report, clean exit', async (t) => {
  t.setTimeout(120_000)
  const results = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-soak-test-'))
  t.teardown(() => fs.rmSync(results, { recursive: true, force: true }))
  const run = await soak(['--minutes', '0.1', '--warmup-seconds', '2', '--users', '3', '--organizations', '1000', '--connections', '4',
    '--server', 'ts', '--database-url', ADMIN_URL, '--redis-url', REDIS_URL, '--results-dir', results])
  const output = `${run.stdout.slice(-4000)}\n${run.stderr.slice(-4000)}`
  t.equal(run.status, 0, `exit 0\n${output}`)
  t.match(run.stdout, /soak PASSED/)
  t.match(run.stdout, /minute +requests +req\/s +p50 ms +p99 ms +failures +heap floor MB +rss MB/)
  t.match(run.stdout, /requests: \d+ in [\d.]+ s = [\d.]+ req\/s; reads \d+ \([\d.]+ %\), writes \d+/)
  t.match(run.stdout, /latency: p50 [\d.]+ ms, p90 [\d.]+ ms, p99 [\d.]+ ms/)
  t.match(run.stdout, /failures: 0;/)
  t.match(run.stdout, /heapUsed +[\d.]+ +[\d.]+ +[\d.]+ +[\d.]+ +[+-][\d.]+ %/)
  t.match(run.stdout, /rss +[\d.]+ +[\d.]+ +[\d.]+ +[\d.]+ +[+-][\d.]+ %/)
  t.match(run.stdout, /shutdown: SIGTERM → exit 0/)
  t.match(run.stdout, /verdict: PASS/)

  const files = fs.readdirSync(results)
  t.equal(files.length, 1, 'one JSON file')
  t.match(files[0], /^soak-\d{4}-\d\d-\d\dT[\d-]+Z\.json$/)
  const report = JSON.parse(fs.readFileSync(path.join(results, files[0]!), 'utf8')) as Report
  t.equal(report.tool, 'crm-soak')
  t.equal(report.pass, true)
  t.same(report.problems, [])
  t.match(report.options, { minutes: 0.1, warmupS: 2, connections: 4, users: 3 })
  t.match(report.dataset, { organizations: 1000 })
  t.equal(report.dataset.members.length, 2, 'two members and the admin')
  t.equal(report.server.shutdown.code, 0, 'the server exited 0 on SIGTERM')

  const load = report.load
  t.ok(load.requests > 0 && load.reqPerSec > 0, 'requests were sent')
  t.equal(load.failureCount, 0, 'no failed request')
  t.ok(load.reads > 0 && load.writes > 0, 'reads and writes')
  t.equal(load.reads + load.writes, load.requests)
  t.ok(Object.keys(load.statuses).every((s) => s.startsWith('2')), `only 2xx: ${JSON.stringify(load.statuses)}`)
  t.ok(load.latencyMs.p50 > 0 && load.latencyMs.p99 >= load.latencyMs.p50, 'p50 and p99')
  t.ok(Object.keys(load.byOperation).length >= 3, 'several operations')
  t.equal(report.minutes.length, 1, 'one (partial) minute')
  t.match(report.minutes[0], { minute: 1, failures: 0 })
  t.equal(report.minutes[0]!.requests, load.requests)

  const { heapUsed, rss } = report.memory
  for (const [name, figures] of [['heapUsed', heapUsed], ['rss', rss]] as const) {
    for (const key of ['start', 'afterWarmup', 'end', 'peak'] as const) t.ok(figures[key] > 0, `${name}.${key}`)
    t.equal(typeof figures.growthPct, 'number', `${name}.growthPct`)
  }
  t.ok(heapUsed.growthPct <= 10, `heap floor growth ${heapUsed.growthPct} % within the default limit`)
  t.match(report.memory.rule, /min heapUsed/)
  t.ok(report.memory.samples.length >= 5, 'memory sampled during the run')
  const judged = report.memory.liveHeapAfterForcedGc.readings.filter((r) => r.atS > 0)
  t.ok(judged.length >= 2, 'a forced GC in each judged window')

  const left = await withClient(ADMIN_URL, async (client) =>
    (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [report.dataset.database])).rowCount)
  t.equal(left, 0, 'the scratch database was dropped')
})
