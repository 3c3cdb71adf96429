// TypeBox schemas shared by the API routes: they validate input, drive the
// fast serializer and make up the OpenAPI document. Optional response fields
// are the ones the contract omits when null (services map NULL to undefined).
import { Type, type TSchema, type Static } from 'typebox'

/** Validated by the strict uuid format app.ts installs (no "urn:uuid:" prefix). */
export const Uuid = Type.String({ format: 'uuid', description: 'UUID' })
/** Serialized from a Date by the response serializer. */
export const DateTime = Type.Unsafe<Date>({ type: 'string', format: 'date-time' })

/** A field a PATCH may clear: `null` or a value. A type array, not anyOf, so ajv's coercion never turns null into "". */
export function Nullable<T extends TSchema> (schema: T): ReturnType<typeof Type.Unsafe<Static<T> | null>> {
  const { type, ...rest } = schema as unknown as { type: string } & Record<string, unknown>
  return Type.Unsafe<Static<T> | null>({ ...rest, type: [type, 'null'] })
}

export const IdParams = Type.Object({ id: Uuid })

/**
 * A query parameter a client may leave out: optional in the document, and
 * always present to the handler, because the validator fills in its default
 * (ajv's useDefaults) before any handler runs.
 */
export function Defaulted<T extends TSchema> (schema: T): T {
  if (!('default' in schema)) throw new Error('Defaulted() needs a schema with a default')
  return Type.Optional(schema) as unknown as T
}

export const PageQuery = {
  limit: Defaulted(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  // PostgreSQL's OFFSET takes an integer.
  offset: Defaulted(Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0 }))
}

export const PageInfo = Type.Object({
  limit: Type.Integer(),
  offset: Type.Integer(),
  hasMore: Type.Boolean({ description: 'true when another page follows' })
})

export function PageOf<T extends TSchema> (item: T) {
  return Type.Object({ data: Type.Array(item), page: PageInfo })
}

export const ErrorResponse = Type.Object({
  statusCode: Type.Integer(),
  error: Type.String(),
  message: Type.String(),
  code: Type.String()
}, { description: 'Error' })

/** The error answers every authenticated route can give, for the OpenAPI document and serializer. */
export const commonErrors = {
  400: ErrorResponse,
  401: ErrorResponse,
  404: ErrorResponse,
  503: ErrorResponse
}

export const IfMatchHeaders = Type.Object({
  'if-match': Type.Optional(Type.String({ description: 'ETag from a previous GET: the update applies only if the resource is unchanged (else 412)' }))
})

export const PriorityLevel = Type.Enum(['A', 'B', 'C', 'D'], { description: 'A is highest' })
export const Email = Type.String({ format: 'email', maxLength: 255 })

/** The query of a list that takes nothing but a page. */
export const PageOnlyQuery = Type.Object(PageQuery, { additionalProperties: false })
export type PageOnlyQuery = Static<typeof PageOnlyQuery>

export type Page = Static<typeof PageInfo>
