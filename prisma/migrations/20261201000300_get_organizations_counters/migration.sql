-- get_organizations_optimized, same signature and result as before (contract
-- §1), now cheap whatever the organizations on the page hold:
--  * The counts come from organization_counts() (previous migrations): one
--    counter row per organization plus the boundary day's interactions,
--    instead of counting every child row.
--  * Planned once per filter shape, not once per call. A SQL function with
--    "p_x IS NULL OR ..." filters is inlined and needs a custom plan with the
--    actual arguments to drop the absent filters: that planning was most of a
--    call's cost. This plpgsql body has one static query per combination of
--    present filters (16 shapes); plpgsql prepares each once per session and,
--    with plan_cache_mode = force_generic_plan, keeps one generic plan for it,
--    which is right for every argument of that shape (each shape's filters
--    are plain equalities or the trigram ILIKE, whatever the values). This
--    holds for every caller (SELECT * FROM get_organizations_optimized($1, ...)
--    with bound parameters, named or not, through PgBouncer too): the plans
--    live in the server session, not in the client's prepared statements.
--  * Search: case-insensitive substring, % _ and \ match literally.
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
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
-- A page of at most a few hundred rows never gains from parallel workers, and
-- a generic plan (which guesses that LIMIT keeps 10 % of the rows) would
-- overrate them: measured, it picked a parallel seq scan and sort.
SET plan_cache_mode = force_generic_plan
SET max_parallel_workers_per_gather = 0
AS $$
#variable_conflict use_column
DECLARE
  v_pattern text := '%' || replace(replace(replace(p_search_term, '\', '\\'), '%', '\%'), '_', '\_') || '%';
  v_shape integer := (CASE WHEN p_user_id IS NULL THEN 0 ELSE 1 END)
                   + (CASE WHEN p_industry_segment IS NULL THEN 0 ELSE 2 END)
                   + (CASE WHEN p_priority_level IS NULL THEN 0 ELSE 4 END)
                   + (CASE WHEN p_search_term IS NULL THEN 0 ELSE 8 END);
BEGIN
  -- Each branch: the page from an index range in the listing's order, then
  -- one organization_counts() per row on it.
  CASE v_shape
  WHEN 0 THEN -- no filter
    RETURN QUERY
    SELECT p.id, p.name, p.industry_segment, p.priority_level, p.primary_email, p.primary_phone,
           p.annual_revenue, p.created_at, k.contact_count, k.interaction_count, k.opportunity_count
    FROM (SELECT o.id, o.name, o.industry_segment, o.priority_level, o.primary_email, o.primary_phone,
                 o.annual_revenue, o.created_at
          FROM organizations o
          WHERE o.is_deleted = FALSE
          ORDER BY o.priority_level ASC, o.created_at DESC, o.id ASC
          LIMIT p_limit OFFSET p_offset) p
    CROSS JOIN LATERAL organization_counts(p.id) k
    ORDER BY p.priority_level ASC, p.created_at DESC, p.id ASC;
  WHEN 1 THEN -- p_user_id
    RETURN QUERY
    SELECT p.id, p.name, p.industry_segment, p.priority_level, p.primary_email, p.primary_phone,
           p.annual_revenue, p.created_at, k.contact_count, k.interaction_count, k.opportunity_count
    FROM (SELECT o.id, o.name, o.industry_segment, o.priority_level, o.primary_email, o.primary_phone,
                 o.annual_revenue, o.created_at
          FROM organizations o
          WHERE o.is_deleted = FALSE
            AND o.assigned_user_id = p_user_id
          ORDER BY o.priority_level ASC, o.created_at DESC, o.id ASC
          LIMIT p_limit OFFSET p_offset) p
    CROSS JOIN LATERAL organization_counts(p.id) k
    ORDER BY p.priority_level ASC, p.created_at DESC, p.id ASC;
  WHEN 2 THEN -- p_industry_segment
    RETURN QUERY
    SELECT p.id, p.name, p.industry_segment, p.priority_level, p.primary_email, p.primary_phone,
           p.annual_revenue, p.created_at, k.contact_count, k.interaction_count, k.opportunity_count
    FROM (SELECT o.id, o.name, o.industry_segment, o.priority_level, o.primary_email, o.primary_phone,
                 o.annual_revenue, o.created_at
          FROM organizations o
          WHERE o.is_deleted = FALSE
            AND o.industry_segment = p_industry_segment
          ORDER BY o.priority_level ASC, o.created_at DESC, o.id ASC
          LIMIT p_limit OFFSET p_offset) p
    CROSS JOIN LATERAL organization_counts(p.id) k
    ORDER BY p.priority_level ASC, p.created_at DESC, p.id ASC;
  WHEN 3 THEN -- p_user_id, p_industry_segment
    RETURN QUERY
    SELECT p.id, p.name, p.industry_segment, p.priority_level, p.primary_email, p.primary_phone,
           p.annual_revenue, p.created_at, k.contact_count, k.interaction_count, k.opportunity_count
    FROM (SELECT o.id, o.name, o.industry_segment, o.priority_level, o.primary_email, o.primary_phone,
                 o.annual_revenue, o.created_at
          FROM organizations o
          WHERE o.is_deleted = FALSE
            AND o.assigned_user_id = p_user_id
            AND o.industry_segment = p_industry_segment
          ORDER BY o.priority_level ASC, o.created_at DESC, o.id ASC
          LIMIT p_limit OFFSET p_offset) p
    CROSS JOIN LATERAL organization_counts(p.id) k
    ORDER BY p.priority_level ASC, p.created_at DESC, p.id ASC;
  WHEN 4 THEN -- p_priority_level
    RETURN QUERY
    SELECT p.id, p.name, p.industry_segment, p.priority_level, p.primary_email, p.primary_phone,
           p.annual_revenue, p.created_at, k.contact_count, k.interaction_count, k.opportunity_count
    FROM (SELECT o.id, o.name, o.industry_segment, o.priority_level, o.primary_email, o.primary_phone,
                 o.annual_revenue, o.created_at
          FROM organizations o
          WHERE o.is_deleted = FALSE
            AND o.priority_level = p_priority_level
          ORDER BY o.priority_level ASC, o.created_at DESC, o.id ASC
          LIMIT p_limit OFFSET p_offset) p
    CROSS JOIN LATERAL organization_counts(p.id) k
    ORDER BY p.priority_level ASC, p.created_at DESC, p.id ASC;
  WHEN 5 THEN -- p_user_id, p_priority_level
    RETURN QUERY
    SELECT p.id, p.name, p.industry_segment, p.priority_level, p.primary_email, p.primary_phone,
           p.annual_revenue, p.created_at, k.contact_count, k.interaction_count, k.opportunity_count
    FROM (SELECT o.id, o.name, o.industry_segment, o.priority_level, o.primary_email, o.primary_phone,
                 o.annual_revenue, o.created_at
          FROM organizations o
          WHERE o.is_deleted = FALSE
            AND o.assigned_user_id = p_user_id
            AND o.priority_level = p_priority_level
          ORDER BY o.priority_level ASC, o.created_at DESC, o.id ASC
          LIMIT p_limit OFFSET p_offset) p
    CROSS JOIN LATERAL organization_counts(p.id) k
    ORDER BY p.priority_level ASC, p.created_at DESC, p.id ASC;
  WHEN 6 THEN -- p_industry_segment, p_priority_level
    RETURN QUERY
    SELECT p.id, p.name, p.industry_segment, p.priority_level, p.primary_email, p.primary_phone,
           p.annual_revenue, p.created_at, k.contact_count, k.interaction_count, k.opportunity_count
    FROM (SELECT o.id, o.name, o.industry_segment, o.priority_level, o.primary_email, o.primary_phone,
                 o.annual_revenue, o.created_at
          FROM organizations o
          WHERE o.is_deleted = FALSE
            AND o.industry_segment = p_industry_segment
            AND o.priority_level = p_priority_level
          ORDER BY o.priority_level ASC, o.created_at DESC, o.id ASC
          LIMIT p_limit OFFSET p_offset) p
    CROSS JOIN LATERAL organization_counts(p.id) k
    ORDER BY p.priority_level ASC, p.created_at DESC, p.id ASC;
  WHEN 7 THEN -- p_user_id, p_industry_segment, p_priority_level
    RETURN QUERY
    SELECT p.id, p.name, p.industry_segment, p.priority_level, p.primary_email, p.primary_phone,
           p.annual_revenue, p.created_at, k.contact_count, k.interaction_count, k.opportunity_count
    FROM (SELECT o.id, o.name, o.industry_segment, o.priority_level, o.primary_email, o.primary_phone,
                 o.annual_revenue, o.created_at
          FROM organizations o
          WHERE o.is_deleted = FALSE
            AND o.assigned_user_id = p_user_id
            AND o.industry_segment = p_industry_segment
            AND o.priority_level = p_priority_level
          ORDER BY o.priority_level ASC, o.created_at DESC, o.id ASC
          LIMIT p_limit OFFSET p_offset) p
    CROSS JOIN LATERAL organization_counts(p.id) k
    ORDER BY p.priority_level ASC, p.created_at DESC, p.id ASC;
  WHEN 8 THEN -- p_search_term
    RETURN QUERY
    SELECT p.id, p.name, p.industry_segment, p.priority_level, p.primary_email, p.primary_phone,
           p.annual_revenue, p.created_at, k.contact_count, k.interaction_count, k.opportunity_count
    FROM (SELECT o.id, o.name, o.industry_segment, o.priority_level, o.primary_email, o.primary_phone,
                 o.annual_revenue, o.created_at
          FROM organizations o
          WHERE o.is_deleted = FALSE
            AND o.name ILIKE v_pattern
          ORDER BY o.priority_level ASC, o.created_at DESC, o.id ASC
          LIMIT p_limit OFFSET p_offset) p
    CROSS JOIN LATERAL organization_counts(p.id) k
    ORDER BY p.priority_level ASC, p.created_at DESC, p.id ASC;
  WHEN 9 THEN -- p_user_id, p_search_term
    RETURN QUERY
    SELECT p.id, p.name, p.industry_segment, p.priority_level, p.primary_email, p.primary_phone,
           p.annual_revenue, p.created_at, k.contact_count, k.interaction_count, k.opportunity_count
    FROM (SELECT o.id, o.name, o.industry_segment, o.priority_level, o.primary_email, o.primary_phone,
                 o.annual_revenue, o.created_at
          FROM organizations o
          WHERE o.is_deleted = FALSE
            AND o.assigned_user_id = p_user_id
            AND o.name ILIKE v_pattern
          ORDER BY o.priority_level ASC, o.created_at DESC, o.id ASC
          LIMIT p_limit OFFSET p_offset) p
    CROSS JOIN LATERAL organization_counts(p.id) k
    ORDER BY p.priority_level ASC, p.created_at DESC, p.id ASC;
  WHEN 10 THEN -- p_industry_segment, p_search_term
    RETURN QUERY
    SELECT p.id, p.name, p.industry_segment, p.priority_level, p.primary_email, p.primary_phone,
           p.annual_revenue, p.created_at, k.contact_count, k.interaction_count, k.opportunity_count
    FROM (SELECT o.id, o.name, o.industry_segment, o.priority_level, o.primary_email, o.primary_phone,
                 o.annual_revenue, o.created_at
          FROM organizations o
          WHERE o.is_deleted = FALSE
            AND o.industry_segment = p_industry_segment
            AND o.name ILIKE v_pattern
          ORDER BY o.priority_level ASC, o.created_at DESC, o.id ASC
          LIMIT p_limit OFFSET p_offset) p
    CROSS JOIN LATERAL organization_counts(p.id) k
    ORDER BY p.priority_level ASC, p.created_at DESC, p.id ASC;
  WHEN 11 THEN -- p_user_id, p_industry_segment, p_search_term
    RETURN QUERY
    SELECT p.id, p.name, p.industry_segment, p.priority_level, p.primary_email, p.primary_phone,
           p.annual_revenue, p.created_at, k.contact_count, k.interaction_count, k.opportunity_count
    FROM (SELECT o.id, o.name, o.industry_segment, o.priority_level, o.primary_email, o.primary_phone,
                 o.annual_revenue, o.created_at
          FROM organizations o
          WHERE o.is_deleted = FALSE
            AND o.assigned_user_id = p_user_id
            AND o.industry_segment = p_industry_segment
            AND o.name ILIKE v_pattern
          ORDER BY o.priority_level ASC, o.created_at DESC, o.id ASC
          LIMIT p_limit OFFSET p_offset) p
    CROSS JOIN LATERAL organization_counts(p.id) k
    ORDER BY p.priority_level ASC, p.created_at DESC, p.id ASC;
  WHEN 12 THEN -- p_priority_level, p_search_term
    RETURN QUERY
    SELECT p.id, p.name, p.industry_segment, p.priority_level, p.primary_email, p.primary_phone,
           p.annual_revenue, p.created_at, k.contact_count, k.interaction_count, k.opportunity_count
    FROM (SELECT o.id, o.name, o.industry_segment, o.priority_level, o.primary_email, o.primary_phone,
                 o.annual_revenue, o.created_at
          FROM organizations o
          WHERE o.is_deleted = FALSE
            AND o.priority_level = p_priority_level
            AND o.name ILIKE v_pattern
          ORDER BY o.priority_level ASC, o.created_at DESC, o.id ASC
          LIMIT p_limit OFFSET p_offset) p
    CROSS JOIN LATERAL organization_counts(p.id) k
    ORDER BY p.priority_level ASC, p.created_at DESC, p.id ASC;
  WHEN 13 THEN -- p_user_id, p_priority_level, p_search_term
    RETURN QUERY
    SELECT p.id, p.name, p.industry_segment, p.priority_level, p.primary_email, p.primary_phone,
           p.annual_revenue, p.created_at, k.contact_count, k.interaction_count, k.opportunity_count
    FROM (SELECT o.id, o.name, o.industry_segment, o.priority_level, o.primary_email, o.primary_phone,
                 o.annual_revenue, o.created_at
          FROM organizations o
          WHERE o.is_deleted = FALSE
            AND o.assigned_user_id = p_user_id
            AND o.priority_level = p_priority_level
            AND o.name ILIKE v_pattern
          ORDER BY o.priority_level ASC, o.created_at DESC, o.id ASC
          LIMIT p_limit OFFSET p_offset) p
    CROSS JOIN LATERAL organization_counts(p.id) k
    ORDER BY p.priority_level ASC, p.created_at DESC, p.id ASC;
  WHEN 14 THEN -- p_industry_segment, p_priority_level, p_search_term
    RETURN QUERY
    SELECT p.id, p.name, p.industry_segment, p.priority_level, p.primary_email, p.primary_phone,
           p.annual_revenue, p.created_at, k.contact_count, k.interaction_count, k.opportunity_count
    FROM (SELECT o.id, o.name, o.industry_segment, o.priority_level, o.primary_email, o.primary_phone,
                 o.annual_revenue, o.created_at
          FROM organizations o
          WHERE o.is_deleted = FALSE
            AND o.industry_segment = p_industry_segment
            AND o.priority_level = p_priority_level
            AND o.name ILIKE v_pattern
          ORDER BY o.priority_level ASC, o.created_at DESC, o.id ASC
          LIMIT p_limit OFFSET p_offset) p
    CROSS JOIN LATERAL organization_counts(p.id) k
    ORDER BY p.priority_level ASC, p.created_at DESC, p.id ASC;
  WHEN 15 THEN -- p_user_id, p_industry_segment, p_priority_level, p_search_term
    RETURN QUERY
    SELECT p.id, p.name, p.industry_segment, p.priority_level, p.primary_email, p.primary_phone,
           p.annual_revenue, p.created_at, k.contact_count, k.interaction_count, k.opportunity_count
    FROM (SELECT o.id, o.name, o.industry_segment, o.priority_level, o.primary_email, o.primary_phone,
                 o.annual_revenue, o.created_at
          FROM organizations o
          WHERE o.is_deleted = FALSE
            AND o.assigned_user_id = p_user_id
            AND o.industry_segment = p_industry_segment
            AND o.priority_level = p_priority_level
            AND o.name ILIKE v_pattern
          ORDER BY o.priority_level ASC, o.created_at DESC, o.id ASC
          LIMIT p_limit OFFSET p_offset) p
    CROSS JOIN LATERAL organization_counts(p.id) k
    ORDER BY p.priority_level ASC, p.created_at DESC, p.id ASC;
  END CASE;
END;
$$;
