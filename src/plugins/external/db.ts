import fp from 'fastify-plugin'
import { Database } from '../../lib/database'
import { requestLogger } from './request-log'

declare module 'fastify' {
  interface FastifyInstance {
    db: Database
  }
}

/** The Prisma client and pg pool (lib/database.ts), closed with the app. */
export default fp(async (app) => {
  const url = app.config.database.url
  if (url === undefined) throw new Error('database url is not resolved (see lib/database-url.ts)')
  const db = new Database({ ...app.config.database, url }, app.log)
  // Slow-query lines of a request go through its logger: they carry its id.
  db.currentLogger = requestLogger
  app.decorate('db', db)
  app.addHook('onClose', async () => await db.close())
  // A database that is down at start-up must not stop the service from
  // starting: /ready says 503 until it answers, requests get 503 meanwhile.
  try {
    await db.warmUp()
  } catch (err) {
    app.log.warn({ err: { code: (err as { code?: string }).code, message: (err as Error).message } }, 'database not reachable at start-up')
  }
}, { name: 'db', dependencies: ['config'] })
