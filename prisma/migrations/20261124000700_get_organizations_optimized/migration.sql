-- The listing function: the seed's signature and result columns, with its
-- flaws fixed.
--  * The seed's plpgsql body does not run: its RETURNS TABLE columns are
--    variables that clash with table columns ("created_at" is ambiguous).
--    This is LANGUAGE sql, where output columns are not variables, and every
--    column is qualified anyway.
--  * The seed aggregated every contact, interaction and opportunity in the
--    database on each call. Here the caller's page of organizations is chosen
--    first (index-backed filter and order), and the three counts are computed
--    for those rows only, each through an index on organization_id.
--  * Search is a case-insensitive substring match in which % and _ match
--    literally (they are escaped); pg_trgm's GIN index serves it.
--  * p_user_id NULL means "every user" (admins); the order has a final id
--    tie-breaker so pages never overlap or skip rows.
CREATE OR REPLACE FUNCTION get_organizations_optimized(
  p_user_id UUID,
  p_industry_segment VARCHAR DEFAULT NULL,
  p_priority_level priority_level DEFAULT NULL,
  p_search_term VARCHAR DEFAULT NULL,
  p_limit INTEGER DEFAULT 50,
  p_offset INTEGER DEFAULT 0
)
RETURNS TABLE(
  id UUID,
  name VARCHAR,
  industry_segment VARCHAR,
  priority_level priority_level,
  primary_email VARCHAR,
  primary_phone VARCHAR,
  annual_revenue BIGINT,
  created_at TIMESTAMP WITH TIME ZONE,
  contact_count BIGINT,
  interaction_count BIGINT,
  opportunity_count BIGINT
)
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
  WITH page AS (
    SELECT o.id, o.name, o.industry_segment, o.priority_level, o.primary_email,
           o.primary_phone, o.annual_revenue, o.created_at
    FROM organizations o
    WHERE o.is_deleted = FALSE
      AND (p_user_id IS NULL OR o.assigned_user_id = p_user_id)
      AND (p_industry_segment IS NULL OR o.industry_segment = p_industry_segment)
      AND (p_priority_level IS NULL OR o.priority_level = p_priority_level)
      AND (p_search_term IS NULL OR o.name ILIKE
            '%' || replace(replace(replace(p_search_term, '\', '\\'), '%', '\%'), '_', '\_') || '%')
    ORDER BY o.priority_level ASC, o.created_at DESC, o.id ASC
    LIMIT p_limit
    OFFSET p_offset
  )
  SELECT page.id, page.name, page.industry_segment, page.priority_level,
         page.primary_email, page.primary_phone, page.annual_revenue, page.created_at,
         contact_counts.n, interaction_counts.n, opportunity_counts.n
  FROM page
  CROSS JOIN LATERAL (
    SELECT count(*) AS n FROM contacts c
    WHERE c.organization_id = page.id AND c.is_deleted = FALSE
  ) contact_counts
  CROSS JOIN LATERAL (
    SELECT count(*) AS n FROM interactions i
    WHERE i.organization_id = page.id AND i.created_at >= now() - INTERVAL '90 days'
  ) interaction_counts
  CROSS JOIN LATERAL (
    SELECT count(*) AS n FROM opportunities op
    WHERE op.organization_id = page.id AND op.stage NOT IN ('closed-won', 'closed-lost')
  ) opportunity_counts
  ORDER BY page.priority_level ASC, page.created_at DESC, page.id ASC
$$;
