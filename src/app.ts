// buildApp: the one place the service is assembled, for server.ts and tests.
// Infrastructure first, then the application plugins, then the routes; each
// plugin names what it depends on, so Fastify refuses a wrong order.
// The request path, hook by hook: docs/architecture.md.
import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { AppConfig } from './lib/config'
import { clientErrorHandler, frameworkErrors } from './lib/framework-errors'
import { loggerOptions } from './lib/logger'
import { ajvOptions, buildValidator } from './lib/validator'
import compression from './plugins/external/compression'
import configPlugin from './plugins/external/config'
import dbPlugin from './plugins/external/db'
import docsPlugin from './plugins/external/docs'
import drain from './plugins/external/drain'
import errorsPlugin from './plugins/external/errors'
import inputGuard from './plugins/external/input-guard'
import loadShedding from './plugins/external/load-shedding'
import memoryPlugin from './plugins/external/memory'
import metricsPlugin from './plugins/external/metrics'
import readReplica from './plugins/external/read-replica'
import redisPlugin from './plugins/external/redis'
import requestLog from './plugins/external/request-log'
import responseHeaders from './plugins/external/response-headers'
import authPlugin from './plugins/app/auth'
import dashboardRefresh from './plugins/app/dashboard-refresh'
import rateLimit from './plugins/app/rate-limit'
import responseCache from './plugins/app/response-cache'
import servicesPlugin from './plugins/app/services'
import apiRoutes from './routes/api'
import healthRoutes from './routes/health'

export { loggerOptions } from './lib/logger'

export interface BuildAppOptions {
  /** Validated configuration with database.url resolved (see lib/database-url.ts). */
  config: AppConfig
  /** A pino instance to log to; by default one is made at config.logLevel. */
  loggerInstance?: FastifyServerOptions['loggerInstance']
}

export async function buildApp (options: BuildAppOptions): Promise<FastifyInstance> {
  const { config } = options
  const app = Fastify({
    ...(options.loggerInstance !== undefined ? { loggerInstance: options.loggerInstance } : { logger: loggerOptions(config) }),
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    bodyLimit: 1024 * 1024,
    // Longer than a load balancer's idle timeout (often 60 s), so the balancer,
    // not us, closes idle keep-alive connections and never reuses a closed one.
    keepAliveTimeout: 72_000,
    return503OnClosing: true,
    // Malformed URLs and over-long path segments: the contract's 400, with its headers (not 414).
    frameworkErrors,
    // Requests the HTTP parser refuses (headers over 16 KiB, malformed lines): the contract's body too.
    clientErrorHandler,
    // Coercion for text parts only, finite numbers, decimal multipleOf: lib/validator.ts.
    schemaController: { compilersFactory: { buildValidator } },
    ajv: ajvOptions
  }).withTypeProvider<TypeBoxTypeProvider>()

  if (config.jwtSecretGenerated) {
    app.log.warn('JWT_SECRET is not set: using a development secret (kept in EMBEDDED_DATABASE_DIR/jwt-secret by npm start); set JWT_SECRET in production')
  }
  // JSON only (contract §2): any other body type answers 415, text/plain included.
  app.removeContentTypeParser('text/plain')

  // Infrastructure (src/plugins/external).
  await app.register(configPlugin, { config })
  await app.register(errorsPlugin)
  // Before any route (/metrics included), so the document sees all of them.
  await app.register(docsPlugin)
  await app.register(inputGuard)
  await app.register(requestLog)
  await app.register(drain)
  // First of the onSend hooks, so even shed (503) answers carry the security and id headers.
  await app.register(responseHeaders)
  // @fastify/compress attaches a route-level onSend to the routes registered
  // after it: it runs after every scope-level onSend (the response cache's),
  // which therefore stores uncompressed bodies.
  await app.register(compression)
  await app.register(loadShedding)
  await app.register(memoryPlugin)
  await app.register(dbPlugin)
  await app.register(metricsPlugin)
  await app.register(redisPlugin)
  // Before the services (they read through its client) and the routes (its hooks are root-level).
  await app.register(readReplica)

  // Application (src/plugins/app).
  await app.register(servicesPlugin)
  await app.register(authPlugin)
  await app.register(responseCache)
  await app.register(rateLimit)
  await app.register(dashboardRefresh)

  // Routes (src/routes).
  await app.register(healthRoutes)
  await app.register(apiRoutes, { prefix: '/api/v1' })
  return app
}
