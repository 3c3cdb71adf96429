// The dashboard: the caller's row of the dashboard_analytics view.
import { Type, type Static } from 'typebox'
import { DateTime, Uuid } from './common'

export const Dashboard = Type.Object({
  userId: Uuid,
  totalOrganizations: Type.Integer({ description: 'non-deleted organizations assigned to the caller' }),
  highPriorityOrgs: Type.Integer({ description: '... of which priority A' }),
  totalContacts: Type.Integer({ description: 'non-deleted contacts of those organizations' }),
  interactionsThisMonth: Type.Integer({ description: 'interactions on them since the month began' }),
  activeOpportunities: Type.Integer({ description: 'opportunities on them not closed' }),
  wonRevenueThisQuarter: Type.String({ description: 'closed-won value with a close date this quarter, two-place decimal' }),
  refreshedAt: Type.Optional({ ...DateTime, description: 'when the figures were computed (absent before the first refresh)' })
})
export type Dashboard = Static<typeof Dashboard>

export const DashboardRefresh = Type.Object({
  refreshedAt: Type.Optional(DateTime),
  durationMs: Type.Number()
})
export type DashboardRefresh = Static<typeof DashboardRefresh>
