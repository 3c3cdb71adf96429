import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { withEtag } from '../../lib/etag'
import type { Services } from '../../plugins/app/services'
import { commonErrors, DateTime, Email, ErrorResponse, IdParams, IfMatchHeaders, Nullable, PageOf, PageQuery, PriorityLevel, Uuid } from '../../schemas/common'

const counts = {
  contactCount: Type.Integer({ description: 'non-deleted contacts' }),
  interactionCount: Type.Integer({ description: 'interactions of the last 90 days' }),
  opportunityCount: Type.Integer({ description: 'opportunities not closed' })
}

const OrganizationSummary = Type.Object({
  id: Uuid,
  name: Type.String(),
  industrySegment: Type.Optional(Type.String()),
  priorityLevel: PriorityLevel,
  primaryEmail: Type.Optional(Type.String()),
  primaryPhone: Type.Optional(Type.String()),
  annualRevenue: Type.Optional(Type.Integer()),
  createdAt: DateTime,
  ...counts
})

const Organization = Type.Object({
  ...OrganizationSummary.properties,
  website: Type.Optional(Type.String()),
  assignedUserId: Uuid,
  updatedAt: DateTime
})

// Every field but the name is optional on create and update; nullable ones can be cleared with null.
const optionalFields = {
  industrySegment: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 100 }))),
  priorityLevel: Type.Optional(PriorityLevel),
  primaryEmail: Type.Optional(Nullable(Email)),
  primaryPhone: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 50 }))),
  website: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 255 }))),
  annualRevenue: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }))),
  assignedUserId: Type.Optional(Uuid)
}
const Name = Type.String({ minLength: 1, maxLength: 255 })
const CreateBody = Type.Object({ name: Name, ...optionalFields }, { additionalProperties: false })
const UpdateBody = Type.Object({ name: Type.Optional(Name), ...optionalFields }, { additionalProperties: false, minProperties: 1 })

const ListQuery = Type.Object({
  industrySegment: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  priorityLevel: Type.Optional(PriorityLevel),
  search: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'case-insensitive substring of the name; % and _ match literally' })),
  assignedUserId: Type.Optional({ ...Uuid, description: 'admins only; members always get their own' }),
  ...PageQuery
}, { additionalProperties: false })

const tags = ['organizations']
const security = [{ bearerAuth: [] }]

const organizationRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { organizations } = services

  app.get('/organizations', {
    schema: {
      tags, security, summary: 'List organizations (priority A first, then newest)',
      querystring: ListQuery,
      response: { 200: PageOf(OrganizationSummary), ...commonErrors }
    }
  }, async (request) => await organizations.list(request.caller, request.query))

  app.post('/organizations', {
    schema: {
      tags, security, summary: 'Create an organization (assigned to the caller unless an admin says otherwise)',
      body: CreateBody,
      response: { 201: Organization, 403: ErrorResponse, ...commonErrors }
    }
  }, async (request, reply) => {
    const created = await organizations.create(request.caller, request.body, request.touchedOwners)
    void reply.code(201).header('location', `${app.prefix}/organizations/${created.id}`)
    return withEtag(reply, created)
  })

  app.get('/organizations/:id', {
    schema: {
      tags, security, summary: 'Read an organization with its counts (strong ETag)',
      params: IdParams,
      response: { 200: Organization, ...commonErrors }
    }
  }, async (request, reply) => {
    const organization = await organizations.get(request.caller, request.params.id)
    return withEtag(reply, organization)
  })

  app.patch('/organizations/:id', {
    schema: {
      tags, security, summary: 'Update some fields (If-Match: 412 when changed since)',
      params: IdParams,
      headers: IfMatchHeaders,
      body: UpdateBody,
      response: { 200: Organization, 403: ErrorResponse, 412: ErrorResponse, ...commonErrors }
    }
  }, async (request, reply) => {
    const updated = await organizations.update(request.caller, request.params.id, request.body, request.headers['if-match'], request.touchedOwners)
    return withEtag(reply, updated)
  })

  app.delete('/organizations/:id', {
    schema: {
      tags, security, summary: 'Soft-delete an organization',
      params: IdParams,
      response: { 204: Type.Null(), ...commonErrors }
    }
  }, async (request, reply) => {
    await organizations.softDelete(request.caller, request.params.id, request.touchedOwners)
    return await reply.code(204).send(null)
  })
}

export default organizationRoutes
