// npm run bench:replica, as a smoke test: a one-second mixed run and a few
// reads after writes on its own primary and replica. Only that it runs,
// reports what it promises and refuses a bad command line; no timing is
// asserted (speed is the benchmark's business).
import path from 'node:path'
import t from 'tap'
import { runScript, type ScriptRun } from '../helpers/app'

const ROOT = path.resolve(__dirname, '../..')
const SCRIPT = path.join(ROOT, 'scripts', 'bench', 'replica.ts')

async function run (args: string[]): Promise<ScriptRun> {
  return await runScript(SCRIPT, args)
}

t.test('a short run reports the replica share and the read after a write, healthy and paused', async (t) => {
  const result = await run(['--duration', '1', '--users', '2', '--organizations', '5', '--samples', '3'])
  t.equal(result.status, 0, result.stderr)
  t.match(result.stdout, /mixed \(2 members, 1 s, 1 write in 10\): \d+ req\/s, 0 errors; database reads: \d+ replica \/ \d+ primary = [\d.]+ % on the replica/)
  t.match(result.stdout, /read right after a write, replica healthy: p50 [\d.]+ ms, p99 [\d.]+ ms/)
  t.match(result.stdout, /read right after a write, replica paused: p50 [\d.]+ ms, p99 [\d.]+ ms \(0 from the replica, 3 from the primary\)/)
})

t.test('a bad command line: exit 2 with the usage', async (t) => {
  const result = await run(['--duration', 'soon'])
  t.equal(result.status, 2)
  t.match(result.stderr, /--duration/)
  t.match(result.stderr, /usage: npm run bench:replica/)
})
