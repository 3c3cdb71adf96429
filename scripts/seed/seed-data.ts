// Demo/benchmark data generator (npm run db:seed): loads the statements of
// statements.ts into the five tables in one transaction.
import pg from 'pg'
import { q, seedStatements, type SeedLayout } from './statements'

export type SeedDb = pg.Pool | pg.Client | pg.PoolClient

export interface SeedOptions {
  organizations: number
  seed: number
  /** Data is generated "as of" 00:00 UTC of this date's UTC day. */
  now: Date
  /** TRUNCATE the five tables first; without it a non-empty target is refused. */
  reset: boolean
  /**
   * 'clustered' (default: fast test fixtures): each organization's children
   * on neighbouring pages, vacuumed after the load. 'live': children in
   * creation-time order over all organizations and no VACUUM, so the
   * visibility map is unset as on a table written all day (see statements.ts).
   */
  layout?: SeedLayout
  log: (line: string) => void
}

export interface SeedResult {
  rows: Record<string, number>
  seconds: number
}

/** The target already holds data and reset was not asked for. */
export class SeedRefusedError extends Error {
  override name = 'SeedRefusedError'
}

export const SEED_TABLES = ['users', 'organizations', 'contacts', 'interactions', 'opportunities'] as const
const CHUNK = 100_000 // organizations per statement; also the progress granularity

/**
 * Fill the five tables in one transaction. Secondary indexes and PK/FK
 * constraints of the five tables are dropped first and recreated from their
 * catalog definitions afterwards (bulk-load practice: one sort per index and
 * one join per foreign key instead of millions of random index insertions
 * and per-row FK trigger checks — keeping them made the load ~3x slower);
 * any failure rolls everything back, the indexes and constraints included.
 *
 * Pass a pool or a connected client without a client-side query_timeout:
 * single statements here run for tens of seconds at a million organizations.
 */
