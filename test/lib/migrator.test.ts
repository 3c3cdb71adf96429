import { cp, mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import pg from 'pg'
import {
  applyMigrations, migrationChecksum, MigrationError, needsNoTransaction,
  PRISMA_MIGRATION_LOCK_KEY, readMigrations
} from '../../src/lib/migrator'
import { MIGRATIONS_DIR } from '../../src/lib/paths'
import { createEmptyDatabase, withClient } from '../helpers/database'

const SEED_INDEXES = [
  'idx_organizations_assigned_user_active',
  'idx_organizations_priority_created',
  'idx_organizations_industry_priority',
  'idx_organizations_name_search',
  'idx_organizations_filters'
]

async function copyMigrations (): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crm-migrations-'))
  await cp(MIGRATIONS_DIR, dir, { recursive: true })
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  return dir
}

interface Row {
  migration_name: string
  checksum: string
  finished_at: Date | null
  applied_steps_count: number
  logs: string | null
  rolled_back_at: Date | null
}

async function bookkeeping (url: string): Promise<Row[]> {
  return await withClient(url, async (c) => (await c.query<Row>(
    'SELECT migration_name, checksum, finished_at, applied_steps_count, logs, rolled_back_at FROM _prisma_migrations ORDER BY migration_name')).rows)
}

