-- Newest first as an ascending key: minus the microseconds since the epoch.
-- The organization list's sorts (contract §6) are "newest first, then id
-- ascending"; a btree over (…, crm_newest_first(ts), id) holds that order with
-- every column ascending, so a keyset page is one row comparison
-- (a, b, c) > (x, y, z), i.e. one index range at any depth, which a mix of
-- DESC and ASC columns cannot give.
-- IMMUTABLE and exact: timestamptz minus timestamptz, to_timestamp(0) and
-- extract(epoch FROM interval) are all immutable (no time zone involved), and
-- the numeric epoch keeps every microsecond. A LANGUAGE sql one-liner so the
-- planner sees through it.
CREATE FUNCTION crm_newest_first(ts TIMESTAMP WITH TIME ZONE) RETURNS BIGINT
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (-(extract(epoch FROM (ts - to_timestamp(0))) * 1000000))::bigint $$;
