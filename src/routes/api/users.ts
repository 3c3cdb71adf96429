import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Services } from '../../plugins/app/services'
import { commonErrors, DateTime, Email, ErrorResponse, IdParams, PageOf, PageQuery, Uuid } from '../../schemas/common'

const Role = Type.Enum(['admin', 'member'])
const User = Type.Object({
  id: Uuid,
  email: Type.String(),
  name: Type.String(),
  role: Role,
  isActive: Type.Boolean(),
  createdAt: DateTime,
  updatedAt: DateTime
})
const Name = Type.String({ minLength: 1, maxLength: 255 })
const CreateBody = Type.Object({ email: Email, name: Name, role: Type.Optional(Role) }, { additionalProperties: false })
const UpdateBody = Type.Object({
  email: Type.Optional(Email),
  name: Type.Optional(Name),
  role: Type.Optional(Role),
  isActive: Type.Optional(Type.Boolean({ description: 'false deactivates: the user\'s tokens stop working within 60 s' }))
}, { additionalProperties: false, minProperties: 1 })

const tags = ['users']
const security = [{ bearerAuth: [] }]
const adminErrors = { ...commonErrors, 403: ErrorResponse }

const userRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { users } = services

  app.get('/users/me', {
    schema: { tags, security, summary: 'The caller', response: { 200: User, ...commonErrors } }
  }, async (request) => await users.get(request.caller.id))

  app.get('/users', {
    onRequest: app.requireAdmin,
    schema: {
      tags, security, summary: 'List users (admin)',
      querystring: Type.Object(PageQuery, { additionalProperties: false }),
      response: { 200: PageOf(User), ...adminErrors }
    }
  }, async (request) => await users.list(request.query.limit, request.query.offset))

  app.post('/users', {
    onRequest: app.requireAdmin,
    schema: {
      tags, security, summary: 'Create a user (admin)',
      body: CreateBody,
      response: { 201: User, 409: ErrorResponse, ...adminErrors }
    }
  }, async (request, reply) => {
    const created = await users.create(request.body)
    request.touchedOwners.add(created.id)
    void reply.code(201).header('location', `${app.prefix}/users/${created.id}`)
    return created
  })

  app.patch('/users/:id', {
    onRequest: app.requireAdmin,
    schema: {
      tags, security, summary: 'Update a user, e.g. deactivate with isActive: false (admin)',
      params: IdParams,
      body: UpdateBody,
      response: { 200: User, 409: ErrorResponse, ...adminErrors }
    }
  }, async (request) => {
    const updated = await users.update(request.caller, request.params.id, request.body)
    request.touchedOwners.add(updated.id)
    // This instance stops honouring the old role/status at once; others within the cache TTL.
    app.forgetCaller(updated.id)
    return updated
  })
}

export default userRoutes
