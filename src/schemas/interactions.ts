// Interactions: an append-only log per organization.
import { Type, type Static } from 'typebox'
import { DateTime, FieldsQuery, ListQuery, PageQuery, Projectable, Uuid } from './common'

export const InteractionType = Type.Enum(['call', 'email', 'meeting', 'note'])

export const Interaction = Type.Object({
  id: Uuid,
  organizationId: Uuid,
  contactId: Type.Optional(Uuid),
  userId: { ...Uuid, description: 'who logged it' },
  type: InteractionType,
  subject: Type.String(),
  notes: Type.Optional(Type.String()),
  createdAt: DateTime
})
export type Interaction = Static<typeof Interaction>

export const InteractionCreate = Type.Object({
  type: InteractionType,
  subject: Type.String({ minLength: 1, maxLength: 255 }),
  notes: Type.Optional(Type.String({ maxLength: 100_000 })),
  contactId: Type.Optional(Uuid)
}, { additionalProperties: false })
export type InteractionCreate = Static<typeof InteractionCreate>

/** The names fields= takes. */
export const INTERACTION_FIELDS = Object.keys(Interaction.properties) as Array<keyof Interaction>

export const InteractionListQuery = Type.Object({
  since: Type.Optional(Type.String({ format: 'date-time', description: 'only interactions at or after this instant (years 1000–9999)' })),
  ...PageQuery,
  ...ListQuery,
  fields: FieldsQuery(INTERACTION_FIELDS)
}, { additionalProperties: false })
export type InteractionListQuery = Static<typeof InteractionListQuery>

export const InteractionListItem = Projectable(Interaction, 'An interaction (with fields=: only those fields and id)')
