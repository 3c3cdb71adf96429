-- A member's list, sort=priority (the default): priority A first, newest first, then id.
-- Alone in its migration: CREATE INDEX CONCURRENTLY cannot run in a transaction.
CREATE INDEX CONCURRENTLY idx_organizations_owner_priority_keyset
  ON organizations (assigned_user_id, priority_level, crm_newest_first(created_at), id) WHERE is_deleted = FALSE;
