// npm run db:verify-counts [-- --fix] — compares every per-organization
// counter with a direct count (src/services/counters.ts) and, with --fix,
// repairs the drifted ones. Safe while the service runs. Lives in src/cli, not
// scripts/: it is an operator's tool for the production database, shipped in
// the image next to db:migrate.
// Exit codes: 0 no drift (or every drift repaired), 1 drift found without
// --fix or a repair that did not hold, or a failure; 2 bad arguments.
import { parseArgs } from 'node:util'
import pg from 'pg'
import { ConfigError, loadConfig } from '../lib/config'
import { resolveDatabase } from '../lib/database-url'
import { verifyCounters } from '../services/counters'

const USAGE = 'usage: npm run db:verify-counts [-- --fix] [--batch N]   (checks the organization counters of DATABASE_URL; --fix repairs drift)'
/** Drifts printed one per line; the rest are only counted. */
const LISTED = 100

async function main (): Promise<number> {
  let values: { fix?: boolean; batch?: string; help?: boolean }
  try {
    values = parseArgs({
      args: process.argv.slice(2),
      options: { fix: { type: 'boolean' }, batch: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true
    }).values
  } catch (err) {
    process.stderr.write(`db:verify-counts: ${(err as Error).message}\n${USAGE}\n`)
    return 2
  }
  if (values.help === true) {
    process.stderr.write(`${USAGE}\n`)
    return 0
  }
  const batch = values.batch === undefined ? 1000 : Number(values.batch)
  if (!Number.isInteger(batch) || batch < 1 || batch > 100_000) {
    process.stderr.write(`db:verify-counts: --batch must be an integer from 1 to 100000\n${USAGE}\n`)
    return 2
  }
  const config = loadConfig(process.env)
  const log = (line: string): void => { process.stdout.write(`${line}\n`) }
  const database = await resolveDatabase(config, log, { migrate: false })
  const client = new pg.Client({ connectionString: database.url, ssl: config.database.ssl, application_name: 'crm-service verify-counts' })
  try {
    await client.connect()
    let listed = 0
    const result = await verifyCounters(client, {
      fix: values.fix === true,
      batch,
      onDrift: (d) => { if (listed++ < LISTED) log(`drift: organization ${d.organizationId} ${d.counter}: stored ${d.stored}, actual ${d.actual}`) }
    })
    if (listed > LISTED) log(`... and ${listed - LISTED} more`)
    log(`checked ${result.organizations} organizations: ${result.drifts} drifted counters in ${result.driftedOrganizations} organizations` +
      (values.fix === true ? `, repaired ${result.repaired}, ${result.remaining} still drifted` : ''))
    if (result.drifts === 0) return 0
    return values.fix === true && result.remaining === 0 ? 0 : 1
  } finally {
    await client.end()
    await database.stop()
  }
}

main().then((code) => process.exit(code), (err: unknown) => {
  const known = err instanceof ConfigError
  process.stderr.write(`db:verify-counts failed: ${known ? (err as Error).message : (err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
