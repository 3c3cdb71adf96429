import type { Role } from '../schemas/users'

export type { Role }

/** The authenticated user of a request, as the database knows them (not as the token claims). */
export interface Caller {
  id: string
  email: string
  name: string
  role: Role
}
