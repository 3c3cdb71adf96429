-- A member's list, sort=name: case-insensitive A to Z, then id.
-- Alone in its migration: CREATE INDEX CONCURRENTLY cannot run in a transaction.
CREATE INDEX CONCURRENTLY idx_organizations_owner_name
  ON organizations (assigned_user_id, lower(name), id) WHERE is_deleted = FALSE;
