-- From the seed. CONCURRENTLY cannot run inside a transaction, so this
-- migration holds this one statement only and is applied outside one.
CREATE INDEX CONCURRENTLY idx_organizations_industry_priority
ON organizations(industry_segment, priority_level) WHERE is_deleted = FALSE;
