// Applies prisma/migrations the way `prisma migrate deploy` does, for machines
// where Prisma's schema-engine binary cannot be downloaded. Both tools share
// one bookkeeping table (_prisma_migrations), lock and checksum, so either can
// take over from the other on the same database.
import { createHash, randomUUID } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import pg from 'pg'
import { MIGRATIONS_DIR } from './paths'

/** The advisory lock key Prisma's schema engine takes around migrations. */
export const PRISMA_MIGRATION_LOCK_KEY = 72707369

export interface MigrateOptions {
  connectionString: string
  migrationsDir?: string
  /** How long to wait for another runner's lock (Prisma: 10 s, then P1002). */
  lockTimeoutMs?: number
  ssl?: pg.ClientConfig['ssl']
  log?: (line: string) => void
}

export interface MigrateResult {
  applied: string[]
  alreadyApplied: string[]
}

export class MigrationError extends Error {
  constructor (message: string, readonly code: string) {
    super(message)
    this.name = 'MigrationError'
  }
}

interface LocalMigration { name: string; script: string; checksum: string }

interface AppliedRow {
  migration_name: string
  checksum: string
  finished_at: Date | null
  rolled_back_at: Date | null
}

// Prisma's own DDL for the bookkeeping table.
const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id"                  VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum"            VARCHAR(64) NOT NULL,
  "finished_at"         TIMESTAMPTZ,
  "migration_name"      VARCHAR(255) NOT NULL,
  "logs"                TEXT,
  "rolled_back_at"      TIMESTAMPTZ,
  "started_at"          TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`

/** sha256 hex of the file's bytes, as Prisma records it. */
export function migrationChecksum (script: string | Buffer): string {
  return createHash('sha256').update(script).digest('hex')
}

// The SQL that actually runs: comments and dollar-quoted bodies removed (a
// function body may mention CONCURRENTLY without needing anything special).
function executableSql (script: string): string {
  return script
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/--[^\n]*/g, ' ')
    .replace(/\$([A-Za-z_]*)\$[\s\S]*?\$\1\$/g, "''")
}

/**
 * CREATE/DROP INDEX CONCURRENTLY, REINDEX ... CONCURRENTLY and DETACH
 * PARTITION ... CONCURRENTLY refuse to run inside a transaction block, and so
 * does a procedure that commits (an online backfill in batches), called by a
 * script whose only statement is a CALL.
 */
export function needsNoTransaction (script: string): boolean {
  const sql = executableSql(script)
  return /\b(INDEX|TABLE|SCHEMA|DATABASE|SYSTEM|PARTITION\s+\S+)\s+CONCURRENTLY\b/i.test(sql) || /^\s*CALL\b/i.test(sql)
}

/** Statements in the script, roughly (semicolons outside strings and bodies). */
export function countStatements (script: string): number {
  return executableSql(script).replace(/'(?:[^']|'')*'/g, "''").split(';').filter((s) => s.trim() !== '').length
}

export async function readMigrations (dir: string): Promise<LocalMigration[]> {
  const entries = await readdir(dir, { withFileTypes: true })
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort()
  const migrations: LocalMigration[] = []
  for (const name of names) {
    let bytes: Buffer
    try {
      bytes = await readFile(path.join(dir, name, 'migration.sql'))
    } catch {
      continue // Prisma ignores folders without a migration.sql as well
    }
    migrations.push({ name, script: bytes.toString('utf8'), checksum: migrationChecksum(bytes) })
  }
  return migrations
}

export async function applyMigrations (options: MigrateOptions): Promise<MigrateResult> {
  const log = options.log ?? (() => {})
  const local = await readMigrations(options.migrationsDir ?? MIGRATIONS_DIR)
  const client = new pg.Client({ connectionString: options.connectionString, ssl: options.ssl })
  client.on('error', () => {}) // a lost connection rejects the next query, which reports it
  await client.connect()
  // A failed DDL must not leave the session inside an aborted transaction
  // when we record the failure, hence explicit BEGIN/ROLLBACK below.
  try {
    await acquireLock(client, options.lockTimeoutMs ?? 10_000)
    try {
      return await applyPending(client, local, log)
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATION_LOCK_KEY])
    }
  } finally {
    await client.end()
  }
}

// Polls pg_try_advisory_lock rather than blocking in pg_advisory_lock: a
// session blocked in that call holds a snapshot, and CREATE INDEX
// CONCURRENTLY run by the lock holder waits for every older snapshot to end
// — the two would deadlock. Between polls this session is idle.
async function acquireLock (client: pg.Client, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (let wait = 25; ; wait = Math.min(wait * 2, 500)) {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [PRISMA_MIGRATION_LOCK_KEY])
    if (rows[0]?.locked === true) return
    if (Date.now() >= deadline) {
      throw new MigrationError(
        `Timed out after ${timeoutMs} ms waiting for the migration lock (pg_advisory_lock(${PRISMA_MIGRATION_LOCK_KEY})): another migration is running`,
        'P1002')
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(wait, Math.max(1, deadline - Date.now()))))
  }
}

async function applyPending (client: pg.Client, local: LocalMigration[], log: (line: string) => void): Promise<MigrateResult> {
  await client.query(CREATE_MIGRATIONS_TABLE)
  const { rows } = await client.query<AppliedRow>(
    'SELECT migration_name, checksum, finished_at, rolled_back_at FROM _prisma_migrations ORDER BY started_at, migration_name')

  const failed = rows.find((r) => r.finished_at === null && r.rolled_back_at === null)
  if (failed !== undefined) {
    throw new MigrationError(
      `Migration ${failed.migration_name} failed earlier and is not resolved; fix the database, then mark it rolled back or applied (prisma migrate resolve) before migrating again`,
      'P3009')
  }

  const applied = new Map<string, AppliedRow>()
  for (const row of rows) {
    if (row.finished_at !== null && row.rolled_back_at === null) applied.set(row.migration_name, row)
  }
  const localNames = new Set(local.map((m) => m.name))
  for (const name of applied.keys()) {
    if (!localNames.has(name)) log(`warning: migration ${name} is applied to the database but missing from the migrations folder`)
  }
  for (const migration of local) {
    const row = applied.get(migration.name)
    if (row !== undefined && row.checksum !== migration.checksum) {
      throw new MigrationError(
        `Migration ${migration.name} was modified after it was applied (checksum ${migration.checksum} != recorded ${row.checksum}); add a new migration instead of editing an applied one`,
        'CHECKSUM_MISMATCH')
    }
  }

  const result: MigrateResult = { applied: [], alreadyApplied: [] }
  for (const migration of local) {
    if (applied.has(migration.name)) {
      result.alreadyApplied.push(migration.name)
      continue
    }
    await applyOne(client, migration, log)
    result.applied.push(migration.name)
  }
  if (result.applied.length === 0) log(`database is up to date (${result.alreadyApplied.length} migrations)`)
  return result
}

async function applyOne (client: pg.Client, migration: LocalMigration, log: (line: string) => void): Promise<void> {
  const id = randomUUID()
  const started = Date.now()
  // Recorded before running, so a crash mid-way leaves a visible failed row (as Prisma does).
  await client.query(
    'INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, applied_steps_count) VALUES ($1, $2, $3, now(), 0)',
    [id, migration.checksum, migration.name])
  const outsideTransaction = needsNoTransaction(migration.script)
  try {
    if (outsideTransaction) {
      // Several statements in one query would run as one implicit transaction and fail.
      if (countStatements(migration.script) !== 1) {
        throw new Error('a migration that runs CONCURRENTLY must hold exactly one statement; split it into its own migration')
      }
      await client.query(migration.script)
      await assertNoInvalidIndexes(client)
    } else {
      await client.query('BEGIN')
      try {
        await client.query(migration.script)
        await client.query('COMMIT')
      } catch (err) {
        await client.query('ROLLBACK')
        throw err
      }
    }
  } catch (err) {
    const message = (err as Error).message
    await client.query('UPDATE _prisma_migrations SET logs = $2 WHERE id = $1', [id, message])
    throw new MigrationError(`Migration ${migration.name} failed: ${message}`, 'P3018')
  }
  await client.query('UPDATE _prisma_migrations SET finished_at = now(), applied_steps_count = 1 WHERE id = $1', [id])
  log(`applied ${migration.name} in ${Date.now() - started} ms${outsideTransaction ? ' (outside a transaction)' : ''}`)
}

// A CREATE INDEX CONCURRENTLY that fails part-way leaves an INVALID index
// behind that the planner never uses; treat that as a failed migration.
async function assertNoInvalidIndexes (client: pg.Client): Promise<void> {
  const { rows } = await client.query<{ name: string }>(`
    SELECT c.relname AS name
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT i.indisvalid AND n.nspname = current_schema()`)
  if (rows.length > 0) throw new Error(`invalid index(es) left behind: ${rows.map((r) => r.name).join(', ')}`)
}
