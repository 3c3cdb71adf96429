// Where the database is: DATABASE_URL when given, otherwise an embedded
// PostgreSQL under EMBEDDED_DATABASE_DIR so `npm start` works on a bare machine.
// With `migrate`, pending migrations are applied before anyone uses it.
import path from 'node:path'
import { ConfigError, type AppConfig } from './config'
import { startEmbeddedPostgres } from './embedded-postgres'
import { applyMigrations } from './migrator'

export interface DatabaseTarget {
  url: string
  embedded: boolean
  /** Stops the embedded server; a no-op for an external database. */
  stop (): Promise<void>
}

type DatabaseSettings = Pick<AppConfig, 'database' | 'embedded'>

/**
 * Where migrations go: DATABASE_DIRECT_URL when given, else the service's own
 * URL, which behind a transaction pooler will not do: the migrator holds a
 * session-level advisory lock (Prisma's), and a transaction pooler hands each
 * transaction whatever server connection is free.
 */
export function migrationUrl (database: AppConfig['database'], resolvedUrl: string): string {
  if (database.directUrl !== undefined) return database.directUrl
  if (database.pooler === 'transaction') {
    throw new ConfigError('DATABASE_POOLER=transaction: migrations need DATABASE_DIRECT_URL (a connection straight to PostgreSQL, for the migration lock)')
  }
  return resolvedUrl
}

export async function resolveDatabase (config: DatabaseSettings, log: (line: string) => void, options: { migrate: boolean }): Promise<DatabaseTarget> {
  const target = await locate(config, log)
  if (options.migrate) {
    try {
      await applyMigrations({ connectionString: migrationUrl(config.database, target.url), ssl: config.database.ssl, log })
    } catch (err) {
      await target.stop()
      throw err
    }
  }
  return target
}

async function locate (config: DatabaseSettings, log: (line: string) => void): Promise<DatabaseTarget> {
  if (config.database.url !== undefined) {
    return { url: config.database.url, embedded: false, stop: async () => {} }
  }
  let server: Awaited<ReturnType<typeof startEmbeddedPostgres>>
  try {
    server = await startEmbeddedPostgres({
      dataDir: path.join(config.embedded.dataDir, 'postgres'),
      port: config.embedded.port,
      database: 'crm',
      log
    })
  } catch (err) {
    // An image built with EMBEDDED_POSTGRES=false has the package but not its binaries.
    if (/Cannot find (package|module) '@embedded-postgres\//.test((err as Error).message)) {
      throw new ConfigError('DATABASE_URL is unset, and this installation has no embedded PostgreSQL (an image built with EMBEDDED_POSTGRES=false): set DATABASE_URL')
    }
    throw err
  }
  return { url: server.url, embedded: true, stop: async () => await server.stop() }
}
