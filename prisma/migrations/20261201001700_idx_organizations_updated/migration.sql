-- An admin's list, sort=-updatedAt.
-- Alone in its migration: CREATE INDEX CONCURRENTLY cannot run in a transaction.
CREATE INDEX CONCURRENTLY idx_organizations_updated
  ON organizations (crm_newest_first(updated_at), id) WHERE is_deleted = FALSE;
