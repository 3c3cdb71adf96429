// npm run db:migrate — applies pending prisma/migrations (see src/lib/migrator.ts)
// to DATABASE_DIRECT_URL or DATABASE_URL, or to the embedded PostgreSQL when both are unset.
// Exit codes: 0 done, 1 failed, 2 bad arguments (it takes none but --help).
import { ConfigError, loadMigrationConfig } from '../lib/config'
import { migrationUrl, resolveDatabase } from '../lib/database-url'
import { applyMigrations, MigrationError } from '../lib/migrator'
import { parseArgs } from 'node:util'

const USAGE = 'usage: npm run db:migrate   (applies pending migrations to DATABASE_DIRECT_URL or DATABASE_URL, or to the embedded database when it is unset)'

async function main (): Promise<number> {
  // Shipped in the image, so it parses its one flag itself rather than with the tooling's scripts/lib/args.
  let help: boolean | undefined
  try {
    help = parseArgs({ args: process.argv.slice(2), options: { help: { type: 'boolean', short: 'h' } }, strict: true }).values.help
  } catch (err) {
    process.stderr.write(`db:migrate: ${(err as Error).message}\n${USAGE}\n`)
    return 2
  }
  if (help === true) {
    process.stderr.write(`${USAGE}\n`)
    return 0
  }
  // Only the database settings: no JWT_SECRET needed (the image's migration command runs without one).
  const config = loadMigrationConfig(process.env)
  const log = (line: string): void => { process.stdout.write(`${line}\n`) }
  // The migrations are this command's own work, reported below.
  const database = await resolveDatabase(config, log, { migrate: false })
  try {
    const result = await applyMigrations({ connectionString: migrationUrl(config.database, database.url), ssl: config.database.ssl, log })
    log(`${result.applied.length} applied, ${result.alreadyApplied.length} already applied`)
    return 0
  } finally {
    await database.stop()
  }
}

main().then((code) => process.exit(code), (err: unknown) => {
  const known = err instanceof MigrationError || err instanceof ConfigError
  process.stderr.write(`db:migrate failed: ${known ? (err as Error).message : (err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
