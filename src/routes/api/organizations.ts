import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { withEtag } from '../../lib/etag'
import { commonErrors, ErrorResponse, IdParams, IfMatchHeaders, PageOf } from '../../schemas/common'
import { Organization, OrganizationCreate, OrganizationListItem, OrganizationListQuery, OrganizationUpdate } from '../../schemas/organizations'

const tags = ['organizations']
const security = [{ bearerAuth: [] }]

const organizationRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { organizations } = app.services

  app.get('/organizations', {
    schema: {
      tags,
      security,
      summary: 'List organizations (sort=priority: A first, then newest; or by name, or most recently changed)',
      querystring: OrganizationListQuery,
      response: { 200: PageOf(OrganizationListItem), ...commonErrors }
    }
  }, async (request) => await organizations.list(request.caller, request.query))

  app.post('/organizations', {
    schema: {
      tags,
      security,
      summary: 'Create an organization (assigned to the caller unless an admin says otherwise)',
      body: OrganizationCreate,
      response: { 201: Organization, 403: ErrorResponse, ...commonErrors }
    }
  }, async (request, reply) => {
    const created = reply.written(await organizations.create(request.caller, request.body))
    void reply.code(201).header('location', `${app.prefix}/organizations/${created.id}`)
    return withEtag(reply, created)
  })

  app.get('/organizations/:id', {
    schema: {
      tags,
      security,
      summary: 'Read an organization with its counts (strong ETag)',
      params: IdParams,
      response: { 200: Organization, ...commonErrors }
    }
  }, async (request, reply) => withEtag(reply, await organizations.get(request.caller, request.params.id)))

  app.patch('/organizations/:id', {
    schema: {
      tags,
      security,
      summary: 'Update some fields (If-Match: 412 when changed since)',
      params: IdParams,
      headers: IfMatchHeaders,
      body: OrganizationUpdate,
      response: { 200: Organization, 403: ErrorResponse, 412: ErrorResponse, ...commonErrors }
    }
  }, async (request, reply) => {
    const updated = reply.written(await organizations.update(request.caller, request.params.id, request.body, request.headers['if-match']))
    return withEtag(reply, updated)
  })

  app.delete('/organizations/:id', {
    schema: {
      tags,
      security,
      summary: 'Soft-delete an organization',
      params: IdParams,
      response: { 204: Type.Null(), ...commonErrors }
    }
  }, async (request, reply) => {
    reply.written(await organizations.softDelete(request.caller, request.params.id))
    return await reply.code(204).send(null)
  })
}

export default organizationRoutes
