// Where the database is: DATABASE_URL when given, otherwise an embedded
// PostgreSQL under EMBEDDED_DATABASE_DIR so `npm start` works on a bare machine.
// With `migrate`, pending migrations are applied before anyone uses it.
import path from 'node:path'
import type { AppConfig } from './config'
import { startEmbeddedPostgres } from './embedded-postgres'
import { applyMigrations } from './migrator'

export interface DatabaseTarget {
  url: string
  embedded: boolean
  /** Stops the embedded server; a no-op for an external database. */
  stop (): Promise<void>
}

export async function resolveDatabase (config: AppConfig, log: (line: string) => void, options: { migrate: boolean }): Promise<DatabaseTarget> {
  const target = await locate(config, log)
  if (options.migrate) {
    try {
      await applyMigrations({ connectionString: target.url, ssl: config.database.ssl, log })
    } catch (err) {
      await target.stop()
      throw err
    }
  }
  return target
}

async function locate (config: AppConfig, log: (line: string) => void): Promise<DatabaseTarget> {
  if (config.database.url !== undefined) {
    return { url: config.database.url, embedded: false, stop: async () => {} }
  }
  const server = await startEmbeddedPostgres({
    dataDir: path.join(config.embedded.dataDir, 'postgres'),
    port: config.embedded.port,
    database: 'crm',
    log
  })
  return { url: server.url, embedded: true, stop: async () => await server.stop() }
}
