-- From the seed. CONCURRENTLY cannot run inside a transaction, so this
-- migration holds this one statement only and is applied outside one.
CREATE INDEX CONCURRENTLY idx_organizations_priority_created
ON organizations(priority_level, created_at DESC) WHERE is_deleted = FALSE;
