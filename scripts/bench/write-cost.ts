// npm run bench:write-cost -- [--organizations N] [--runs R] [--duration S] [--connections C]
//                             [--database-url URL] [--results-dir DIR] [--server dist|ts]
//
// What the counter triggers (migration 20261201000100) cost the write mix
// (e), in one run: the bench's database and a copy of it without those
// triggers (CREATE DATABASE … TEMPLATE, then DROP TRIGGER), the same built
// service, (e) against each in turn, R rounds whose order alternates so a
// noisy stretch of the shared machine hits both, and the medians. Issue 15
// allows the counters at most 10 % of (e)'s throughput.
//
// The copy is `<database>_no_counters`, made on every run and dropped at its
// end (TEMPLATE needs the source database without other sessions; the error
// says so). It carries the bench's seed comment, so main.ts reuses it
// without seeding.
// Each (e) is `main.ts --only e --runs 1 --skip-build`, which undoes its
// writes afterwards.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PROJECT_ROOT } from '../../src/lib/paths'
import { integer, parseOptions, usageExitCode } from '../lib/args'
import { nodeArgs, run } from '../lib/child-processes'
import { withClient } from '../lib/postgres'
import { buildService } from '../lib/service'
import { median } from '../lib/stats'
import { prepareDatabase } from './dataset'
import { parseBenchArgs, type BenchOptions } from './options'

const USAGE = 'usage: npm run bench:write-cost -- [--organizations N (100000)] [--runs R (3)] [--duration S (10)] [--connections C (32)] [--database-url URL] [--results-dir DIR] [--server dist (built first) | ts]'

interface Measured { reqPerSec: number; p50: number; p99: number; errors: number; non2xx: number }

/** The database URL with another database name. */
function renamed (url: string, name: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${name}`
  return parsed.toString()
}

/** A fresh copy of `source` without the counter triggers, marked as the bench's seed of that size. */
async function copyWithoutCounters (url: string, source: string, copy: string, organizations: number): Promise<void> {
  const { rows: [{ comment }] } = await withClient(url, async (c) => await c.query<{ comment: string | null }>(
    "SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = current_database()"))
  await withClient(renamed(url, 'postgres'), async (client) => {
    await client.query(`DROP DATABASE IF EXISTS "${copy}"`)
    try {
      await client.query(`CREATE DATABASE "${copy}" TEMPLATE "${source}"`)
    } catch (err) {
      throw new Error(`CREATE DATABASE ${copy} TEMPLATE ${source}: ${(err as Error).message} (stop the sessions on ${source}, e.g. a service started by hand, and run again)`)
    }
    await client.query(`COMMENT ON DATABASE "${copy}" IS '${(comment ?? `crm-bench organizations=${organizations} layout=live`).replace(/'/g, "''")}'`)
  })
  const dropped = await withClient(renamed(url, copy), async (client) => {
    // Every trigger whose function maintains the counters, whatever it is called.
    const { rows } = await client.query<{ drop: string }>(`
      SELECT format('DROP TRIGGER %I ON %s', t.tgname, t.tgrelid::regclass) AS drop
      FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
      WHERE NOT t.tgisinternal AND p.proname LIKE 'organization\\_counters\\_%'`)
    for (const row of rows) await client.query(row.drop)
    return rows.length
  })
  if (dropped === 0) throw new Error(`${copy}: no counter trigger found to drop`)
  console.log(`copied ${source} to ${copy} and dropped its ${dropped} counter triggers`)
}

