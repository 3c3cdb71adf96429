// fast-check arbitraries derived from the JSON Schemas of the OpenAPI
// document: values the schema admits, and near-valid ones (boundaries and one
// past them, non-finite numbers, exponents, huge integers, empty and
// oversized strings, unicode, wrong types), so a property can run against
// every operation the document declares without knowing any of them.
import fc from 'fast-check'

export interface Schema {
  type?: string | string[]
  enum?: unknown[]
  const?: unknown
  format?: string
  pattern?: string
  minimum?: number
  maximum?: number
  exclusiveMinimum?: number
  minLength?: number
  maxLength?: number
  minProperties?: number
  properties?: Record<string, Schema>
  required?: string[]
  items?: Schema
  anyOf?: Schema[]
  oneOf?: Schema[]
  default?: unknown
}

const NUMBER_TEXTS = ['Infinity', '-Infinity', '+Infinity', 'NaN', '1e309', '-1e309', '1e400', '1e2', '2E1', '-0', '0x10', '0b1', '1_000',
  '99999999999999999999', '9007199254740993', '1.5', '.5', '5.', ' 1', '1 ', '', '٣', '１']
const STRING_TEXTS = ['', ' ', '\t', 'ا', '𝒳', '👩‍👩‍👧', 'e\u0301', '\u200b', '\u202e', '%', '_', '\\', "'", '"', '<b>']

function types (schema: Schema): string[] {
  if (Array.isArray(schema.type)) return schema.type
  if (schema.type !== undefined) return [schema.type]
  return []
}

function dateText (): fc.Arbitrary<string> {
  return fc.date({ min: new Date('1000-01-01T00:00:00Z'), max: new Date('9999-12-31T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString())
}

function stringArb (schema: Schema): fc.Arbitrary<string> {
  if (schema.enum !== undefined) return fc.constantFrom(...(schema.enum as string[]))
  switch (schema.format) {
    case 'uuid': return fc.uuid()
    case 'date-time': return dateText()
    case 'date': return dateText().map((text) => text.slice(0, 10))
    case 'email': return fc.emailAddress().filter((email) => email.length <= (schema.maxLength ?? 255))
  }
  if (schema.pattern !== undefined) return fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length <= (schema.maxLength ?? 1000))
  const minLength = schema.minLength ?? 0
  const maxLength = Math.min(schema.maxLength ?? 40, minLength + 40)
  return fc.string({ minLength, maxLength, unit: 'grapheme' }).filter((s) => s.length >= minLength && s.length <= (schema.maxLength ?? Infinity))
}

function numberArb (schema: Schema, integer: boolean): fc.Arbitrary<number> {
  const min = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : -1_000_000)
  const max = Math.min(schema.maximum ?? 1_000_000, Number.MAX_SAFE_INTEGER)
  const whole = fc.integer({ min: Math.ceil(min), max: Math.floor(max) })
  if (integer) return whole
  return fc.integer({ min: Math.ceil(min * 100), max: Math.floor(max * 100) }).map((cents) => cents / 100)
}

/** Values the schema admits. */
export function validValue (schema: Schema): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const)
  const branches = schema.anyOf ?? schema.oneOf
  if (branches !== undefined) return fc.oneof(...branches.map(validValue))
  if (schema.enum !== undefined) return fc.constantFrom(...schema.enum)
  const arbs = types(schema).map((type): fc.Arbitrary<unknown> => {
    switch (type) {
      case 'string': return stringArb(schema)
      case 'integer': return numberArb(schema, true)
      case 'number': return numberArb(schema, false)
      case 'boolean': return fc.boolean()
      case 'null': return fc.constant(null)
      case 'array': return fc.array(validValue(schema.items ?? {}), { maxLength: 3 })
      case 'object': return validObject(schema)
      default: return fc.constant(undefined)
    }
  })
  return arbs.length === 0 ? fc.anything() : fc.oneof(...arbs)
}

function validObject (schema: Schema): fc.Arbitrary<Record<string, unknown>> {
  const properties = schema.properties ?? {}
  const required = schema.required ?? []
  const record = fc.record(Object.fromEntries(Object.entries(properties).map(([key, value]) => [key, validValue(value)])), { requiredKeys: required })
  const minProperties = schema.minProperties ?? 0
  return record.filter((value) => Object.keys(value).length >= minProperties) as fc.Arbitrary<Record<string, unknown>>
}

/** Values just outside the schema, or of the wrong kind: what a careless or hostile client sends. */
export function nearValue (schema: Schema): fc.Arbitrary<unknown> {
  const near: unknown[] = [null, true, [], {}, 'x', 0, -1]
  const kinds = types(schema)
  if (kinds.includes('integer') || kinds.includes('number')) {
    if (schema.minimum !== undefined) near.push(schema.minimum - 1, schema.minimum - 0.5)
    if (schema.maximum !== undefined) near.push(schema.maximum + 1, schema.maximum + 0.001)
    near.push(Number.MAX_SAFE_INTEGER + 2, 1e21, 0.1 + 0.2, 1e-7, ...NUMBER_TEXTS)
  }
  if (kinds.includes('string')) {
    if (schema.maxLength !== undefined) near.push('a'.repeat(schema.maxLength), 'a'.repeat(schema.maxLength + 1), '𝒳'.repeat(schema.maxLength))
    near.push(...STRING_TEXTS, 'not-a-uuid', '00000000-0000-0000-0000-00000000000g', 'urn:uuid:00000000-0000-0000-0000-000000000000',
      '0000-00-00', '2024-02-30', '2024-01-01T25:00:00Z', '10000-01-01')
  }
  return fc.oneof(fc.constantFrom(...near), fc.anything({ maxDepth: 1 }))
}

/** An object body: valid, with one property spoiled, with an unknown property, or without a required one. */
export function bodyValue (schema: Schema): fc.Arbitrary<unknown> {
  const properties = Object.entries(schema.properties ?? {})
  const spoiled = properties.length === 0
    ? fc.constant({})
    : fc.tuple(validObject(schema), fc.constantFrom(...properties)).chain(([base, [key, property]]) =>
      nearValue(property).map((value) => ({ ...base, [key]: value })))
  const extra = validObject(schema).map((base) => ({ ...base, unexpected: 1 }))
  const missing = validObject(schema).map((base) => {
    const copy = { ...base }
    delete copy[schema.required?.[0] ?? '']
    return copy
  })
  return fc.oneof({ weight: 3, arbitrary: validObject(schema) }, { weight: 3, arbitrary: spoiled }, extra, missing, nearValue({ type: 'object' }))
}

/** A query or path parameter's text: a valid value, or a near-valid one. */
export function parameterText (schema: Schema): fc.Arbitrary<string> {
  return fc.oneof({ weight: 3, arbitrary: validValue(schema) }, nearValue(schema))
    .map((value) => (typeof value === 'object' && value !== null) ? JSON.stringify(value) : String(value))
}
