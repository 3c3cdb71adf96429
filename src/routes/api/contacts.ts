import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { withEtag } from '../../lib/etag'
import type { Services } from '../../plugins/app/services'
import { commonErrors, DateTime, Email, ErrorResponse, IdParams, IfMatchHeaders, Nullable, PageOf, PageQuery, Uuid } from '../../schemas/common'

const Contact = Type.Object({
  id: Uuid,
  organizationId: Uuid,
  firstName: Type.String(),
  lastName: Type.String(),
  email: Type.Optional(Type.String()),
  phone: Type.Optional(Type.String()),
  title: Type.Optional(Type.String()),
  isPrimary: Type.Boolean({ description: 'at most one primary contact per organization: setting it clears the previous one' }),
  createdAt: DateTime,
  updatedAt: DateTime
})

const PersonName = Type.String({ minLength: 1, maxLength: 100 })
const optionalFields = {
  email: Type.Optional(Nullable(Email)),
  phone: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 50 }))),
  title: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 100 }))),
  isPrimary: Type.Optional(Type.Boolean())
}
const CreateBody = Type.Object({ firstName: PersonName, lastName: PersonName, ...optionalFields }, { additionalProperties: false })
const UpdateBody = Type.Object({ firstName: Type.Optional(PersonName), lastName: Type.Optional(PersonName), ...optionalFields }, { additionalProperties: false, minProperties: 1 })

const tags = ['contacts']
const security = [{ bearerAuth: [] }]

const contactRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { contacts } = services

  app.get('/organizations/:id/contacts', {
    schema: {
      tags, security, summary: 'List an organization\'s contacts, newest first',
      params: IdParams,
      querystring: Type.Object(PageQuery, { additionalProperties: false }),
      response: { 200: PageOf(Contact), ...commonErrors }
    }
  }, async (request) => await contacts.list(request.caller, request.params.id, request.query.limit, request.query.offset))

  app.post('/organizations/:id/contacts', {
    schema: {
      tags, security, summary: 'Add a contact to an organization',
      params: IdParams,
      body: CreateBody,
      response: { 201: Contact, ...commonErrors }
    }
  }, async (request, reply) => {
    const created = await contacts.create(request.caller, request.params.id, request.body, request.touchedOwners)
    void reply.code(201).header('location', `${app.prefix}/contacts/${created.id}`)
    return withEtag(reply, created)
  })

  app.get('/contacts/:id', {
    schema: {
      tags, security, summary: 'Read a contact (strong ETag)',
      params: IdParams,
      response: { 200: Contact, ...commonErrors }
    }
  }, async (request, reply) => {
    const contact = await contacts.get(request.caller, request.params.id)
    return withEtag(reply, contact)
  })

  app.patch('/contacts/:id', {
    schema: {
      tags, security, summary: 'Update some fields of a contact (If-Match: 412 when changed since)',
      params: IdParams,
      headers: IfMatchHeaders,
      body: UpdateBody,
      response: { 200: Contact, 412: ErrorResponse, ...commonErrors }
    }
  }, async (request, reply) => {
    const updated = await contacts.update(request.caller, request.params.id, request.body, request.headers['if-match'], request.touchedOwners)
    return withEtag(reply, updated)
  })

  app.delete('/contacts/:id', {
    schema: {
      tags, security, summary: 'Soft-delete a contact',
      params: IdParams,
      response: { 204: Type.Null(), ...commonErrors }
    }
  }, async (request, reply) => {
    await contacts.softDelete(request.caller, request.params.id, request.touchedOwners)
    return await reply.code(204).send(null)
  })
}

export default contactRoutes
