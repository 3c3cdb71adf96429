// Users: accounts, administered by admins.
import { Type, type Static } from 'typebox'
import { DateTime, Email, Uuid } from './common'

export const Role = Type.Enum(['admin', 'member'])
export type Role = Static<typeof Role>

export const User = Type.Object({
  id: Uuid,
  email: Type.String(),
  name: Type.String(),
  role: Role,
  isActive: Type.Boolean(),
  createdAt: DateTime,
  updatedAt: DateTime
})
export type User = Static<typeof User>

const Name = Type.String({ minLength: 1, maxLength: 255 })

export const UserCreate = Type.Object({ email: Email, name: Name, role: Type.Optional(Role) }, { additionalProperties: false })
export type UserCreate = Static<typeof UserCreate>

export const UserUpdate = Type.Object({
  email: Type.Optional(Email),
  name: Type.Optional(Name),
  role: Type.Optional(Role),
  isActive: Type.Optional(Type.Boolean({ description: 'false deactivates: the user\'s tokens stop working within 60 s' }))
}, { additionalProperties: false, minProperties: 1 })
export type UserUpdate = Static<typeof UserUpdate>
