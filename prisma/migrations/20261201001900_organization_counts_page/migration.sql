-- The three counts of a whole page of organizations in one call, for the
-- organization list's statement (src/services/organization-listing.ts).
--
-- Why a PL/pgSQL function: organization_counts() is an inlined SQL function,
-- so every statement that joins it laterally has the planner plan its four
-- subqueries again. Measured at 100,000 organizations: 0.27 ms of the list
-- statement's 0.41 ms planning per call, against 0.3-1 ms of execution. Here
-- the query is planned once per server session (PL/pgSQL caches its plans;
-- force_generic_plan keeps one generic plan, right for any array of ids: one
-- counter row and one boundary-day index range per id), so the list's own
-- statement only plans its page and a function scan. This holds for unnamed
-- statements too (behind a transaction pooler, DATABASE_POOLER=transaction),
-- since the cache lives in the server session, not in a client's prepared
-- statement. Same definition of the counts as organization_counts().
CREATE FUNCTION organization_counts_page(p_ids uuid[])
RETURNS TABLE(organization_id uuid, contact_count bigint, interaction_count bigint, opportunity_count bigint)
LANGUAGE plpgsql STABLE PARALLEL SAFE
ROWS 100
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  SELECT ids.id, k.contact_count, k.interaction_count, k.opportunity_count
  FROM unnest(p_ids) AS ids(id)
  CROSS JOIN LATERAL organization_counts(ids.id) k;
END;
$$;
