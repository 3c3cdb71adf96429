-- A member's list, sort=-updatedAt: most recently changed first, then id.
-- Alone in its migration: CREATE INDEX CONCURRENTLY cannot run in a transaction.
CREATE INDEX CONCURRENTLY idx_organizations_owner_updated
  ON organizations (assigned_user_id, crm_newest_first(updated_at), id) WHERE is_deleted = FALSE;
