// Contacts of an organization.
import { Type, type Static } from 'typebox'
import { DateTime, Email, FieldsQuery, ListQuery, Nullable, PageQuery, Projectable, Uuid } from './common'

export const Contact = Type.Object({
  id: Uuid,
  organizationId: Uuid,
  firstName: Type.String(),
  lastName: Type.String(),
  email: Type.Optional(Type.String()),
  phone: Type.Optional(Type.String()),
  title: Type.Optional(Type.String()),
  isPrimary: Type.Boolean({ description: 'at most one primary contact per organization: setting it clears the previous one' }),
  createdAt: DateTime,
  updatedAt: DateTime
})
export type Contact = Static<typeof Contact>

const PersonName = Type.String({ minLength: 1, maxLength: 100 })
const optionalFields = {
  email: Type.Optional(Nullable(Email)),
  phone: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 50 }))),
  title: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 100 }))),
  isPrimary: Type.Optional(Type.Boolean())
}

export const ContactCreate = Type.Object({ firstName: PersonName, lastName: PersonName, ...optionalFields }, { additionalProperties: false })
export type ContactCreate = Static<typeof ContactCreate>

export const ContactUpdate = Type.Object({
  firstName: Type.Optional(PersonName),
  lastName: Type.Optional(PersonName),
  ...optionalFields
}, { additionalProperties: false, minProperties: 1 })
export type ContactUpdate = Static<typeof ContactUpdate>

/** The names fields= takes. */
export const CONTACT_FIELDS = Object.keys(Contact.properties) as Array<keyof Contact>

export const ContactListQuery = Type.Object({
  ...PageQuery,
  ...ListQuery,
  fields: FieldsQuery(CONTACT_FIELDS)
}, { additionalProperties: false })
export type ContactListQuery = Static<typeof ContactListQuery>

export const ContactListItem = Projectable(Contact, 'A contact (with fields=: only those fields and id)')
