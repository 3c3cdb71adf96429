-- From the seed. CONCURRENTLY cannot run inside a transaction, so this
-- migration holds this one statement only and is applied outside one.
CREATE INDEX CONCURRENTLY idx_organizations_name_search
ON organizations USING gin(to_tsvector('english', name)) WHERE is_deleted = FALSE;
