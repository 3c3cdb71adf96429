import fp from 'fastify-plugin'
import type { FastifyError } from 'fastify'
import { safeDbError } from '../lib/database'

/** The contract's error body: { statusCode, error, message, code }. */
export interface ErrorBody {
  statusCode: number
  error: string
  message: string
  code: string
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict',
  412: 'Precondition Failed', 413: 'Payload Too Large', 415: 'Unsupported Media Type',
  429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable'
}

// Connection-level failures: the database is down, unreachable or the pool
// is exhausted. They deserve a 503 with Retry-After, not a 500.
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', '57P01', '57P03', '53300', '08006', '08001', '08003', 'P1001', 'P1002', 'P2024'])

export function isDatabaseUnavailable (err: unknown): boolean {
  let current: unknown = err
  for (let depth = 0; current != null && depth < 5; depth++) {
    const e = current as { code?: string; message?: string; cause?: unknown; kind?: string }
    if (e.code !== undefined && UNAVAILABLE_CODES.has(e.code)) return true
    if (typeof e.message === 'string' && /timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED|Query read timeout|Can't reach database server/i.test(e.message)) return true
    current = e.cause
  }
  return false
}

// Fastify's own codes for body problems, in the contract's plainer words.
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_CONTENT_LENGTH',
  FST_UNDER_PRESSURE: 'OVERLOADED'
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

function body (statusCode: number, code: string, message: string): ErrorBody {
  return { statusCode, error: STATUS_TEXT[statusCode] ?? 'Error', message, code }
}

/**
 * One error handler for the whole app: validation errors name the field,
 * database outages answer 503 fast, and nothing internal (stack, SQL,
 * parameter values) reaches a client.
 */
export default fp(async (app) => {
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
      request.log.error({ err: { ...safeDbError(err), stack: err.stack } }, 'unhandled error')
      return reply.code(500).send(body(500, 'INTERNAL_ERROR', 'Internal server error'))
    }
    if (status === 401) void reply.header('www-authenticate', 'Bearer')
    return reply.code(status).send(body(status, FASTIFY_CODES[err.code] ?? err.code ?? 'ERROR', err.message))
  })

  app.setNotFoundHandler((request, reply) => {
    return reply.code(404).send(body(404, 'NOT_FOUND', `Route ${request.method} ${request.url.split('?')[0]} not found`))
  })
}, { name: 'errors' })
