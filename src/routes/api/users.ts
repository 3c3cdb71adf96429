import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { commonErrors, ErrorResponse, IdParams, PageOf, PageOnlyQuery } from '../../schemas/common'
import { User, UserCreate, UserUpdate } from '../../schemas/users'

const tags = ['users']
const security = [{ bearerAuth: [] }]
const adminErrors = { ...commonErrors, 403: ErrorResponse }

const userRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { users } = app.services

  app.get('/users/me', {
    schema: { tags, security, summary: 'The caller', response: { 200: User, ...commonErrors } }
  }, async (request) => await users.get(request.caller.id))

  app.get('/users', {
    onRequest: app.requireAdmin,
    schema: {
      tags,
      security,
      summary: 'List users (admin)',
      querystring: PageOnlyQuery,
      response: { 200: PageOf(User), ...adminErrors }
    }
  }, async (request) => await users.list(request.query.limit, request.query.offset))

  app.post('/users', {
    onRequest: app.requireAdmin,
    schema: {
      tags,
      security,
      summary: 'Create a user (admin)',
      body: UserCreate,
      response: { 201: User, 409: ErrorResponse, ...adminErrors }
    }
  }, async (request, reply) => {
    const created = reply.written(await users.create(request.body))
    void reply.code(201).header('location', `${app.prefix}/users/${created.id}`)
    return created
  })

  app.patch('/users/:id', {
    onRequest: app.requireAdmin,
    schema: {
      tags,
      security,
      summary: 'Update a user, e.g. deactivate with isActive: false (admin)',
      params: IdParams,
      body: UserUpdate,
      response: { 200: User, 409: ErrorResponse, ...adminErrors }
    }
  }, async (request, reply) => {
    const updated = reply.written(await users.update(request.caller, request.params.id, request.body))
    // This instance stops honouring the old role/status at once; others within the cache TTL.
    app.forgetCaller(updated.id)
    return updated
  })
}

export default userRoutes
