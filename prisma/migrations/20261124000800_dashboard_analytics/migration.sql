-- Dashboard figures, one row per active user.
-- The seed joined contacts x interactions x opportunities per organization,
-- so SUM(value) was multiplied by the join fan-out, and its
-- active_opportunities also counted deals won this quarter. Here each base
-- table is aggregated per user on its own and the results are joined 1:1,
-- so every figure equals a direct query on that table.
--   total_organizations      non-deleted organizations assigned to the user
--   high_priority_orgs       ... of which priority A
--   total_contacts           non-deleted contacts of those organizations
--   interactions_this_month  interactions on them since the month began
--   active_opportunities     opportunities on them not closed (won or lost)
--   won_revenue_this_quarter value of closed-won deals whose close_date is in
--                            the current quarter
--   refreshed_at             when the view was computed
CREATE MATERIALIZED VIEW dashboard_analytics AS
WITH owned AS (
  SELECT o.id, o.assigned_user_id, o.priority_level
  FROM organizations o
  WHERE o.is_deleted = FALSE
),
org_stats AS (
  SELECT owned.assigned_user_id AS user_id,
         count(*) AS total_organizations,
         count(*) FILTER (WHERE owned.priority_level = 'A') AS high_priority_orgs
  FROM owned
  GROUP BY owned.assigned_user_id
),
contact_stats AS (
  SELECT owned.assigned_user_id AS user_id, count(*) AS total_contacts
  FROM contacts c
  JOIN owned ON owned.id = c.organization_id
  WHERE c.is_deleted = FALSE
  GROUP BY owned.assigned_user_id
),
interaction_stats AS (
  SELECT owned.assigned_user_id AS user_id, count(*) AS interactions_this_month
  FROM interactions i
  JOIN owned ON owned.id = i.organization_id
  WHERE i.created_at >= date_trunc('month', now())
  GROUP BY owned.assigned_user_id
),
opportunity_stats AS (
  SELECT owned.assigned_user_id AS user_id,
         count(*) FILTER (WHERE op.stage NOT IN ('closed-won', 'closed-lost')) AS active_opportunities,
         sum(op.value) FILTER (
           WHERE op.stage = 'closed-won'
             AND op.close_date >= date_trunc('quarter', now())::date
             AND op.close_date < (date_trunc('quarter', now()) + INTERVAL '3 months')::date
         ) AS won_revenue_this_quarter
  FROM opportunities op
  JOIN owned ON owned.id = op.organization_id
  GROUP BY owned.assigned_user_id
)
SELECT u.id AS user_id,
       COALESCE(org_stats.total_organizations, 0)::bigint AS total_organizations,
       COALESCE(org_stats.high_priority_orgs, 0)::bigint AS high_priority_orgs,
       COALESCE(contact_stats.total_contacts, 0)::bigint AS total_contacts,
       COALESCE(interaction_stats.interactions_this_month, 0)::bigint AS interactions_this_month,
       COALESCE(opportunity_stats.active_opportunities, 0)::bigint AS active_opportunities,
       COALESCE(opportunity_stats.won_revenue_this_quarter, 0)::numeric(16, 2) AS won_revenue_this_quarter,
       now() AS refreshed_at
FROM users u
LEFT JOIN org_stats ON org_stats.user_id = u.id
LEFT JOIN contact_stats ON contact_stats.user_id = u.id
LEFT JOIN interaction_stats ON interaction_stats.user_id = u.id
LEFT JOIN opportunity_stats ON opportunity_stats.user_id = u.id
WHERE u.is_active = TRUE;

-- Required by REFRESH ... CONCURRENTLY, and the dashboard's lookup key.
CREATE UNIQUE INDEX idx_dashboard_analytics_user_id ON dashboard_analytics (user_id);

-- CONCURRENTLY: readers keep seeing the previous contents during a refresh.
CREATE OR REPLACE FUNCTION refresh_dashboard_analytics()
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  REFRESH MATERIALIZED VIEW CONCURRENTLY dashboard_analytics;
END;
$$;
