// The bench's data: a database seeded at the chosen size, reused while it
// holds exactly that seed, and the member whose view is measured.
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import type pg from 'pg'
import { applyMigrations } from '../../src/lib/migrator'
import { PROJECT_ROOT } from '../../src/lib/paths'
import { nodeArgs, run } from '../lib/child-processes'
import { withClient } from '../lib/postgres'
import { seededMembers } from '../seed/statements'
import type { BenchOptions } from './options'

export interface Dataset {
  url: string
  database: string
  organizations: number
  users: number
  action: 'reused' | 'seeded'
  seedSeconds?: number
  migrationsApplied: string[]
}

const marker = (n: number): string => `crm-bench organizations=${n}`

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
 * without --reseed), then reuses the data when it is this size's seed —
 * the database comment the harness sets after seeding, or, for a database
 * seeded by hand, the seed's exact user and organization counts — and seeds
 * otherwise (`db:seed --organizations N --reset`).
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
  const marked = state.comment === marker(opts.organizations)
  const looksSeeded = state.organizations === opts.organizations && state.users === expectedUsers
  if (!opts.reseed && looksSeeded && (marked || state.comment === null)) {
    console.log(`reusing ${name}: ${state.organizations} organizations, ${state.users} users (${marked ? 'seeded by the bench' : 'seed-sized'})`)
    return { url: opts.databaseUrl, database: name, organizations: state.organizations, users: state.users, action: 'reused', migrationsApplied: migrated.applied }
  }
  console.log(`seeding ${name} with ${opts.organizations} organizations (db:seed --reset; ~20 s per 100k on 2 cores)…`)
  const started = performance.now()
  // The db:seed npm script's command line, run directly.
  await withClient(opts.databaseUrl, async (client) => { await client.query(`COMMENT ON DATABASE "${name}" IS NULL`) })
  await run(process.execPath, nodeArgs(path.join(PROJECT_ROOT, 'scripts', 'seed', 'main.ts'), ['--organizations', String(opts.organizations), '--reset']), {
    env: { ...process.env, DATABASE_URL: opts.databaseUrl, NODE_ENV: 'development' },
    echo: true
  })
  const seedSeconds = (performance.now() - started) / 1000
  const users = await withClient(opts.databaseUrl, async (client) => {
    await client.query(`COMMENT ON DATABASE "${name}" IS '${marker(opts.organizations)}'`)
    const { rows: [row] } = await client.query<{ n: string }>('SELECT count(*) AS n FROM users')
    return Number(row!.n)
  })
  return { url: opts.databaseUrl, database: name, organizations: opts.organizations, users, action: 'seeded', seedSeconds, migrationsApplied: migrated.applied }
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
