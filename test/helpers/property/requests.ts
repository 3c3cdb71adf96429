// Requests and the checks every answer must pass. Whatever a property sends,
// the answer is a 2xx or a contract 4xx (never a 5xx), within a deadline, with
// the contract's headers, an error body without internals and JSON without
// prototype keys; and no prototype of this process was polluted.
import assert from 'node:assert/strict'
import zlib from 'node:zlib'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'

export const API = '/api/v1'
/** A request not answered within this fails the property (a hang). */
const DEADLINE_MS = 10_000
export const CONTRACT_4XX = [400, 401, 403, 404, 409, 412, 413, 415, 429]
export const JSON_CT = 'application/json'

export type Method = 'GET' | 'HEAD' | 'POST' | 'PATCH' | 'DELETE'
export interface Req {
  method: Method
  url: string
  headers: Record<string, string>
  payload?: string | Buffer
  /** Who calls, for failure messages (tokens are not printed). */
  who: string
}

/** Statuses of every answer this process received, for the closing comment of a test file. */
const statusCounts = new Map<number, number>()

export const clip = (s: string, n = 300): string => s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s

export function show (req: Req): string {
  const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'authorization').map(([k, v]) => [k, clip(v, 120)]))
  return `${req.method} ${clip(req.url)} as ${req.who} headers=${JSON.stringify(headers)}` +
    (req.payload === undefined ? '' : typeof req.payload === 'string' ? ` payload=${JSON.stringify(clip(req.payload))}` : ` payload=<bytes ${clip(req.payload.toString('hex'))}>`)
}

/** app.inject with a deadline: a request that never answers fails instead of hanging the file. */
export async function send (app: FastifyInstance, req: Req): Promise<LightMyRequestResponse> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${DEADLINE_MS} ms: ${show(req)}`)), DEADLINE_MS)
  })
  try {
    const res = await Promise.race([
      app.inject({ method: req.method, url: req.url, headers: req.headers, ...(req.payload !== undefined ? { payload: req.payload } : {}) }),
      deadline
    ])
    statusCounts.set(res.statusCode, (statusCounts.get(res.statusCode) ?? 0) + 1)
    return res
  } finally {
    clearTimeout(timer)
  }
}

function bodyText (res: LightMyRequestResponse): string {
  const encoding = res.headers['content-encoding']
  if (encoding === 'br') return zlib.brotliDecompressSync(res.rawPayload).toString('utf8')
  if (encoding === 'gzip') return zlib.gunzipSync(res.rawPayload).toString('utf8')
  if (encoding === 'deflate') return zlib.inflateSync(res.rawPayload).toString('utf8')
  return res.body
}

const PROTO_KEYS = new Set(['__proto__', 'constructor', 'prototype'])
/** What only the server could have written: stack frames, ORM and SQL error text. */
const LEAKS = /\n\s+at |node_modules|prisma|invocation|violates|duplicate key value|syntax error at|column "|relation "/i

/** Own keys named like prototype-pollution vectors, and objects whose prototype is not a plain one. */
function strangeKeys (value: unknown, path = '$', found: string[] = []): string[] {
  if (Array.isArray(value)) {
    value.forEach((item, i) => strangeKeys(item, `${path}[${i}]`, found))
  } else if (value !== null && typeof value === 'object') {
    if (Object.getPrototypeOf(value) !== Object.prototype) found.push(`${path}: prototype is not Object.prototype`)
    for (const key of Object.keys(value)) {
      if (PROTO_KEYS.has(key)) found.push(`${path}.${key}`)
      strangeKeys((value as Record<string, unknown>)[key], `${path}.${key}`, found)
    }
  }
  return found
}

/**
 * The checks every answer passes: an allowed status (never 5xx), the
 * contract's headers, the error body shape without internals, and no
 * prototype keys in JSON. Returns the parsed JSON body, if any.
 */
export function checkAnswer (req: Req, res: LightMyRequestResponse, allowed: readonly number[]): any {
  const what = `${show(req)} → ${res.statusCode} ${clip(res.body, 400)}`
  assert.ok(res.statusCode < 500, `server error: ${what}`)
  assert.ok(allowed.includes(res.statusCode), `expected ${allowed.join(' or ')}: ${what}`)
  if (res.statusCode === 304) assert.ok(req.method === 'GET' && req.headers['if-none-match'] !== undefined, `304 without If-None-Match: ${what}`)
  assert.equal(res.headers['x-content-type-options'], 'nosniff', `no X-Content-Type-Options: ${what}`)
  assert.equal(res.headers['x-frame-options'], 'DENY', `no X-Frame-Options: ${what}`)
  assert.ok(typeof res.headers['x-request-id'] === 'string' && res.headers['x-request-id'] !== '', `no X-Request-Id: ${what}`)
  assert.ok(res.headers['x-response-time'] !== undefined, `no X-Response-Time: ${what}`)
  if (req.method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304) return undefined
  const type = String(res.headers['content-type'] ?? '')
  if (!type.startsWith('application/json')) {
    assert.ok(res.statusCode < 400, `an error without a JSON body: ${what}`)
    return undefined
  }
  const body: any = JSON.parse(bodyText(res))
  if (res.statusCode >= 400) {
    assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'], `error body shape: ${what}`)
    assert.equal(body.statusCode, res.statusCode, `statusCode in the body: ${what}`)
    assert.ok(typeof body.message === 'string' && typeof body.code === 'string' && typeof body.error === 'string', `error body types: ${what}`)
    assert.ok(!LEAKS.test(body.message), `internals in the message: ${what}`)
  } else {
    assert.deepEqual(strangeKeys(body), [], `prototype keys in the answer: ${what}`)
  }
  return body
}

const OBJECT_PROTO = Object.getOwnPropertyNames(Object.prototype).sort()
const ARRAY_PROTO = Object.getOwnPropertyNames(Array.prototype).sort()
const FUNCTION_PROTO = Object.getOwnPropertyNames(Function.prototype).sort()

export function assertNoPollution (): void {
  assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), OBJECT_PROTO, 'Object.prototype changed')
  assert.deepEqual(Object.getOwnPropertyNames(Array.prototype).sort(), ARRAY_PROTO, 'Array.prototype changed')
  assert.deepEqual(Object.getOwnPropertyNames(Function.prototype).sort(), FUNCTION_PROTO, 'Function.prototype changed')
  const probe: Record<string, unknown> = {}
  for (const key of ['polluted', 'isAdmin', 'role', 'admin', 'x', 'junk']) assert.equal(probe[key], undefined, `Object.prototype.${key} is set`)
}

/** The closing comment of a test file: the statuses it received, and its time after the fixture. */
export function statusSummary (started: number): string {
  return `statuses over the whole file: ${JSON.stringify(Object.fromEntries([...statusCounts].sort(([a], [b]) => a - b)))}; ${Date.now() - started} ms after the fixture`
}
