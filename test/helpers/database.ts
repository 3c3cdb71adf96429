// Each test file gets its own freshly migrated database on the real local
// PostgreSQL, dropped when the file ends.
import pg from 'pg'
import { applyMigrations } from '../../src/lib/migrator'
import { withClient } from '../../scripts/lib/postgres'

export { withClient }

/** Admin connection of the machine's PostgreSQL: 127.0.0.1:5432, trust auth, user root, database test (TEST_DATABASE_ADMIN_URL overrides it). */
export const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgresql://root@127.0.0.1:5432/test'

let counter = 0

export function urlFor (database: string): string {
  const url = new URL(ADMIN_URL)
  url.pathname = `/${database}`
  return url.toString()
}

async function admin<T> (fn: (client: pg.Client) => Promise<T>): Promise<T> {
  return await withClient(ADMIN_URL, fn)
}

/** How long a drop lets the database's connections close on their own before it terminates the rest. */
const CLOSING_GRACE_MS = 500

export async function dropDatabase (name: string): Promise<void> {
  await admin(async (client) => {
    // pg-pool's end() resolves before its connections have closed
    // (brianc/node-postgres#2328). Terminating one of those still closing
    // reaches its client as a 57P01 error that the ended pool re-emits with
    // no listener left: an uncaught exception in the test that dropped it.
    // So closing connections get a moment to go; only the rest are terminated.
    const others = 'FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()'
    for (const deadline = Date.now() + CLOSING_GRACE_MS; Date.now() < deadline;) {
      const { rows: [row] } = await client.query<{ n: number }>(`SELECT count(*)::int AS n ${others}`, [name])
      if (row?.n === 0) break
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    await client.query(`SELECT pg_terminate_backend(pid) ${others}`, [name])
    await client.query(`DROP DATABASE IF EXISTS "${name}"`)
  })
}

export interface TestDatabase { name: string; url: string; drop (): Promise<void> }

/** An empty database (no migrations). */
export async function createEmptyDatabase (label: string): Promise<TestDatabase> {
  const name = `crm_test_${label}_${process.pid}_${counter++}`.toLowerCase().replace(/[^a-z0-9_]/g, '_')
  await admin(async (client) => {
    await client.query(`DROP DATABASE IF EXISTS "${name}"`)
    await client.query(`CREATE DATABASE "${name}"`)
  })
  return { name, url: urlFor(name), drop: async () => await dropDatabase(name) }
}

/** A database with every migration applied by the project's migrator. */
export async function createTestDatabase (label: string): Promise<TestDatabase> {
  const db = await createEmptyDatabase(label)
  await applyMigrations({ connectionString: db.url })
  return db
}
