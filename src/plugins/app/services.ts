// The services, built once from the database and shared by the routes, the
// authentication and the dashboard timer: every database access of the
// application goes through them.
import fp from 'fastify-plugin'
import { CursorCodec } from '../../lib/cursor'
import { ContactService } from '../../services/contacts'
import { DashboardService } from '../../services/dashboard'
import { Lists } from '../../services/listing'
import { InteractionService } from '../../services/interactions'
import { OpportunityService } from '../../services/opportunities'
import { OrganizationService } from '../../services/organizations'
import { UserService } from '../../services/users'

export interface Services {
  organizations: OrganizationService
  contacts: ContactService
  interactions: InteractionService
  opportunities: OpportunityService
  users: UserService
  dashboard: DashboardService
}

declare module 'fastify' {
  interface FastifyInstance {
    services: Services
  }
}

export default fp(async (app) => {
  // Reads of GETs the read-replica plugin routes go to the replica through this client.
  const prisma = app.readReplica.prisma
  const { url, ssl, connectTimeoutMs } = app.db.config
  // Keyset cursors are signed with a key derived from JWT_SECRET: valid on every instance.
  const lists = new Lists(new CursorCodec(app.config.jwtSecret))
  const organizations = new OrganizationService(prisma, lists)
  app.decorate('services', {
    organizations,
    contacts: new ContactService(prisma, organizations, lists),
    interactions: new InteractionService(prisma, organizations, lists),
    opportunities: new OpportunityService(prisma, organizations, lists),
    users: new UserService(prisma),
    // Its refresh holds a session-level advisory lock on a connection of its own.
    dashboard: new DashboardService(prisma, { url, ssl, connectTimeoutMs })
  })
}, { name: 'services', dependencies: ['config', 'db', 'read-replica'] })
