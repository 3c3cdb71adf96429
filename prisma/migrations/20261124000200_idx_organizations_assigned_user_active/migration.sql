-- From the seed. CONCURRENTLY cannot run inside a transaction, so this
-- migration holds this one statement only and is applied outside one.
CREATE INDEX CONCURRENTLY idx_organizations_assigned_user_active
ON organizations(assigned_user_id) WHERE is_deleted = FALSE;
