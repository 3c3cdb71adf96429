-- The admin listing (every owner) in its exact order, covering like
-- idx_organizations_owner_listing: offset N costs N index entries, not a sort
-- of the whole table.
-- Alone in its migration: CREATE INDEX CONCURRENTLY cannot run in a transaction.
CREATE INDEX CONCURRENTLY idx_organizations_listing
  ON organizations (priority_level, created_at DESC, id)
  INCLUDE (name, industry_segment, primary_email, primary_phone, annual_revenue)
  WHERE is_deleted = FALSE;
