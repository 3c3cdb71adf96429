import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { InvalidFieldError } from '../../lib/http-errors'
import type { Services } from '../../plugins/app/services'
import { commonErrors, DateTime, IdParams, PageOf, PageQuery, Uuid } from '../../schemas/common'

const InteractionType = Type.Enum(['call', 'email', 'meeting', 'note'])

const Interaction = Type.Object({
  id: Uuid,
  organizationId: Uuid,
  contactId: Type.Optional(Uuid),
  userId: { ...Uuid, description: 'who logged it' },
  type: InteractionType,
  subject: Type.String(),
  notes: Type.Optional(Type.String()),
  createdAt: DateTime
})

const CreateBody = Type.Object({
  type: InteractionType,
  subject: Type.String({ minLength: 1, maxLength: 255 }),
  notes: Type.Optional(Type.String({ maxLength: 100_000 })),
  contactId: Type.Optional(Uuid)
}, { additionalProperties: false })

const ListQuery = Type.Object({
  since: Type.Optional(Type.String({ format: 'date-time', description: 'only interactions at or after this instant (years 1000–9999)' })),
  ...PageQuery
}, { additionalProperties: false })

const tags = ['interactions']
const security = [{ bearerAuth: [] }]

const interactionRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { interactions } = services

  app.get('/organizations/:id/interactions', {
    schema: {
      tags, security, summary: 'List an organization\'s interactions, newest first',
      params: IdParams,
      querystring: ListQuery,
      response: { 200: PageOf(Interaction), ...commonErrors }
    }
  }, async (request) => {
    const { since } = request.query
    // The date-time format admits what JavaScript cannot parse (a leap second
    // :60, an hour-only offset +01) and year 0000, which PostgreSQL lacks:
    // either would reach the database as an error (a 500).
    if (since !== undefined && (Number.isNaN(Date.parse(since)) || !/^[1-9]/.test(since))) {
      throw new InvalidFieldError('querystring.since', 'must be a date-time in the years 1000–9999')
    }
    return await interactions.list(request.caller, request.params.id, request.query)
  })

  app.post('/organizations/:id/interactions', {
    schema: {
      tags, security, summary: 'Log an interaction (by the caller)',
      params: IdParams,
      body: CreateBody,
      response: { 201: Interaction, ...commonErrors }
    }
  }, async (request, reply) => {
    const created = await interactions.create(request.caller, request.params.id, request.body, request.touchedOwners)
    void reply.code(201)
    return created
  })
}

export default interactionRoutes
