import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { withEtag } from '../../lib/etag'
import { commonErrors, ErrorResponse, IdParams, IfMatchHeaders, PageOf } from '../../schemas/common'
import { Contact, ContactCreate, ContactListItem, ContactListQuery, ContactUpdate } from '../../schemas/contacts'

const tags = ['contacts']
const security = [{ bearerAuth: [] }]

const contactRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { contacts } = app.services

  app.get('/organizations/:id/contacts', {
    schema: {
      tags,
      security,
      summary: 'List an organization\'s contacts, newest first',
      params: IdParams,
      querystring: ContactListQuery,
      response: { 200: PageOf(ContactListItem), ...commonErrors }
    }
  }, async (request) => await contacts.list(request.caller, request.params.id, request.query))

  app.post('/organizations/:id/contacts', {
    schema: {
      tags,
      security,
      summary: 'Add a contact to an organization',
      params: IdParams,
      body: ContactCreate,
      response: { 201: Contact, ...commonErrors }
    }
  }, async (request, reply) => {
    const created = reply.written(await contacts.create(request.caller, request.params.id, request.body))
    void reply.code(201).header('location', `${app.prefix}/contacts/${created.id}`)
    return withEtag(reply, created)
  })

  app.get('/contacts/:id', {
    schema: {
      tags,
      security,
      summary: 'Read a contact (strong ETag)',
      params: IdParams,
      response: { 200: Contact, ...commonErrors }
    }
  }, async (request, reply) => withEtag(reply, await contacts.get(request.caller, request.params.id)))

  app.patch('/contacts/:id', {
    schema: {
      tags,
      security,
      summary: 'Update some fields of a contact (If-Match: 412 when changed since)',
      params: IdParams,
      headers: IfMatchHeaders,
      body: ContactUpdate,
      response: { 200: Contact, 412: ErrorResponse, ...commonErrors }
    }
  }, async (request, reply) => {
    const updated = reply.written(await contacts.update(request.caller, request.params.id, request.body, request.headers['if-match']))
    return withEtag(reply, updated)
  })

  app.delete('/contacts/:id', {
    schema: {
      tags,
      security,
      summary: 'Soft-delete a contact',
      params: IdParams,
      response: { 204: Type.Null(), ...commonErrors }
    }
  }, async (request, reply) => {
    reply.written(await contacts.softDelete(request.caller, request.params.id))
    return await reply.code(204).send(null)
  })
}

export default contactRoutes
