-- An admin's list, sort=priority (the default).
-- Alone in its migration: CREATE INDEX CONCURRENTLY cannot run in a transaction.
CREATE INDEX CONCURRENTLY idx_organizations_priority_keyset
  ON organizations (priority_level, crm_newest_first(created_at), id) WHERE is_deleted = FALSE;
