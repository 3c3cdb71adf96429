// Organizations: what the API answers, what it accepts, how it lists.
import { Type, type Static } from 'typebox'
import { DateTime, Defaulted, Email, FieldsQuery, ListQuery, Nullable, PageQuery, PriorityLevel, Projectable, Uuid } from './common'

const counts = {
  contactCount: Type.Integer({ description: 'non-deleted contacts' }),
  interactionCount: Type.Integer({ description: 'interactions of the last 90 days' }),
  opportunityCount: Type.Integer({ description: 'opportunities not closed' })
}

/** A listing item (and the first fields of the full representation). */
export const OrganizationSummary = Type.Object({
  id: Uuid,
  name: Type.String(),
  industrySegment: Type.Optional(Type.String()),
  priorityLevel: PriorityLevel,
  primaryEmail: Type.Optional(Type.String()),
  primaryPhone: Type.Optional(Type.String()),
  annualRevenue: Type.Optional(Type.Integer()),
  createdAt: DateTime,
  ...counts
})
export type OrganizationSummary = Static<typeof OrganizationSummary>

export const Organization = Type.Object({
  ...OrganizationSummary.properties,
  website: Type.Optional(Type.String()),
  assignedUserId: Uuid,
  updatedAt: DateTime
})
export type Organization = Static<typeof Organization>

// Every field but the name is optional on create and update; nullable ones can be cleared with null.
const optionalFields = {
  industrySegment: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 100 }))),
  priorityLevel: Type.Optional(PriorityLevel),
  primaryEmail: Type.Optional(Nullable(Email)),
  primaryPhone: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 50 }))),
  website: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 255 }))),
  annualRevenue: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }))),
  assignedUserId: Type.Optional(Uuid)
}
const Name = Type.String({ minLength: 1, maxLength: 255 })

export const OrganizationCreate = Type.Object({ name: Name, ...optionalFields }, { additionalProperties: false })
export type OrganizationCreate = Static<typeof OrganizationCreate>

export const OrganizationUpdate = Type.Object({ name: Type.Optional(Name), ...optionalFields }, { additionalProperties: false, minProperties: 1 })
export type OrganizationUpdate = Static<typeof OrganizationUpdate>

/** The names fields= takes. */
export const ORGANIZATION_FIELDS = Object.keys(OrganizationSummary.properties) as Array<keyof OrganizationSummary>

export const OrganizationSort = Type.Enum(['priority', 'name', '-updatedAt'], {
  description: 'priority (default): A first, newest first, then id; name: case-insensitive A to Z, then id; -updatedAt: most recently changed first, then id'
})
export type OrganizationSort = Static<typeof OrganizationSort>

export const OrganizationListQuery = Type.Object({
  industrySegment: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  priorityLevel: Type.Optional(PriorityLevel),
  search: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'case-insensitive substring of the name; % and _ match literally' })),
  assignedUserId: Type.Optional({ ...Uuid, description: 'admins only; members always get their own' }),
  sort: Defaulted(Type.Enum(['priority', 'name', '-updatedAt'], { ...OrganizationSort, default: 'priority' })),
  ...PageQuery,
  ...ListQuery,
  fields: FieldsQuery(ORGANIZATION_FIELDS)
}, { additionalProperties: false })
export type OrganizationListQuery = Static<typeof OrganizationListQuery>

export const OrganizationListItem = Projectable(OrganizationSummary, 'A listed organization (with fields=: only those fields and id)')
