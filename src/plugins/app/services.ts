import type { FastifyInstance } from 'fastify'
import { ContactService } from '../../services/contacts'
import { DashboardService } from '../../services/dashboard'
import { InteractionService } from '../../services/interactions'
import { OpportunityService } from '../../services/opportunities'
import { OrganizationService } from '../../services/organizations'
import { UserService } from '../../services/users'

/** The API's services, built once from the app's database and handed to each route plugin. */
export interface Services {
  organizations: OrganizationService
  contacts: ContactService
  interactions: InteractionService
  opportunities: OpportunityService
  users: UserService
  dashboard: DashboardService
}

export function createServices (app: FastifyInstance): Services {
  const prisma = app.db.prisma
  const organizations = new OrganizationService(prisma)
  const url = app.config.database.url as string
  return {
    organizations,
    contacts: new ContactService(prisma, organizations),
    interactions: new InteractionService(prisma, organizations),
    opportunities: new OpportunityService(prisma, organizations),
    users: new UserService(prisma),
    dashboard: new DashboardService(prisma, { url, ssl: app.config.database.ssl, connectTimeoutMs: app.config.database.connectTimeoutMs })
  }
}
