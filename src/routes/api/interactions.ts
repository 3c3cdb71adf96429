import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { commonErrors, IdParams, PageOf } from '../../schemas/common'
import { Interaction, InteractionListItem, InteractionCreate, InteractionListQuery } from '../../schemas/interactions'

const tags = ['interactions']
const security = [{ bearerAuth: [] }]

const interactionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { interactions } = app.services

  app.get('/organizations/:id/interactions', {
    schema: {
      tags,
      security,
      summary: 'List an organization\'s interactions, newest first',
      params: IdParams,
      querystring: InteractionListQuery,
      response: { 200: PageOf(InteractionListItem), ...commonErrors }
    }
  }, async (request) => await interactions.list(request.caller, request.params.id, request.query))

  app.post('/organizations/:id/interactions', {
    schema: {
      tags,
      security,
      summary: 'Log an interaction (by the caller)',
      params: IdParams,
      body: InteractionCreate,
      response: { 201: Interaction, ...commonErrors }
    }
  }, async (request, reply) => {
    const created = reply.written(await interactions.create(request.caller, request.params.id, request.body))
    void reply.code(201)
    return created
  })
}

export default interactionRoutes
