// npm run db:seed -- --organizations N [--seed S] [--now YYYY-MM-DD] [--layout clustered|live] [--reset]
// Fills the database with reproducible demo data (see seed-data.ts and
// statements.ts), then invalidates the response cache of services running on
// it (cache-epoch.ts): with REDIS_URL, their cached answers are gone at once.
// Exit codes: 0 done (also when Redis could not be reached: a warning says
// so), 1 refused or failed, 2 bad arguments.
import pg from 'pg'
import { ConfigError, loadConfig } from '../../src/lib/config'
import { resolveDatabase } from '../../src/lib/database-url'
import { integer, isoDate, oneOf, parseOptions, usageExitCode } from '../lib/args'
import { bumpCacheEpoch, describeInvalidation } from './cache-epoch'
import { seedDatabase, SeedRefusedError } from './seed-data'
import { SEED_LAYOUTS, type SeedLayout } from './statements'

const USAGE = 'usage: npm run db:seed -- [--organizations N] [--seed S] [--now YYYY-MM-DD] [--layout clustered|live] [--reset]'

export interface SeedArgs {
  organizations: number
  seed: number
  now: Date
  layout: SeedLayout
  reset: boolean
}

export function parseSeedArgs (argv: string[]): SeedArgs {
  const values = parseOptions(argv, {
    organizations: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    now: { type: 'string' },
    layout: { type: 'string', default: 'clustered' },
    reset: { type: 'boolean', default: false }
  })
  return {
    // 100 M keeps every derived row key (n * 32 + k) and run time sane.
    organizations: integer('organizations', values.organizations, { min: 1, max: 100_000_000 }),
    seed: integer('seed', values.seed, { min: 0, max: 2 ** 31 - 1 }),
    now: values.now === undefined ? isoDate('now', new Date().toISOString().slice(0, 10)) : isoDate('now', values.now),
    layout: oneOf('layout', values.layout, SEED_LAYOUTS),
    reset: values.reset
  }
}

async function main (): Promise<number> {
  let args: SeedArgs
  try {
    args = parseSeedArgs(process.argv.slice(2))
  } catch (err) {
    return usageExitCode(err, 'db:seed', USAGE)
  }
  // DATABASE_URL, or the embedded database (migrated first, as `npm start` does) when it is unset.
  const config = loadConfig(process.env)
  const database = await resolveDatabase(config, (line) => console.log(line), { migrate: config.migrateOnStart })
  // One connection: the seed is a single transaction. No query timeout.
  const client = new pg.Client({ connectionString: database.url, ssl: config.database.ssl })
  await client.connect()
  try {
    console.log(`seeding ${args.organizations} organizations, seed ${args.seed}, as of ${args.now.toISOString().slice(0, 10)}, layout ${args.layout}`)
    const { rows, seconds } = await seedDatabase(client, { ...args, log: (line) => console.log(line) })
    for (const [table, count] of Object.entries(rows)) console.log(`${table.padEnd(14)} ${count}`)
    console.log(`done in ${seconds.toFixed(1)} s`)
    // Committed: from now on a running service's cached answers describe rows that are gone.
    const { warning, line } = describeInvalidation(await bumpCacheEpoch(config), config.cacheTtlSeconds)
    if (warning) console.error(`db:seed: ${line}`)
    else console.log(line)
    return 0
  } catch (err) {
    console.error(`db:seed: ${err instanceof SeedRefusedError ? '' : 'failed: '}${(err as Error).message}`)
    return 1
  } finally {
    await client.end().catch(() => undefined)
    await database.stop()
  }
}

main().then((code) => { process.exitCode = code }, (err: unknown) => {
  console.error('db:seed: failed:', err instanceof ConfigError ? err.message : err)
  process.exitCode = 1
})
