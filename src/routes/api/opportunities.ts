import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { withEtag } from '../../lib/etag'
import { STAGES } from '../../services/opportunities'
import type { Services } from '../../plugins/app/services'
import { commonErrors, DateTime, ErrorResponse, IdParams, IfMatchHeaders, Nullable, PageOf, PageQuery, Uuid } from '../../schemas/common'

const Stage = Type.Enum([...STAGES])
// numeric(14,2): up to 12 integer digits and 2 decimals, as a decimal string
// or a JSON number. JSON Schema applies `pattern` to strings only and
// minimum, maximum and multipleOf to numbers only, so one schema constrains
// both forms alike (multipleOf is decided in decimal: lib/validator.ts).
const MONEY_PATTERN = '^(0|[1-9][0-9]{0,11})(\\.[0-9]{1,2})?$'
const Money = Type.Unsafe<string | number>({
  type: ['string', 'number'],
  pattern: MONEY_PATTERN,
  minimum: 0,
  maximum: 999_999_999_999.99,
  multipleOf: 0.01,
  description: 'decimal with at most two places, as a string ("125000.00") or a number'
})

/** The decimal text of a validated `value` (bodies are not type-coerced: see lib/validator.ts). */
function moneyText<T extends { value?: string | number }> (body: T): Omit<T, 'value'> & { value?: string } {
  if (typeof body.value !== 'number') return body as Omit<T, 'value'> & { value?: string }
  // A number the schema admits prints as plain decimals (no exponent below 1e21 and above 1e-7).
  return { ...body, value: String(body.value) }
}
// Years 1000–9999: beyond them JavaScript and PostgreSQL disagree on what a date is.
const CalendarDate = Type.String({ format: 'date', pattern: '^[1-9][0-9]{3}-', description: 'YYYY-MM-DD' })

const Opportunity = Type.Object({
  id: Uuid,
  organizationId: Uuid,
  name: Type.String(),
  stage: Stage,
  value: Type.String({ description: 'two-place decimal string, e.g. "125000.00"' }),
  closeDate: Type.Optional(CalendarDate),
  createdAt: DateTime,
  updatedAt: DateTime
})

const Name = Type.String({ minLength: 1, maxLength: 255 })
const optionalFields = {
  stage: Type.Optional(Stage),
  value: Type.Optional(Money),
  closeDate: Type.Optional(Nullable(CalendarDate))
}
const CreateBody = Type.Object({ name: Name, ...optionalFields }, { additionalProperties: false })
const UpdateBody = Type.Object({ name: Type.Optional(Name), ...optionalFields }, { additionalProperties: false, minProperties: 1 })

const tags = ['opportunities']
const security = [{ bearerAuth: [] }]

const opportunityRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { opportunities } = services

  app.get('/organizations/:id/opportunities', {
    schema: {
      tags, security, summary: 'List an organization\'s opportunities, newest first',
      params: IdParams,
      querystring: Type.Object({ stage: Type.Optional(Stage), ...PageQuery }, { additionalProperties: false }),
      response: { 200: PageOf(Opportunity), ...commonErrors }
    }
  }, async (request) => await opportunities.list(request.caller, request.params.id, request.query))

  app.post('/organizations/:id/opportunities', {
    schema: {
      tags, security, summary: 'Open an opportunity on an organization',
      params: IdParams,
      body: CreateBody,
      response: { 201: Opportunity, ...commonErrors }
    }
  }, async (request, reply) => {
    const created = await opportunities.create(request.caller, request.params.id, moneyText(request.body), request.touchedOwners)
    void reply.code(201).header('location', `${app.prefix}/opportunities/${created.id}`)
    return withEtag(reply, created)
  })

  app.get('/opportunities/:id', {
    schema: {
      tags, security, summary: 'Read an opportunity (strong ETag)',
      params: IdParams,
      response: { 200: Opportunity, ...commonErrors }
    }
  }, async (request, reply) => {
    const opportunity = await opportunities.get(request.caller, request.params.id)
    return withEtag(reply, opportunity)
  })

  app.patch('/opportunities/:id', {
    schema: {
      tags, security, summary: 'Update an opportunity, stage included (If-Match: 412 when changed since)',
      params: IdParams,
      headers: IfMatchHeaders,
      body: UpdateBody,
      response: { 200: Opportunity, 412: ErrorResponse, ...commonErrors }
    }
  }, async (request, reply) => {
    const updated = await opportunities.update(request.caller, request.params.id, moneyText(request.body), request.headers['if-match'], request.touchedOwners)
    return withEtag(reply, updated)
  })
}

export default opportunityRoutes
