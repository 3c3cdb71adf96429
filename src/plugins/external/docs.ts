// The OpenAPI document, generated from the route schemas (/docs/json), and
// Swagger UI at /docs. Registered before the routes so it sees all of them.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'

export default fp(async (app) => {
  await app.register(swagger, {
    openapi: {
      // 3.1: nullable request fields are written as JSON Schema type arrays.
      openapi: '3.1.0',
      info: { title: 'CRM service', version: '1.0.0', description: 'Organizations, contacts, interactions, opportunities and a dashboard. Authenticate with `Authorization: Bearer <JWT>`.' },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } }
    }
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
}, { name: 'docs' })
