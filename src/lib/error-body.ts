// The contract's error body (§2), one shape for every error answer: the error
// handler's, the router's and the HTTP parser's.
import { STATUS_CODES } from 'node:http'

/** { statusCode, error, message, code } */
interface ErrorBody {
  statusCode: number
  error: string
  message: string
  code: string
}

export function errorBody (statusCode: number, code: string, message: string): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message, code }
}

/** The contract's headers on answers that bypass Fastify's hooks (router and parser errors). */
export const BARE_SECURITY_HEADERS = { 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY' } as const