t.test('fresh database: every migration applied, recorded as Prisma does, objects exist; second run is a no-op', async (t) => {
  const db = await createEmptyDatabase('migrate_fresh')
  t.teardown(db.drop)
  const local = await readMigrations(MIGRATIONS_DIR)
  t.ok(local.length >= 8, 'the project has its migrations')

  const first = await applyMigrations({ connectionString: db.url })
  t.same(first.applied, local.map((m) => m.name), 'all applied in folder order')
  t.same(first.alreadyApplied, [])

  const rows = await bookkeeping(db.url)
  t.equal(rows.length, local.length)
  for (const [i, row] of rows.entries()) {
    const file = await readFile(path.join(MIGRATIONS_DIR, row.migration_name, 'migration.sql'))
    t.equal(row.migration_name, local[i]?.name)
    t.match(row.checksum, /^[0-9a-f]{64}$/)
    t.equal(row.checksum, migrationChecksum(file), `${row.migration_name}: checksum is sha256 of migration.sql`)
    t.ok(row.finished_at instanceof Date, `${row.migration_name}: finished_at set`)
    t.equal(row.applied_steps_count, 1)
    t.equal(row.rolled_back_at, null)
  }

  await withClient(db.url, async (c) => {
    const tables = (await c.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1")).rows.map((r) => r.table_name)
    t.same(tables, ['_prisma_migrations', 'contacts', 'interactions', 'opportunities', 'organization_counters', 'organization_interaction_days', 'organizations', 'users'])
    const enums = (await c.query<{ typname: string }>("SELECT typname FROM pg_type WHERE typtype = 'e' ORDER BY 1")).rows.map((r) => r.typname)
    t.same(enums, ['interaction_type', 'opportunity_stage', 'priority_level'])
    const indexes = (await c.query<{ name: string; valid: boolean }>(`
      SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE c.relname = ANY($1)`, [SEED_INDEXES])).rows
    t.same(indexes.map((r) => r.name).sort(), [...SEED_INDEXES].sort(), 'the seed\'s five indexes exist')
    t.ok(indexes.every((r) => r.valid), 'and all are valid')
    const fn = await c.query("SELECT pg_get_function_identity_arguments('get_organizations_optimized'::regproc) AS args")
    t.match(fn.rows[0].args, /p_user_id uuid, p_industry_segment character varying, p_priority_level priority_level, p_search_term character varying, p_limit integer, p_offset integer/)
    const mv = await c.query("SELECT 1 FROM pg_matviews WHERE matviewname = 'dashboard_analytics'")
    t.equal(mv.rowCount, 1, 'dashboard view exists')
    await c.query('SELECT refresh_dashboard_analytics()')
  })

  const second = await applyMigrations({ connectionString: db.url })
  t.same(second.applied, [], 'second run applies nothing')
  t.equal(second.alreadyApplied.length, local.length)
  t.equal((await bookkeeping(db.url)).length, local.length, 'and records nothing new')
})

t.test('CONCURRENTLY migrations run outside a transaction; function bodies mentioning it do not', async (t) => {
  t.ok(needsNoTransaction('CREATE INDEX CONCURRENTLY x ON t (a);'))
  t.ok(needsNoTransaction('-- note\nDROP INDEX CONCURRENTLY x;'))
  t.notOk(needsNoTransaction('-- CREATE INDEX CONCURRENTLY in a comment\nCREATE INDEX x ON t (a);'))
  t.notOk(needsNoTransaction('CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN REFRESH MATERIALIZED VIEW CONCURRENTLY v; END $$;'))

  const dir = await copyMigrations()
  const db = await createEmptyDatabase('migrate_concurrently')
  t.teardown(db.drop)
  await applyMigrations({ connectionString: db.url, migrationsDir: dir })
  // A two-statement CONCURRENTLY migration would run as one implicit transaction: refused with a clear message.
  await mkdir(path.join(dir, '20991231000000_two_statements'))
  await writeFile(path.join(dir, '20991231000000_two_statements', 'migration.sql'),
    'CREATE INDEX CONCURRENTLY idx_a ON contacts (email);\nCREATE INDEX CONCURRENTLY idx_b ON contacts (phone);\n')
  await t.rejects(applyMigrations({ connectionString: db.url, migrationsDir: dir }), /exactly one statement/)
})

t.test('a migration that is one CALL runs outside a transaction, so its procedure may commit in batches', async (t) => {
  t.ok(needsNoTransaction('-- backfill\nCALL organization_counters_backfill(1000);'))
  t.notOk(needsNoTransaction('CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN CALL q(); END $$;'))
  const dir = await copyMigrations()
  const db = await createEmptyDatabase('migrate_call')
  t.teardown(db.drop)
  await applyMigrations({ connectionString: db.url, migrationsDir: dir })
  await mkdir(path.join(dir, '20991231000000_procedure'))
  await writeFile(path.join(dir, '20991231000000_procedure', 'migration.sql'), `
    CREATE TABLE batches (n int, at_xid xid8);
    CREATE PROCEDURE fill() LANGUAGE plpgsql AS $$
    BEGIN
      FOR i IN 1..3 LOOP INSERT INTO batches VALUES (i, pg_current_xact_id()); COMMIT; END LOOP;
    END $$;`)
  await mkdir(path.join(dir, '20991231000001_call'))
  await writeFile(path.join(dir, '20991231000001_call', 'migration.sql'), '-- commits after each batch\nCALL fill();\n')
  const result = await applyMigrations({ connectionString: db.url, migrationsDir: dir })
  t.same(result.applied, ['20991231000000_procedure', '20991231000001_call'])
  await withClient(db.url, async (c) => {
    const { rows } = await c.query<{ n: string }>('SELECT count(DISTINCT at_xid)::int AS n FROM batches')
    t.equal(Number(rows[0]!.n), 3, 'three batches, three transactions')
  })
})

t.test('refuses to continue when an applied migration was modified (checksum mismatch)', async (t) => {
  const dir = await copyMigrations()
  const db = await createEmptyDatabase('migrate_checksum')
  t.teardown(db.drop)
  await applyMigrations({ connectionString: db.url, migrationsDir: dir })
  const file = path.join(dir, '20261124000700_get_organizations_optimized', 'migration.sql')
  await writeFile(file, (await readFile(file, 'utf8')) + '\n-- edited after being applied\n')
  // A new migration after it must not be applied either.
  await mkdir(path.join(dir, '20991231000000_add_column'))
  await writeFile(path.join(dir, '20991231000000_add_column', 'migration.sql'), 'ALTER TABLE users ADD COLUMN nickname text;\n')

  const err = await applyMigrations({ connectionString: db.url, migrationsDir: dir }).catch((e: unknown) => e)
  t.ok(err instanceof MigrationError)
  t.equal((err as MigrationError).code, 'CHECKSUM_MISMATCH')
  t.match((err as Error).message, /20261124000700_get_organizations_optimized was modified/)
  await withClient(db.url, async (c) => {
    const col = await c.query("SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'nickname'")
    t.equal(col.rowCount, 0, 'the pending migration was not applied')
  })
})

t.test('a failed migration is recorded, rolled back, and blocks later runs until resolved', async (t) => {
  const dir = await copyMigrations()
  const db = await createEmptyDatabase('migrate_failed')
  t.teardown(db.drop)
  await applyMigrations({ connectionString: db.url, migrationsDir: dir })
  await mkdir(path.join(dir, '20991231000000_broken'))
  await writeFile(path.join(dir, '20991231000000_broken', 'migration.sql'),
    'CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;\n')

  const err = await applyMigrations({ connectionString: db.url, migrationsDir: dir }).catch((e: unknown) => e)
  t.ok(err instanceof MigrationError)
  t.equal((err as MigrationError).code, 'P3018')
  t.match((err as Error).message, /no_such_table/)

  const rows = await bookkeeping(db.url)
  const broken = rows.find((r) => r.migration_name === '20991231000000_broken')
  t.ok(broken, 'failure recorded in _prisma_migrations')
  t.equal(broken?.finished_at, null)
  t.equal(broken?.applied_steps_count, 0)
  t.match(broken?.logs ?? '', /no_such_table/)
  await withClient(db.url, async (c) => {
    t.equal((await c.query("SELECT to_regclass('half_done') AS t")).rows[0].t, null, 'its first statement was rolled back')
  })

  // Fixing the file is not enough: the failed row must be resolved first, as with Prisma (P3009).
  await writeFile(path.join(dir, '20991231000000_broken', 'migration.sql'), 'CREATE TABLE half_done (id int);\n')
  const again = await applyMigrations({ connectionString: db.url, migrationsDir: dir }).catch((e: unknown) => e)
  t.equal((again as MigrationError).code, 'P3009')

  // `prisma migrate resolve --rolled-back` sets rolled_back_at; then it applies.
  await withClient(db.url, async (c) => {
    await c.query("UPDATE _prisma_migrations SET rolled_back_at = now() WHERE migration_name = '20991231000000_broken'")
  })
  const resolved = await applyMigrations({ connectionString: db.url, migrationsDir: dir })
  t.same(resolved.applied, ['20991231000000_broken'])
  await withClient(db.url, async (c) => {
    t.not((await c.query("SELECT to_regclass('half_done') AS t")).rows[0].t, null, 'applied after resolve')
  })
})

t.test('takes Prisma\'s advisory lock: waits for it, times out with P1002, and two runners never interleave', async (t) => {
  const db = await createEmptyDatabase('migrate_lock')
  t.teardown(db.drop)

  const holder = new pg.Client({ connectionString: db.url })
  holder.on('error', () => {})
  await holder.connect()
  await holder.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATION_LOCK_KEY])
  const err = await applyMigrations({ connectionString: db.url, lockTimeoutMs: 300 }).catch((e: unknown) => e)
  t.equal((err as MigrationError).code, 'P1002')
  await withClient(db.url, async (c) => {
    t.equal((await c.query("SELECT to_regclass('organizations') AS t")).rows[0].t, null, 'nothing applied without the lock')
  })
  await holder.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATION_LOCK_KEY])
  await holder.end()

  const [a, b] = await Promise.all([
    applyMigrations({ connectionString: db.url }),
    applyMigrations({ connectionString: db.url })
  ])
  const local = await readMigrations(MIGRATIONS_DIR)
  t.equal(a.applied.length + b.applied.length, local.length, 'each migration applied by exactly one runner')
  t.ok(a.applied.length === 0 || b.applied.length === 0, 'the second runner waited for the first to finish')
  const rows = await bookkeeping(db.url)
  t.equal(rows.length, local.length, 'one row per migration')
  t.ok(rows.every((r) => r.finished_at !== null))
  await withClient(db.url, async (c) => {
    // This database's lock only: other test files migrate their own databases at the same time.
    const held = await c.query(`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = $1
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, [PRISMA_MIGRATION_LOCK_KEY])
    t.equal(held.rowCount, 0, 'the lock is released afterwards')
  })
})
