import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { withEtag } from '../../lib/etag'
import { commonErrors, ErrorResponse, IdParams, IfMatchHeaders, PageOf } from '../../schemas/common'
import { Opportunity, OpportunityListItem, OpportunityCreate, OpportunityListQuery, OpportunityUpdate } from '../../schemas/opportunities'

const tags = ['opportunities']
const security = [{ bearerAuth: [] }]

const opportunityRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { opportunities } = app.services

  app.get('/organizations/:id/opportunities', {
    schema: {
      tags,
      security,
      summary: 'List an organization\'s opportunities, newest first',
      params: IdParams,
      querystring: OpportunityListQuery,
      response: { 200: PageOf(OpportunityListItem), ...commonErrors }
    }
  }, async (request) => await opportunities.list(request.caller, request.params.id, request.query))

  app.post('/organizations/:id/opportunities', {
    schema: {
      tags,
      security,
      summary: 'Open an opportunity on an organization',
      params: IdParams,
      body: OpportunityCreate,
      response: { 201: Opportunity, ...commonErrors }
    }
  }, async (request, reply) => {
    const created = reply.written(await opportunities.create(request.caller, request.params.id, request.body))
    void reply.code(201).header('location', `${app.prefix}/opportunities/${created.id}`)
    return withEtag(reply, created)
  })

  app.get('/opportunities/:id', {
    schema: {
      tags,
      security,
      summary: 'Read an opportunity (strong ETag)',
      params: IdParams,
      response: { 200: Opportunity, ...commonErrors }
    }
  }, async (request, reply) => withEtag(reply, await opportunities.get(request.caller, request.params.id)))

  app.patch('/opportunities/:id', {
    schema: {
      tags,
      security,
      summary: 'Update an opportunity, stage included (If-Match: 412 when changed since)',
      params: IdParams,
      headers: IfMatchHeaders,
      body: OpportunityUpdate,
      response: { 200: Opportunity, 412: ErrorResponse, ...commonErrors }
    }
  }, async (request, reply) => {
    const updated = reply.written(await opportunities.update(request.caller, request.params.id, request.body, request.headers['if-match']))
    return withEtag(reply, updated)
  })
}

export default opportunityRoutes
