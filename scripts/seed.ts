// npm run db:seed -- --organizations N [--seed S] [--now YYYY-MM-DD] [--reset]
// Fills the database with reproducible demo data (see services/seed-data.ts).
// Exit codes: 0 done, 1 refused or failed, 2 bad arguments.
import { parseArgs } from 'node:util'
import pg from 'pg'
import { ConfigError, loadConfig } from '../lib/config'
import { resolveDatabase } from '../lib/database-url'
import { seedDatabase, SeedRefusedError } from '../services/seed-data'

const USAGE = 'usage: npm run db:seed -- [--organizations N] [--seed S] [--now YYYY-MM-DD] [--reset]'

export interface SeedArgs {
  organizations: number
  seed: number
  now: Date
  reset: boolean
}

export class UsageError extends Error {}

function integer(name: string, value: string, min: number, max: number): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`)
  }
  return n
}

function isoDate(name: string, value: string): Date {
  const date = new Date(`${value}T00:00:00Z`)
  // The round trip rejects impossible days such as 2025-02-30.
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== value) {
    throw new UsageError(`--${name} must be a date YYYY-MM-DD, got ${JSON.stringify(value)}`)
  }
  return date
}

export function parseSeedArgs(argv: string[]): SeedArgs {
  let values
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        organizations: { type: 'string', default: '1000' },
        seed: { type: 'string', default: '1' },
        now: { type: 'string' },
        reset: { type: 'boolean', default: false }
      },
      strict: true,
      allowPositionals: false
    }))
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  return {
    // 100 M keeps every derived row key (n * 32 + k) and run time sane.
    organizations: integer('organizations', values.organizations, 1, 100_000_000),
    seed: integer('seed', values.seed, 0, 2 ** 31 - 1),
    now: values.now === undefined ? isoDate('now', new Date().toISOString().slice(0, 10)) : isoDate('now', values.now),
    reset: values.reset
  }
}

async function main(): Promise<number> {
  let args: SeedArgs
  try {
    args = parseSeedArgs(process.argv.slice(2))
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    console.error(`db:seed: ${err.message}\n${USAGE}`)
    return 2
  }
  // DATABASE_URL, or the embedded database (migrated first, as `npm start` does) when it is unset.
  const config = loadConfig(process.env)
  const database = await resolveDatabase(config, (line) => console.log(line), { migrate: config.migrateOnStart })
  // One connection: the seed is a single transaction. No query timeout.
  const client = new pg.Client({ connectionString: database.url, ssl: config.database.ssl })
  await client.connect()
  try {
    console.log(`seeding ${args.organizations} organizations, seed ${args.seed}, as of ${args.now.toISOString().slice(0, 10)}`)
    const { rows, seconds } = await seedDatabase(client, { ...args, log: (line) => console.log(line) })
    for (const [table, count] of Object.entries(rows)) console.log(`${table.padEnd(14)} ${count}`)
    console.log(`done in ${seconds.toFixed(1)} s`)
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
