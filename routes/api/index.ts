// Everything under /api/v1: authenticated, encapsulated, one plugin per area.
import type { FastifyPluginAsync } from 'fastify'
import adminRoutes from './admin'
import contactRoutes from './contacts'
import dashboardRoutes from './dashboard'
import interactionRoutes from './interactions'
import opportunityRoutes from './opportunities'
import organizationRoutes from './organizations'
import { createServices } from './services'
import userRoutes from './users'

const api: FastifyPluginAsync = async (app) => {
  app.addHook('onRequest', app.authenticate)
  const services = createServices(app)
  await app.register(userRoutes, { services })
  await app.register(organizationRoutes, { services })
  await app.register(contactRoutes, { services })
  await app.register(interactionRoutes, { services })
  await app.register(opportunityRoutes, { services })
  await app.register(dashboardRoutes, { services })
  await app.register(adminRoutes)
}

export default api
