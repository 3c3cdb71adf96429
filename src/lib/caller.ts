/** The authenticated user of a request, as the database knows them (not as the token claims). */
export type Role = 'admin' | 'member'

export interface Caller {
  id: string
  email: string
  name: string
  role: Role
}
