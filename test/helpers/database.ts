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

export async function dropDatabase (name: string): Promise<void> {
  await admin(async (client) => {
    await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name])
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