async function writeMix (opts: BenchOptions, url: string, durationS: number, resultsDir: string): Promise<Measured> {
  const dir = fs.mkdtempSync(path.join(resultsDir, 'write-cost-'))
  try {
    await run(process.execPath, nodeArgs(path.join(__dirname, `main${path.extname(__filename)}`),
      ['--only', 'e', '--runs', '1', '--skip-build', '--server', opts.server, '--duration', String(durationS), '--connections', String(opts.connections),
        '--database-url', url, '--results-dir', dir]))
    const file = fs.readdirSync(dir).find((f) => f.endsWith('.json'))
    if (file === undefined) throw new Error('the (e) run wrote no JSON')
    const e = (JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as { median: { e: { reqPerSec: number; latencyMs: { p50: number; p99: number }; errors: number; non2xx: number } } }).median.e
    return { reqPerSec: e.reqPerSec, p50: e.latencyMs.p50, p99: e.latencyMs.p99, errors: e.errors, non2xx: e.non2xx }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** The command line, checked: any problem is a UsageError (exit 2 with the usage). */
function parse (argv: string[]): { opts: BenchOptions; runs: number; durationS: number } {
  const values = parseOptions(argv, {
    organizations: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    'database-url': { type: 'string' },
    'results-dir': { type: 'string' },
    server: { type: 'string', default: 'dist' }
  })
  const opts = parseBenchArgs(['--organizations', values.organizations, '--only', 'e', '--connections', values.connections, '--server', values.server,
    ...(values['database-url'] === undefined ? [] : ['--database-url', values['database-url']]),
    ...(values['results-dir'] === undefined ? [] : ['--results-dir', values['results-dir']])])
  return { opts, runs: integer('runs', values.runs, { min: 1, max: 50 }), durationS: integer('duration', values.duration, { min: 1, max: 600 }) }
}

async function main (): Promise<number> {
  let parsed
  try {
    parsed = parse(process.argv.slice(2))
  } catch (err) {
    return usageExitCode(err, 'bench:write-cost', USAGE)
  }
  const { opts, runs, durationS } = parsed
  const dataset = await prepareDatabase(opts)
  const copy = `${dataset.database}_no_counters`
  await copyWithoutCounters(opts.databaseUrl, dataset.database, copy, opts.organizations)
  try {
    await measure(opts, copy, runs, durationS)
  } finally {
    // Made again on every run: no reason to keep a copy of the data set around.
    await withClient(renamed(opts.databaseUrl, 'postgres'), async (client) => { await client.query(`DROP DATABASE IF EXISTS "${copy}"`) })
  }
  return 0
}

async function measure (opts: BenchOptions, copy: string, runs: number, durationS: number): Promise<void> {
  // The sources through ts-node (--server ts) need no build (the smoke test: another test may be building).
  if (opts.server === 'dist') await buildService()
  const resultsDir = opts.resultsDir
  fs.mkdirSync(resultsDir, { recursive: true })
  const targets = { counters: opts.databaseUrl, 'no counters': renamed(opts.databaseUrl, copy) }
  const measured: Record<keyof typeof targets, Measured[]> = { counters: [], 'no counters': [] }
  for (let i = 1; i <= runs; i++) {
    const order = (i % 2 === 1 ? ['counters', 'no counters'] : ['no counters', 'counters']) as Array<keyof typeof targets>
    for (const kind of order) {
      const m = await writeMix(opts, targets[kind], durationS, resultsDir)
      measured[kind].push(m)
      console.log(`round ${i}/${runs} ${kind.padEnd(11)} ${m.reqPerSec.toFixed(0)} req/s, p50 ${m.p50.toFixed(1)} ms, p99 ${m.p99.toFixed(1)} ms, ${m.errors} errors, ${m.non2xx} non-2xx`)
    }
  }
  const summary = Object.fromEntries(Object.entries(measured).map(([kind, list]) => [kind, {
    reqPerSec: median(list.map((m) => m.reqPerSec)),
    p50: median(list.map((m) => m.p50)),
    p99: median(list.map((m) => m.p99)),
    errors: list.reduce((n, m) => n + m.errors + m.non2xx, 0)
  }])) as Record<keyof typeof targets, { reqPerSec: number; p50: number; p99: number; errors: number }>
  const cost = 1 - summary.counters.reqPerSec / summary['no counters'].reqPerSec
  console.log(`\n(e) write mix, medians of ${runs} (${durationS} s each, ${opts.connections} connections):`)
  for (const [kind, s] of Object.entries(summary)) console.log(`  ${kind.padEnd(11)} ${s.reqPerSec.toFixed(0)} req/s, p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, ${s.errors} errors/non-2xx`)
  console.log(`  the counters cost ${(cost * 100).toFixed(1)} % of (e)'s throughput: ${cost <= 0.1 ? 'PASS' : 'FAIL'} (at most 10 %)`)
  const file = path.join(resultsDir, `write-cost-${opts.organizations}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  fs.writeFileSync(file, JSON.stringify({ tool: 'crm-bench write-cost', copy, runs, durationS, loadavg: os.loadavg(), measured, summary, cost }, null, 2))
  console.log(`written ${path.relative(PROJECT_ROOT, file)}`)
}

main().then((code) => { process.exitCode = code }, (err: unknown) => {
  process.stderr.write(`bench:write-cost: failed: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
})
