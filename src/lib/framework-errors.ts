// Answers made below Fastify's routing, in the contract's error format and
// with its headers: URLs the router cannot take apart (frameworkErrors) and
// requests Node's HTTP parser refuses (clientErrorHandler). Neither passes
// through any hook, so the headers are set here.
import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { BARE_SECURITY_HEADERS, errorBody } from './error-body'

const ROUTER_ERRORS: Record<string, string> = {
  FST_ERR_BAD_URL: 'url is not valid (malformed percent-encoding)',
  FST_ERR_MAX_PARAM_LENGTH: 'url has a path segment longer than 100 characters'
}

/**
 * Fastify's `frameworkErrors` option: malformed percent-escapes and path
 * segments over 100 characters answer 400 with the contract's body, where
 * Fastify would say 414 or skip our body.
 */
export function frameworkErrors (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const message = ROUTER_ERRORS[err.code]
  const elapsed = reply.elapsedTime
  void reply
    .headers(BARE_SECURITY_HEADERS)
    .header('x-request-id', request.id)
    .header('x-response-time', (Number.isFinite(elapsed) ? elapsed : 0).toFixed(2))
  if (message === undefined) {
    request.log.error({ err: { code: err.code, message: err.message } }, 'router error')
    void reply.code(500).send(errorBody(500, 'INTERNAL_ERROR', 'Internal server error'))
    return
  }
  void reply.code(400).send(errorBody(400, 'INVALID_URL', message))
}

/** What Node's HTTP parser refused, as the contract's status, code and message. */
function parserAnswer (code: string | undefined): [number, string, string] {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return [431, 'HEADERS_TOO_LARGE', 'request headers are larger than the server accepts (16 KiB)']
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, 'REQUEST_TIMEOUT', 'the request was not received in time']
    default:
      return [400, 'MALFORMED_REQUEST', 'the request is not valid HTTP/1.1']
  }
}

/**
 * Fastify's `clientErrorHandler` option: a request the HTTP parser refused
 * (headers over 16 KiB, a malformed request line or header) gets the
 * contract's error body, a request id and the security headers, then the
 * connection is closed (the parser cannot resynchronise on it).
 */
export function clientErrorHandler (err: NodeJS.ErrnoException & { bytesParsed?: number }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed || !socket.writable) {
    socket.destroy()
    return
  }
  const [status, code, message] = parserAnswer(err.code)
  const body = JSON.stringify(errorBody(status, code, message))
  const headers = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    ...BARE_SECURITY_HEADERS,
    'x-request-id': randomUUID(),
    'x-response-time': '0.00',
    'cache-control': 'no-store',
    connection: 'close'
  }
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head}\r\n${body}`)
}
