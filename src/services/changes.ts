// What a write changed: every write method of a service returns its value
// together with these records, so one mechanism (the response cache's
// invalidation, and later the change feed) learns what changed without any
// service or route mutating shared request state.

export type ChangedEntity = 'organization' | 'contact' | 'interaction' | 'opportunity' | 'user'
export type ChangeOp = 'create' | 'update' | 'delete'

export interface Change {
  entity: ChangedEntity
  id: string
  op: ChangeOp
  /** The organization the row belongs to (the row itself for an organization). */
  organizationId?: string
  /**
   * Users whose views the change alters, lower-cased: the organization's
   * owner, both owners of a reassignment, a user record's own user.
   */
  owners: readonly string[]
}

export interface Written<T> {
  value: T
  changes: readonly Change[]
}

/** A change, with its owners lower-cased and deduplicated (uuids compare case-insensitively). */
export function change (entity: ChangedEntity, op: ChangeOp, id: string, owners: readonly string[], organizationId?: string): Change {
  return { entity, op, id, owners: [...new Set(owners.map((owner) => owner.toLowerCase()))], ...(organizationId !== undefined ? { organizationId } : {}) }
}

export function written<T> (value: T, ...changes: Change[]): Written<T> {
  return { value, changes }
}
