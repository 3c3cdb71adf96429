// Opportunities: deals of an organization, through their stages.
import { Type, type Static } from 'typebox'
import { DateTime, FieldsQuery, ListQuery, Nullable, PageQuery, Projectable, Uuid } from './common'

export const STAGES = ['prospecting', 'qualification', 'proposal', 'negotiation', 'closed-won', 'closed-lost'] as const
export const Stage = Type.Enum([...STAGES])
export type Stage = typeof STAGES[number]

// numeric(14,2): up to 12 integer digits and 2 decimals, as a decimal string
// or a JSON number. JSON Schema applies `pattern` to strings only and
// minimum, maximum and multipleOf to numbers only, so one schema constrains
// both forms alike (multipleOf is decided in decimal: lib/validator.ts).
const Money = Type.Unsafe<string | number>({
  type: ['string', 'number'],
  pattern: '^(0|[1-9][0-9]{0,11})(\\.[0-9]{1,2})?$',
  minimum: 0,
  maximum: 999_999_999_999.99,
  multipleOf: 0.01,
  description: 'decimal with at most two places, as a string ("125000.00") or a number'
})

// Years 1000–9999: beyond them JavaScript and PostgreSQL disagree on what a date is.
const CalendarDate = Type.String({ format: 'date', pattern: '^[1-9][0-9]{3}-', description: 'YYYY-MM-DD' })

export const Opportunity = Type.Object({
  id: Uuid,
  organizationId: Uuid,
  name: Type.String(),
  stage: Stage,
  value: Type.String({ description: 'two-place decimal string, e.g. "125000.00"' }),
  closeDate: Type.Optional(CalendarDate),
  createdAt: DateTime,
  updatedAt: DateTime
})
export type Opportunity = Static<typeof Opportunity>

const Name = Type.String({ minLength: 1, maxLength: 255 })
const optionalFields = {
  stage: Type.Optional(Stage),
  value: Type.Optional(Money),
  closeDate: Type.Optional(Nullable(CalendarDate))
}

export const OpportunityCreate = Type.Object({ name: Name, ...optionalFields }, { additionalProperties: false })
export type OpportunityCreate = Static<typeof OpportunityCreate>

export const OpportunityUpdate = Type.Object({ name: Type.Optional(Name), ...optionalFields }, { additionalProperties: false, minProperties: 1 })
export type OpportunityUpdate = Static<typeof OpportunityUpdate>

/** The names fields= takes. */
export const OPPORTUNITY_FIELDS = Object.keys(Opportunity.properties) as Array<keyof Opportunity>

export const OpportunityListQuery = Type.Object({
  stage: Type.Optional(Stage),
  ...PageQuery,
  ...ListQuery,
  fields: FieldsQuery(OPPORTUNITY_FIELDS)
}, { additionalProperties: false })
export type OpportunityListQuery = Static<typeof OpportunityListQuery>

export const OpportunityListItem = Projectable(Opportunity, 'An opportunity (with fields=: only those fields and id)')
