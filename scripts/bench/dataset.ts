// The bench's data: a database seeded at the chosen size and layout, reused
// while it holds exactly that seed, and the member whose view is measured.
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import type pg from 'pg'
import { applyMigrations } from '../../src/lib/migrator'
import { PROJECT_ROOT } from '../../src/lib/paths'
import { nodeArgs, run } from '../lib/child-processes'
import { withClient } from '../lib/postgres'
import { seededMembers, type SeedLayout } from '../seed/statements'
import type { BenchOptions } from './options'

export interface Dataset {
  url: string
  database: string
  organizations: number
  layout: SeedLayout
  users: number
  action: 'reused' | 'seeded'
  /** Per table when the run started: heap pages and pages the visibility map marks all-visible. */
  visibility: Record<string, { pages: number; allVisible: number }>
  seedSeconds?: number
  migrationsApplied: string[]
}

const marker = (n: number, layout: SeedLayout): string => `crm-bench organizations=${n} layout=${layout}`
/** What the harness wrote before layouts existed: a clustered seed. */
const oldMarker = (n: number): string => `crm-bench organizations=${n}`

async function visibility (url: string): Promise<Dataset['visibility']> {
  return await withClient(url, async (client) => {
    const { rows } = await client.query<{ relname: string; pages: number; all_visible: number }>(`
      SELECT c.relname, (pg_relation_size(c.oid) / current_setting('block_size')::int)::int AS pages, c.relallvisible AS all_visible
      FROM pg_class c WHERE c.oid = ANY ('{organizations,contacts,interactions,opportunities}'::regclass[]) ORDER BY 1`)
    return Object.fromEntries(rows.map((r) => [r.relname, { pages: r.pages, allVisible: r.all_visible }]))
  })
}

/** CREATE DATABASE when it does not exist (through the server's `postgres` database). */
async function ensureDatabase (url: string): Promise<string> {
  const parsed = new URL(url)
  const name = decodeURIComponent(parsed.pathname.slice(1))
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`database name ${JSON.stringify(name)}: only letters, digits and _ are supported`)
  parsed.pathname = '/postgres'
  try {
    await withClient(parsed.toString(), async (client) => {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
      if (rowCount === 0) {
        await client.query(`CREATE DATABASE "${name}"`)
        console.log(`created database ${name}`)
      }
    })
  } catch (err) {
    // No access to `postgres`: the database may exist anyway; migrating will tell.
    console.log(`could not check or create database ${name} (${(err as Error).message}); using it as is`)
  }
  return name
}

/**
 * Applies pending migrations (every run: a listing or index change lands
 * without --reseed), then reuses the data when it is this size's and
 * layout's seed — the database comment the harness sets after seeding, or,
 * for a clustered database seeded by hand, the seed's exact user and
 * organization counts (a hand-made seed's layout cannot be told, so live
 * needs the comment) — and seeds otherwise
 * (`db:seed --organizations N --layout L --reset`; 1 M live takes ~5 min).
 */
export async function prepareDatabase (opts: BenchOptions): Promise<Dataset> {
  const name = await ensureDatabase(opts.databaseUrl)
  const migrated = await applyMigrations({ connectionString: opts.databaseUrl, log: (line) => console.log(`  migrate: ${line}`) })
  console.log(`migrations: ${migrated.applied.length} applied now, ${migrated.alreadyApplied.length} already applied`)
  const expectedUsers = seededMembers(opts.organizations) + 1
  const state = await withClient(opts.databaseUrl, async (client) => {
    const { rows: [row] } = await client.query<{ comment: string | null; organizations: string; users: string }>(`
      SELECT shobj_description(d.oid, 'pg_database') AS comment,
             (SELECT count(*) FROM organizations) AS organizations, (SELECT count(*) FROM users) AS users
      FROM pg_database d WHERE d.datname = current_database()`)
    return { comment: row!.comment, organizations: Number(row!.organizations), users: Number(row!.users) }
  })
  const marked = state.comment === marker(opts.organizations, opts.layout) ||
    (opts.layout === 'clustered' && state.comment === oldMarker(opts.organizations))
  const looksSeeded = state.organizations === opts.organizations && state.users === expectedUsers
  if (!opts.reseed && looksSeeded && (marked || (opts.layout === 'clustered' && state.comment === null))) {
    console.log(`reusing ${name}: ${state.organizations} organizations, ${state.users} users, layout ${opts.layout} (${marked ? 'seeded by the bench' : 'seed-sized'})`)
    const reused = { organizations: state.organizations, layout: opts.layout, users: state.users, action: 'reused' as const }
    return { url: opts.databaseUrl, database: name, ...reused, visibility: await visibility(opts.databaseUrl), migrationsApplied: migrated.applied }
  }
  console.log(`seeding ${name} with ${opts.organizations} organizations, layout ${opts.layout} (db:seed --reset; ~30 s per 100k on 2 cores)…`)
  const started = performance.now()
  // The db:seed npm script's command line, run directly.
  await withClient(opts.databaseUrl, async (client) => { await client.query(`COMMENT ON DATABASE "${name}" IS NULL`) })
  await run(process.execPath, nodeArgs(path.join(PROJECT_ROOT, 'scripts', 'seed', 'main.ts'), ['--organizations', String(opts.organizations), '--layout', opts.layout, '--reset']), {
    env: { ...process.env, DATABASE_URL: opts.databaseUrl, NODE_ENV: 'development' },
    echo: true
  })
  const seedSeconds = (performance.now() - started) / 1000
  const users = await withClient(opts.databaseUrl, async (client) => {
    await client.query(`COMMENT ON DATABASE "${name}" IS '${marker(opts.organizations, opts.layout)}'`)
    const { rows: [row] } = await client.query<{ n: string }>('SELECT count(*) AS n FROM users')
    return Number(row!.n)
  })
  const seeded = { organizations: opts.organizations, layout: opts.layout, users, action: 'seeded' as const, seedSeconds }
  return { url: opts.databaseUrl, database: name, ...seeded, visibility: await visibility(opts.databaseUrl), migrationsApplied: migrated.applied }
}

export interface Member { id: string; email: string; organizations: number; rank: number; members: number }

/** The member whose live organization count is the median among members (the lower one for an even count). */
export async function pickMember (db: pg.Pool): Promise<Member> {
  const { rows } = await db.query<{ id: string; email: string; n: string }>(`
    SELECT u.id, u.email, count(o.id) AS n
    FROM users u LEFT JOIN organizations o ON o.assigned_user_id = u.id AND o.is_deleted = FALSE
    WHERE u.role = 'member' AND u.is_active
    GROUP BY u.id, u.email ORDER BY count(o.id), u.id`)
  if (rows.length === 0) throw new Error('the database has no active member')
  const index = (rows.length - 1) >> 1
  const row = rows[index]!
  return { id: row.id, email: row.email, organizations: Number(row.n), rank: index + 1, members: rows.length }
}
