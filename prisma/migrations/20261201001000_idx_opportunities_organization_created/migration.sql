-- The order of an organization's opportunity list (contract §3, §6): newest
-- first, then id. With it a page, by offset or by keyset cursor, reads only
-- its own rows instead of sorting every opportunity of the organization.
-- Alone in its migration: CREATE INDEX CONCURRENTLY cannot run in a transaction.
CREATE INDEX CONCURRENTLY idx_opportunities_organization_created
  ON opportunities (organization_id, created_at DESC, id);
