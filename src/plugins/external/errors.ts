import fp from 'fastify-plugin'
import type { FastifyError } from 'fastify'
import { errorBody as body } from '../../lib/error-body'
import { safeDbError } from '../../lib/database'
import { anyRouteErrors, declareResponses } from '../../lib/documented-responses'
import { ErrorResponse } from '../../schemas/common'

// Connection-level failures: the database is down, unreachable or the pool
// is exhausted. They deserve a 503 with Retry-After, not a 500. PostgreSQL:
// 57014 statement timeout (the database is too slow right now: a retry
// later may well succeed, so 503 with Retry-After rather than 500),
// 57P01 admin shutdown (also "unexpected postmaster exit" after a crash),
// 57P02 crash shutdown, 57P03 cannot connect now (starting up), 53300 too
// many connections, class 08 connection exceptions. Prisma: P1001 cannot
// reach, P1002 timed out, P1008 socket timeout, P1017 server closed the
// connection, P2024 pool timeout, P2037 too many connections.
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE', '57014', '57P01', '57P02', '57P03', '53300', 'P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2037'])
// @prisma/adapter-pg's names for connection failures (DriverAdapterError.cause.kind),
// which carry no SQLSTATE: e.g. a COMMIT on a connection the server reset.
const UNAVAILABLE_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections'])
const UNAVAILABLE_MESSAGE = /timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED|Query read timeout|Can't reach database server|is not queryable|Server has closed the connection/i

/** What isDatabaseUnavailable reads of an error and of each error it links to. */
interface ErrorLike {
  code?: unknown
  originalCode?: unknown
  kind?: unknown
  message?: unknown
  cause?: unknown
  meta?: { driverAdapterError?: unknown }
}

/**
 * Whether `test` holds for the error or one it links to, breadth-first over
 * `cause` and, for Prisma's errors, `meta.driverAdapterError`: with
 * @prisma/adapter-pg a PostgreSQL error reaches us as e.g. P2010/P2039 whose
 * driver error carries the SQLSTATE (`code`, `originalCode`).
 */
function anyLinked (err: unknown, test: (e: ErrorLike) => boolean): boolean {
  const queue: unknown[] = [err]
  for (let seen = 0; queue.length > 0 && seen < 10; seen++) {
    const e = queue.shift() as ErrorLike | null
    if (e == null || typeof e !== 'object') continue
    if (test(e)) return true
    for (const next of [e.cause, e.meta?.driverAdapterError]) if (next != null) queue.push(next)
  }
  return false
}

/** One error's own code (SQLSTATE, Prisma's or Node's) or message, without the errors it links to. */
function hasCodeOrMessage (e: ErrorLike, code: (value: string) => boolean, message: RegExp): boolean {
  return [e.code, e.originalCode].some((value) => typeof value === 'string' && code(value)) ||
    (typeof e.message === 'string' && message.test(e.message))
}

export function isDatabaseUnavailable (err: unknown): boolean {
  return anyLinked(err, (e) => (typeof e.kind === 'string' && UNAVAILABLE_KINDS.has(e.kind)) ||
    hasCodeOrMessage(e, (code) => UNAVAILABLE_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code), UNAVAILABLE_MESSAGE))
}

// Of those, the ones that come after a wait: the server took too long to
// answer (57014 statement timeout, pg's query_timeout), or no connection
// came in time (pool or connect timeout).
const TIMEOUT_CODES = new Set(['ETIMEDOUT', '57014', 'P1002', 'P1008', 'P2024'])
const TIMEOUT_MESSAGE = /timeout exceeded when trying to connect|Query read timeout/i

/** A failure after a timeout, as opposed to a connection refused or cut at once. */
export function isTimeout (err: unknown): boolean {
  return anyLinked(err, (e) => hasCodeOrMessage(e, (code) => TIMEOUT_CODES.has(code), TIMEOUT_MESSAGE))
}

// Fastify's own codes for body problems, in the contract's plainer words.
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_CONTENT_LENGTH',
  FST_UNDER_PRESSURE: 'OVERLOADED',
  // A QUERY request (RFC 10008) without Content-Type.
  FST_ERR_ROUTE_MISSING_CONTENT_TYPE: 'MISSING_CONTENT_TYPE'
}

/** e.g. "body.name must NOT have more than 255 characters", "body.foo is not allowed". */
function validationMessage (err: FastifyError): string {
  const first = err.validation?.[0]
  const params = (first?.params ?? {}) as { missingProperty?: string; additionalProperty?: string }
  const field = [err.validationContext, ...(first?.instancePath ?? '').split('/'), params.missingProperty ?? params.additionalProperty]
    .filter(Boolean).join('.')
  if (params.additionalProperty !== undefined) return `${field} is not allowed`
  return `${field} ${first?.message ?? 'is invalid'}`
}

/**
 * The call frames of a stack, without its first lines: those repeat the
 * error's message, which for a database error quotes SQL, source excerpts and
 * the values it failed on (Prisma: "Message: `... <value>`").
 */
function stackFrames (stack: string | undefined): string | undefined {
  return stack?.split('\n').filter((line) => /^\s+at /.test(line)).join('\n')
}

/**
 * One error handler for the whole app: validation errors name the field,
 * database outages answer 503 fast, and nothing internal (stack, SQL,
 * parameter values) reaches a client.
 */
export default fp(async (app) => {
  app.addHook('onRoute', declareResponses(anyRouteErrors(ErrorResponse)))
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err.validation !== undefined) {
      return reply.code(400).send(body(400, 'VALIDATION_ERROR', validationMessage(err)))
    }
    if (isDatabaseUnavailable(err)) {
      request.log.warn({ err: safeDbError(err) }, 'database unavailable')
      return reply.code(503).header('retry-after', '5').send(body(503, 'DATABASE_UNAVAILABLE', 'The database is unavailable; retry shortly'))
    }
    const prismaCode = (err as { code?: unknown }).code
    if (prismaCode === 'P2025') {
      return reply.code(404).send(body(404, 'NOT_FOUND', 'Resource not found'))
    }
    if (prismaCode === 'P2002') {
      return reply.code(409).send(body(409, 'CONFLICT', 'A resource with the same unique value already exists'))
    }
    const status = typeof err.statusCode === 'number' && ((err.statusCode >= 400 && err.statusCode < 500) || err.statusCode === 503) ? err.statusCode : 500
    if (status === 500) {
      request.log.error({ err: { ...safeDbError(err), stack: stackFrames(err.stack) } }, 'unhandled error')
      return reply.code(500).send(body(500, 'INTERNAL_ERROR', 'Internal server error'))
    }
    if (status === 401) void reply.header('www-authenticate', 'Bearer')
    return reply.code(status).send(body(status, FASTIFY_CODES[err.code] ?? err.code ?? 'ERROR', err.message))
  })

  app.setNotFoundHandler((request, reply) => {
    return reply.code(404).send(body(404, 'NOT_FOUND', `Route ${request.method} ${request.url.split('?')[0]} not found`))
  })
}, { name: 'errors' })
