-- An admin's list, sort=name.
-- Alone in its migration: CREATE INDEX CONCURRENTLY cannot run in a transaction.
CREATE INDEX CONCURRENTLY idx_organizations_name
  ON organizations (lower(name), id) WHERE is_deleted = FALSE;
