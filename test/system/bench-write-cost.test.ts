// npm run bench:write-cost, as a smoke test: one round of one second on a
// tiny seeded database. Only that it copies the database without the counter
// triggers, runs (e) against both, reports and cleans up; no timing is
// asserted (speed is the benchmark's business). The service runs from the
// sources (--server ts): a build would race other test files' and put dist/
// in the coverage report.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { runScript, type ScriptRun } from '../helpers/app'
import { createEmptyDatabase, dropDatabase, withClient } from '../helpers/database'

const ROOT = path.resolve(__dirname, '../..')
const SCRIPT = path.join(ROOT, 'scripts', 'bench', 'write-cost.ts')

async function run (args: string[]): Promise<ScriptRun> {
  return await runScript(SCRIPT, args)
}

t.test('one round: (e) with and without the counter triggers, the cost, and no copy left', async (t) => {
  t.setTimeout(240_000)
  const db = await createEmptyDatabase('write_cost')
  t.teardown(db.drop)
  t.teardown(async () => await dropDatabase(`${db.name}_no_counters`))
  const results = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-write-cost-test-'))
  t.teardown(() => fs.rmSync(results, { recursive: true, force: true }))
  const result = await run(['--organizations', '300', '--runs', '1', '--duration', '1', '--connections', '4', '--database-url', db.url, '--results-dir', results, '--server', 'ts'])
  t.equal(result.status, 0, `${result.stdout.slice(-3000)}\n${result.stderr.slice(-3000)}`)
  t.match(result.stdout, /dropped its 14 counter triggers/)
  t.match(result.stdout, /round 1\/1 counters +\d+ req\/s, .*0 errors, 0 non-2xx/)
  t.match(result.stdout, /round 1\/1 no counters \d+ req\/s, .*0 errors, 0 non-2xx/)
  t.match(result.stdout, /the counters cost -?[\d.]+ % of \(e\)'s throughput: (PASS|FAIL)/)
  const [file] = fs.readdirSync(results).filter((f) => f.startsWith('write-cost-'))
  const report = JSON.parse(fs.readFileSync(path.join(results, file!), 'utf8')) as { runs: number; measured: Record<string, unknown[]>; cost: number }
  t.equal(report.runs, 1)
  t.same(Object.keys(report.measured).sort(), ['counters', 'no counters'])
  t.equal(typeof report.cost, 'number')
  const left = await withClient(db.url, async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [`${db.name}_no_counters`])).rowCount)
  t.equal(left, 0, 'the copy is dropped at the end')
  const triggers = await withClient(db.url, async (c) => (await c.query("SELECT 1 FROM pg_trigger WHERE tgname LIKE '%counters%'")).rowCount)
  t.equal(triggers, 14, 'the source keeps its counter triggers')
})

t.test('a bad command line: exit 2 with the usage', async (t) => {
  const result = await run(['--runs', 'many'])
  t.equal(result.status, 2)
  t.match(result.stderr, /--runs/)
  t.match(result.stderr, /usage: npm run bench:write-cost/)
})
