// The OpenAPI document as the oracle of every response a test receives: its
// status is declared for the operation, its body matches that status's
// schema, its content type is the declared one, and it carries the
// contract's headers (§2). Test apps (helpers/app.ts) check every inject();
// socket helpers call checkSocketResponse(). A mismatch rejects the request's
// promise, so the test that caused it fails, and also fails the test file on
// exit, in case a test swallowed the rejection.
import zlib from 'node:zlib'
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020'
import addFormats from 'ajv-formats'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'

export interface ObservedResponse {
  method: string
  url: string
  statusCode: number
  headers: Record<string, string | string[] | number | undefined>
  body: Buffer
}

interface MediaType { schema?: unknown }
interface Operation { responses?: Record<string, { content?: Record<string, MediaType> }> }
interface Document { paths: Record<string, Record<string, Operation>> }

/**
 * Statuses an undocumented path or method may answer, always with the error
 * body: the router's and parser's, and under /api/v1 the scope's own hooks
 * (authentication, rate limit), which run before an unknown route is a 404.
 */
const UNROUTED = new Set([400, 401, 404, 405, 413, 415, 429, 431, 503])
/** Served by @fastify/swagger-ui, which hides its routes from the document. */
const UNDOCUMENTED_PREFIXES = ['/docs']

const mismatches: string[] = []
process.on('exit', () => {
  if (mismatches.length === 0) return
  process.stderr.write(`\nResponses that do not match the OpenAPI document:\n${mismatches.join('\n')}\n`)
  process.exitCode = 1
})

export class ApiOracle {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true })
  private readonly validators = new Map<unknown, ValidateFunction>()
  private readonly templates: Array<{ path: string; pattern: RegExp }>
  private readonly errorSchema: unknown

  constructor (private readonly doc: Document) {
    addFormats(this.ajv)
    // A path parameter may be empty: Fastify's router routes /users/ to /users/:id (then validation answers).
    this.templates = Object.keys(doc.paths).map((path) => ({
      path,
      pattern: new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]*')}$`)
    }))
    this.errorSchema = doc.paths['/api/v1/organizations']?.get?.responses?.['401']?.content?.['application/json']?.schema
    if (this.errorSchema === undefined) throw new Error('the document declares no error schema on GET /api/v1/organizations 401')
  }

  /** What is wrong with a response, or [] when the document allows it. */
  problems (res: ObservedResponse): string[] {
    const path = res.url.split('?')[0] ?? ''
    if (UNDOCUMENTED_PREFIXES.some((prefix) => path === prefix || path.startsWith(`${prefix}/`))) return []
    const found = [...this.templates].find((template) => template.pattern.test(path))
    const method = res.method.toUpperCase() === 'HEAD' ? 'get' : res.method.toLowerCase()
    const operation = found === undefined ? undefined : this.doc.paths[found.path]?.[method]
    const problems = this.headerProblems(res)
    if (operation === undefined) {
      if (!UNROUTED.has(res.statusCode)) problems.push(`status ${res.statusCode} on an undocumented route`)
      else problems.push(...this.bodyProblems(res, res.method.toUpperCase() === 'HEAD' ? undefined : { 'application/json': { schema: this.errorSchema } }))
      return problems
    }
    const declared = operation.responses?.[String(res.statusCode)]
    if (declared === undefined) {
      problems.push(`status ${res.statusCode} is not declared (declared: ${Object.keys(operation.responses ?? {}).join(', ')})`)
      return problems
    }
    problems.push(...this.bodyProblems(res, res.method.toUpperCase() === 'HEAD' ? undefined : declared.content))
    return problems
  }

  private headerProblems (res: ObservedResponse): string[] {
    const problems: string[] = []
    if (typeof res.headers['x-request-id'] !== 'string') problems.push('no X-Request-Id')
    if (res.headers['x-content-type-options'] !== 'nosniff') problems.push('no X-Content-Type-Options: nosniff')
    if (res.headers['x-frame-options'] !== 'DENY') problems.push('no X-Frame-Options: DENY')
    if (!/^\d+(\.\d+)?$/.test(String(res.headers['x-response-time']))) problems.push('no X-Response-Time')
    return problems
  }

  private bodyProblems (res: ObservedResponse, content: Record<string, MediaType> | undefined): string[] {
    const body = decoded(res)
    if (content === undefined || Object.keys(content).length === 0) {
      return body.length === 0 ? [] : [`a body (${body.length} bytes) where the document declares none`]
    }
    const type = String(res.headers['content-type'] ?? '').split(';')[0]!.trim()
    const media = content[type]
    if (media === undefined) return [`content type "${type}" is not declared (declared: ${Object.keys(content).join(', ')})`]
    if (!type.endsWith('json') || media.schema === undefined) return []
    let value: unknown
    try {
      value = JSON.parse(body.toString('utf8'))
    } catch {
      return ['the body is not JSON']
    }
    const validate = this.validator(media.schema)
    if (validate(value)) return []
    return (validate.errors ?? []).slice(0, 3).map((e) => `body${e.instancePath} ${e.message ?? 'is invalid'} (${JSON.stringify(e.params)})`)
  }

  private validator (schema: unknown): ValidateFunction {
    let validate = this.validators.get(schema)
    if (validate === undefined) {
      validate = this.ajv.compile(schema as object)
      this.validators.set(schema, validate)
    }
    return validate
  }

  /** Throws (and records for the exit check) when the document does not allow the response. */
  assert (res: ObservedResponse): void {
    const problems = this.problems(res)
    if (problems.length === 0) return
    const line = `${res.method} ${res.url} → ${res.statusCode}: ${problems.join('; ')}`
    mismatches.push(line)
    throw new Error(`response does not match the OpenAPI document: ${line}`)
  }
}

function decoded (res: ObservedResponse): Buffer {
  switch (res.headers['content-encoding']) {
    case 'br': return zlib.brotliDecompressSync(res.body)
    case 'gzip': return zlib.gunzipSync(res.body)
    case 'deflate': return zlib.inflateSync(res.body)
    default: return res.body
  }
}

const oracles = new WeakMap<FastifyInstance, ApiOracle>()

function oracleOf (app: FastifyInstance): ApiOracle {
  let oracle = oracles.get(app)
  if (oracle === undefined) {
    oracle = new ApiOracle(app.swagger() as unknown as Document)
    oracles.set(app, oracle)
  }
  return oracle
}

/** Checks every promise-style app.inject() of this app against its own document. */
export function withOracle<T extends FastifyInstance> (app: T): T {
  const inject = app.inject.bind(app) as (options: InjectOptions | string) => Promise<LightMyRequestResponse>
  const checked = async (options: InjectOptions | string): Promise<LightMyRequestResponse> => {
    const res = await inject(options)
    const request = typeof options === 'string' ? { method: 'GET', url: options } : options
    const url = typeof request.url === 'string' ? request.url : String(request.path ?? '/')
    oracleOf(app).assert({ method: String(request.method ?? 'GET'), url, statusCode: res.statusCode, headers: res.headers, body: res.rawPayload })
    return res
  }
  // Only the promise form is checked; the chained and callback forms pass through.
  const passThrough = inject as (...a: unknown[]) => unknown
  app.inject = ((...args: unknown[]) => (args.length === 1 ? checked(args[0] as InjectOptions) : passThrough(...args))) as typeof app.inject
  return app
}

/** For tests that talk to the app over a socket. */
export function checkSocketResponse (app: FastifyInstance, res: ObservedResponse): void {
  oracleOf(app).assert(res)
}
