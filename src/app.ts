// buildApp: the one place the service is assembled, for server.ts and tests.
import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { AppConfig } from './lib/config'
import { ajvOptions, buildValidator } from './lib/validator'
import configPlugin from './plugins/external/config'
import dbPlugin from './plugins/external/db'
import errorsPlugin from './plugins/external/errors'
import { clientErrorHandler, frameworkErrors } from './lib/framework-errors'
import redisPlugin from './plugins/external/redis'
import authPlugin from './plugins/app/auth'
import dashboardRefresh from './plugins/app/dashboard-refresh'
import docsPlugin from './plugins/external/docs'
import apiRoutes from './routes/api'
import healthRoutes from './routes/health'
import loadShedding from './plugins/external/load-shedding'
import memoryPlugin from './plugins/external/memory'
import metricsPlugin from './plugins/external/metrics'
import requestLog from './plugins/external/request-log'
import compression from './plugins/external/compression'
import drain from './plugins/external/drain'
import inputGuard from './plugins/external/input-guard'
import responseCache from './plugins/app/response-cache'
import responseHeaders from './plugins/external/response-headers'

export interface BuildAppOptions {
  /** Validated configuration with database.url resolved (see lib/database-url.ts). */
  config: AppConfig
  /** A pino instance to log to; by default one is made at config.logLevel. */
  loggerInstance?: FastifyServerOptions['loggerInstance']
}

export function loggerOptions (config: AppConfig): Exclude<FastifyServerOptions['logger'], boolean | undefined> {
  return {
    level: config.logLevel,
    // Credentials and SQL parameter values never reach a log line.
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]', '*.password', '*.token', '*.params', '*.parameters', '*.values'],
      censor: '[redacted]'
    },
    serializers: {
      // The path only: query strings carry search terms and other user data,
      // which stay out of info-level logs like SQL parameter values do.
      req: (req: { method: string; url: string; headers: Record<string, unknown>; socket?: { remoteAddress?: string } }) => ({
        method: req.method,
        url: req.url.split('?')[0],
        remoteAddress: req.socket?.remoteAddress
      })
    },
    // Human-readable lines for a developer's terminal only; JSON everywhere else
    // (a pipe, a file, a container's log collector).
    ...(config.env === 'development' && process.stdout.isTTY && prettyAvailable() ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {})
  }
}

function prettyAvailable (): boolean {
  try {
    require.resolve('pino-pretty')
    return true
  } catch {
    return false // a production install (--omit=dev) has no pino-pretty
  }
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

  await app.register(configPlugin, { config })
  await app.register(errorsPlugin)
  // Before any route (/metrics included), so the document sees all of them.
  await app.register(docsPlugin)
  await app.register(inputGuard)
  await app.register(requestLog)
  await app.register(drain)
  // First, so even shed (503) answers carry the security and id headers.
  await app.register(responseHeaders)
  // Early: @fastify/compress attaches itself to the routes registered after
  // it. Its onSend runs at route level, i.e. after the response cache's
  // instance-level onSend, which therefore stores the uncompressed body.
  await app.register(compression)
  await app.register(loadShedding)
  await app.register(memoryPlugin)
  await app.register(dbPlugin)
  await app.register(metricsPlugin)
  await app.register(redisPlugin)
  await app.register(responseCache)
  await app.register(authPlugin)
  await app.register(healthRoutes)
  await app.register(apiRoutes, { prefix: '/api/v1' })
  await app.register(dashboardRefresh)

  return app
}
