-- At most one live primary contact per organization, enforced by the
-- database as well as by the contacts service (which serializes primary
-- changes of one organization under a row lock and clears the previous one).
-- Alone in its migration: CREATE INDEX CONCURRENTLY cannot run in a transaction.
CREATE UNIQUE INDEX CONCURRENTLY idx_contacts_one_primary
  ON contacts (organization_id) WHERE is_primary AND NOT is_deleted;
