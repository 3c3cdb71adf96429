// TypeBox schemas shared by the API routes: they validate input, drive the
// fast serializer and make up the OpenAPI document. Optional response fields
// are the ones the contract omits when null (services map NULL to undefined).
import { Type, type TObject, type TProperties, type TSchema, type Static } from 'typebox'

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

/** Contract §6: keyset paging and counts on request, for the lists that have them. */
export const ListQuery = {
  cursor: Type.Optional(Type.String({
    minLength: 1,
    maxLength: 2048,
    pattern: '^[A-Za-z0-9_.-]+$',
    description: 'page.nextCursor of the previous page: the rows that follow it (same filters and sort; not with a non-zero offset)'
  })),
  count: Type.Optional(Type.Enum(['exact', 'estimated'], {
    description: 'adds page.total: exact, or estimated from planner statistics when counting would read more than 10,000 rows'
  }))
}
export type CountMode = 'exact' | 'estimated'

/** `fields=`: a comma-separated list of an item's fields; the answer's items hold those and `id`. */
export function FieldsQuery (names: readonly string[]) {
  return Type.Optional(Type.String({
    minLength: 1,
    maxLength: 1024,
    description: `comma-separated item fields to return (id always comes): ${names.join(', ')}`
  }))
}

export const PageInfo = Type.Object({
  limit: Type.Integer(),
  offset: Type.Integer(),
  hasMore: Type.Boolean({ description: 'true when another page follows' }),
  nextCursor: Type.Optional(Type.String({ description: 'present when hasMore: pass it as `cursor` for the next page' })),
  total: Type.Optional(Type.Integer({ minimum: 0, description: 'with count=: the rows matching the filters' })),
  totalIsEstimate: Type.Optional(Type.Boolean({ description: 'with count=estimated: true when total came from planner statistics' }))
})

export function PageOf<T extends TSchema> (item: T) {
  return Type.Object({ data: Type.Array(item), page: PageInfo })
}

/**
 * A list item that `fields=` may project: the same properties, all but `id`
 * optional (a projected answer holds only the fields asked for).
 */
export function Projectable<P extends TProperties> (item: TObject<P>, description: string) {
  const properties = Object.fromEntries(Object.entries(item.properties).map(([name, schema]) =>
    [name, name === 'id' || Type.IsOptional(schema) ? schema : Type.Optional(schema)]))
  return Type.Unsafe<Partial<Static<TObject<P>>> & { id: string }>(Type.Object(properties, { description }))
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
