// The request validator of every route (Fastify's schemaController): ajv as
// Fastify builds it, with three corrections that hold for all routes at once.
//
// 1. Query strings, params and headers are text, so their values are coerced
//    to the schema's types; JSON bodies are not (`{"isActive": null}` is a
//    400, not a silent false).
// 2. Coerced numbers must be finite. ajv's coercion turns "Infinity", "-Infinity"
//    and "1e309" into non-finite numbers that then pass `integer`, `minimum`
//    and `maximum` (ajv-validator/ajv#2212, fastify/fastify#6718; the upstream
//    fixes, ajv PRs #2626 and #2661, are still open). A coerced part whose
//    value holds a non-finite number is refused here, naming the field.
// 3. `multipleOf` is decided in decimal, as JSON Schema defines it, not in
//    binary floating point, where 0.3 is not a multiple of 0.01.
import AjvCompiler, { type ValidatorFactory } from '@fastify/ajv-compiler'
import type { FastifyServerOptions } from 'fastify'

interface ValidationError { keyword: string; instancePath: string; schemaPath: string; params: Record<string, unknown>; message: string }
type Validate = ((data: unknown) => boolean) & { errors?: ValidationError[] | null }
type RouteValidator = (route: { schema: unknown; httpPart?: string }) => Validate

/** The path (ajv's instancePath form, e.g. "/limit") of the first non-finite number in a coerced value. */
function nonFinitePath (value: unknown, path = ''): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : path
  if (value === null || typeof value !== 'object') return undefined
  for (const [key, child] of Object.entries(value)) {
    const found = nonFinitePath(child, `${path}/${key}`)
    if (found !== undefined) return found
  }
  return undefined
}

function finiteOnly (validate: Validate): Validate {
  const checked: Validate = (data) => {
    if (!validate(data)) {
      checked.errors = validate.errors
      return false
    }
    const path = nonFinitePath(data)
    checked.errors = path === undefined
      ? null
      : [{ keyword: 'finite', instancePath: path, schemaPath: '#/finite', params: {}, message: 'must be a finite number' }]
    return path === undefined
  }
  return checked
}

/** A decimal number's digits as an integer and its count of decimal places: "12.5e-1" → [125n, 2]. */
function decimal (value: number): [bigint, number] {
  const [mantissa = '0', exponent = '0'] = String(value).toLowerCase().split('e')
  const [whole = '0', fraction = ''] = mantissa.split('.')
  let places = fraction.length - Number(exponent)
  let digits = BigInt(whole + fraction)
  if (places < 0) {
    digits *= 10n ** BigInt(-places)
    places = 0
  }
  return [digits, places]
}

/** True when `value` is an integer multiple of `divisor`, both read as the decimals JSON wrote. */
function isDecimalMultiple (value: number, divisor: number): boolean {
  if (!Number.isFinite(value) || !Number.isFinite(divisor) || divisor <= 0) return false
  const [v, vp] = decimal(value)
  const [d, dp] = decimal(divisor)
  const places = Math.max(vp, dp)
  return (v * 10n ** BigInt(places - vp)) % (d * 10n ** BigInt(places - dp)) === 0n
}

// ajv-formats' uuid also accepts a "urn:uuid:" prefix, which PostgreSQL
// rejects (a 500): only the bare 8-4-4-4-12 form is a uuid here.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

type Ajv = Parameters<NonNullable<NonNullable<FastifyServerOptions['ajv']>['onCreate']>>[0]

function configureAjv (ajv: Ajv): void {
  ajv.addFormat('uuid', UUID)
  ajv.removeKeyword('multipleOf')
  ajv.addKeyword({
    keyword: 'multipleOf',
    type: 'number',
    schemaType: 'number',
    validate: function multipleOf (divisor: number, value: number): boolean {
      const ok = isDecimalMultiple(value, divisor)
      // Without instancePath: ajv fills in the value's own path.
      ;(multipleOf as unknown as { errors: unknown }).errors = ok ? null : [{ keyword: 'multipleOf', params: { multipleOf: divisor }, message: `must be a multiple of ${divisor}` }]
      return ok
    }
  })
}

/** Fastify's `ajv` option: the options both validators share. */
export const ajvOptions: NonNullable<FastifyServerOptions['ajv']> = {
  customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false, allowUnionTypes: true },
  onCreate: configureAjv
}

const ajvCompilers = AjvCompiler()

/** Fastify's schemaController.compilersFactory.buildValidator: see the header. */
export const buildValidator = ((externalSchemas: Record<string, unknown>, options?: { customOptions?: Record<string, unknown> }) => {
  const coercing = ajvCompilers(externalSchemas as never, options as never) as unknown as RouteValidator
  const strictOptions = { ...options, customOptions: { ...options?.customOptions, coerceTypes: false } }
  const strict = ajvCompilers(externalSchemas as never, strictOptions as never) as unknown as RouteValidator
  return (route: { schema: unknown; httpPart?: string }) => route.httpPart === 'body' ? strict(route) : finiteOnly(coercing(route))
}) as unknown as ValidatorFactory
