// Entry point: validate config, find (or start) the database, migrate when
// asked, serve, and shut down gracefully on SIGTERM/SIGINT.
import closeWithGrace from 'close-with-grace'
import pino from 'pino'
import { buildApp, loggerOptions } from './app'
import { ConfigError, loadConfig, type AppConfig } from './lib/config'
import { resolveDatabase } from './lib/database-url'
import { persistentDevSecret } from './lib/dev-secret'

async function main (): Promise<void> {
  let config: AppConfig
  try {
    config = loadConfig(process.env)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(1)
    }
    throw err
  }
  if (config.jwtSecretGenerated) config = { ...config, jwtSecret: persistentDevSecret(config.embedded.dataDir) }
  const logger = pino(loggerOptions(config))
  const started = Date.now()
  const database = await resolveDatabase(config, (line) => logger.info(line), { migrate: config.migrateOnStart })
  try {
    const app = await buildApp({ config: { ...config, database: { ...config.database, url: database.url } }, loggerInstance: logger })

    closeWithGrace({ delay: config.shutdownGraceMs }, async ({ signal, err }) => {
      if (err !== undefined) logger.error({ err }, 'shutting down after an unexpected error')
      else logger.info({ signal }, 'shutting down: finishing in-flight requests')
      const closing = Date.now()
      await app.close()
      await database.stop()
      // The last line: an orchestrator's log shows the drain finished (rather than being cut by SIGKILL).
      logger.info({ ms: Date.now() - closing }, 'shutdown complete')
    })

    await app.listen({ port: config.port, host: config.host })
    logger.info({ ms: Date.now() - started, embeddedDatabase: database.embedded }, 'ready')
  } catch (err) {
    await database.stop()
    throw err
  }
}

main().catch((err: unknown) => {
  // A configuration problem found late (no embedded PostgreSQL to start) is said plainly, without a stack.
  process.stderr.write(err instanceof ConfigError ? `${err.message}\n` : `start-up failed: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