export async function seedDatabase (db: SeedDb, opts: SeedOptions): Promise<SeedResult> {
  const started = process.hrtime.bigint()
  const elapsed = (): number => Number(process.hrtime.bigint() - started) / 1e9
  const secs = (): string => `${elapsed().toFixed(1)} s`
  const client = db instanceof pg.Pool ? await db.connect() : db
  const rows: Record<string, number> = Object.fromEntries(SEED_TABLES.map((t) => [t, 0]))
  const layout = opts.layout ?? 'clustered'
  const sql = seedStatements(opts.organizations, opts.seed, opts.now, layout)
  const tables = SEED_TABLES.join(', ')

  try {
    await client.query('BEGIN')
    try {
      await client.query('SET LOCAL statement_timeout = 0')
      await client.query('SET LOCAL synchronous_commit = off')
      await client.query('SET LOCAL maintenance_work_mem = \'1GB\'')
      // Live: each child table is one statement sorted by creation time (~1 GB at 1 M organizations).
      await client.query(`SET LOCAL work_mem = '${layout === 'live' ? '1GB' : '256MB'}'`)
      // Nobody writes (or reads half a load) until COMMIT; the DDL below needs this lock anyway.
      await client.query(`LOCK TABLE ${tables} IN ACCESS EXCLUSIVE MODE`)

      const { rows: [present] } = await client.query<Record<string, boolean>>(
        `SELECT ${SEED_TABLES.map((t) => `EXISTS (SELECT 1 FROM ${t}) AS ${t}`).join(', ')}`)
      const nonEmpty = SEED_TABLES.filter((t) => present[t])
      if (nonEmpty.length > 0) {
        if (!opts.reset) {
          throw new SeedRefusedError(`refusing to seed: the database already has rows in ${nonEmpty.join(', ')}; ` +
            'pass --reset to delete all users, organizations, contacts, interactions and opportunities first')
        }
        await client.query(`TRUNCATE ${tables} CASCADE`)
        opts.log(`reset: truncated ${tables}`)
      }

      const { indexes, constraints } = await readDefinitions(client)
      for (const c of [...constraints].reverse()) await client.query(`ALTER TABLE ${c.tbl} DROP CONSTRAINT ${c.name}`)
      for (const i of indexes) await client.query(`DROP INDEX ${i.name}`)
      opts.log(`dropped ${indexes.length} indexes and ${constraints.length} key constraints for the load (${secs()})`)

      rows.users = (await client.query(sql.users)).rowCount ?? 0
      opts.log(`users: ${rows.users} rows (${secs()})`)
      const insert = async (table: string, text: string, first: number, last: number): Promise<void> => {
        rows[table] += (await client.query(text, [first, last])).rowCount ?? 0
      }
      if (layout === 'clustered') {
        for (let first = 1; first <= opts.organizations; first += CHUNK) {
          const last = Math.min(opts.organizations, first + CHUNK - 1)
          for (const [table, text] of sql.children) await insert(table, text, first, last)
          opts.log(sql.children.map(([t]) => `${t}: ${rows[t]}`).join(', ') + ` rows so far (${secs()})`)
        }
      } else {
        // Organizations in chunks; then each child table in one statement over
        // all of them, so its heap is in time order across organizations.
        for (const [table, text] of sql.children) {
          const step = table === 'organizations' ? CHUNK : opts.organizations
          for (let first = 1; first <= opts.organizations; first += step) {
            await insert(table, text, first, Math.min(opts.organizations, first + step - 1))
          }
          opts.log(`${table}: ${rows[table]} rows${table === 'organizations' ? '' : ', in creation-time order'} (${secs()})`)
        }
      }

      // Primary keys first: the foreign keys need them.
      for (const c of constraints) {
        await client.query(`ALTER TABLE ${c.tbl} ADD CONSTRAINT ${c.name} ${c.def}`)
        opts.log(`constraint ${c.name} (${secs()})`)
      }
      for (const i of indexes) {
        await client.query(i.def)
        opts.log(`index ${i.name} (${secs()})`)
      }
      await client.query(`ANALYZE ${tables}`)
      opts.log(`analyzed (${secs()})`)
      // Plain refresh: inside this transaction nobody else can read the view
      // anyway, and it is faster than CONCURRENTLY (no diff against old rows).
      const { rows: [view] } = await client.query('SELECT to_regclass(\'dashboard_analytics\') IS NOT NULL AS present')
      if (view.present) {
        await client.query('REFRESH MATERIALIZED VIEW dashboard_analytics')
        opts.log(`refreshed dashboard_analytics (${secs()})`)
      }
      // Wait for the commit's WAL flush, so the reads below may set hint bits.
      await client.query('SET LOCAL synchronous_commit = on')
      await client.query('COMMIT')
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined)
      throw err
    }
    await client.query('SET statement_timeout = 0')
    if (layout === 'clustered') {
      // Outside the transaction (VACUUM cannot run in one): marks the freshly
      // written pages all-visible, so the listing's index-only scans answer from
      // the indexes at once instead of visiting the heap until autovacuum comes by.
      await client.query(`VACUUM ${tables}`)
      opts.log(`vacuumed (${secs()})`)
    } else {
      // No VACUUM: the visibility map stays unset. One full read per table
      // sets the tuples' commit hint bits, as earlier reads would have on a
      // live system, so the first measured reads do not write pages.
      await client.query('BEGIN')
      try {
        await client.query('SET LOCAL enable_indexonlyscan = off')
        await client.query('SET LOCAL enable_bitmapscan = off')
        for (const t of SEED_TABLES) await client.query(`SELECT count(*) FROM ${t}`)
      } finally {
        await client.query('COMMIT')
      }
      opts.log(`read every row once to set hint bits; no vacuum (${secs()})`)
    }
    await client.query('RESET statement_timeout')
  } finally {
    if (client !== db) (client as pg.PoolClient).release()
  }
  return { rows, seconds: elapsed() }
}

interface Definition { tbl: string; name: string; def: string }

/**
 * Primary-key and foreign-key constraints (PKs first) and every other index of
 * the five tables, as the catalog prints them, so they can be recreated exactly;
 * also other tables' foreign keys to them (a primary key cannot be dropped
 * under one). Unique and check constraints stay in place.
 */
async function readDefinitions (client: pg.ClientBase): Promise<{ indexes: Definition[]; constraints: Definition[] }> {
  const rels = `ARRAY[${SEED_TABLES.map(q).join(',')}]::regclass[]`
  const constraints = await client.query<Definition>(`
    SELECT conrelid::regclass::text AS tbl, quote_ident(conname) AS name, pg_get_constraintdef(oid) AS def
    FROM pg_constraint
    -- foreign keys of other tables (e.g. counters) referencing these too: they depend on the primary keys
    WHERE (conrelid = ANY (${rels}) OR confrelid = ANY (${rels})) AND contype IN ('p', 'f')
    ORDER BY contype DESC, conrelid::regclass::text, conname`)
  const indexes = await client.query<Definition>(`
    SELECT i.indrelid::regclass::text AS tbl, i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
    FROM pg_index i
    WHERE i.indrelid = ANY (${rels})
      -- indexes owned by a constraint (PK: handled above; unique/exclusion: kept)
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'))
    ORDER BY 1, 2`)
  return { indexes: indexes.rows, constraints: constraints.rows }
}
