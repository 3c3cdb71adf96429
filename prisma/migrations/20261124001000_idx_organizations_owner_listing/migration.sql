-- A member's listing in its exact order (priority, newest first, id as the
-- tie-breaker) straight from the index: the page is read in order and stops
-- after offset + limit entries, with no sort. INCLUDE carries every listed
-- column, so deep offsets step over index entries only (index-only scan,
-- no heap visits) instead of sorting all of the owner's rows.
-- Alone in its migration: CREATE INDEX CONCURRENTLY cannot run in a transaction.
CREATE INDEX CONCURRENTLY idx_organizations_owner_listing
  ON organizations (assigned_user_id, priority_level, created_at DESC, id)
  INCLUDE (name, industry_segment, primary_email, primary_phone, annual_revenue)
  WHERE is_deleted = FALSE;
