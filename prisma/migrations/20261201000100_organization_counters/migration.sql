-- Per-organization counters kept with the data (contract §6 "Counts that stay
-- cheap"; design in docs/database.md, "Counters"). Every write to contacts,
-- interactions and opportunities updates them in its own transaction, through
-- STATEMENT-level triggers whose transition tables are aggregated per
-- organization: a bulk INSERT of a million rows costs one upsert per
-- organization, not one per row.
--
-- organization_counters: one row per organization (created on its first child
-- write; none = every count is 0).
--   contacts             live contacts (is_deleted = false)
--   open_opportunities   opportunities not closed-won / closed-lost
--   interactions_from    first UTC day whose interactions are kept in buckets
--   interactions_recent  interactions on that day or later (future days included)
-- organization_interaction_days: (organization, UTC day) -> interactions of
-- that day, for days >= the organization's interactions_from only; older
-- interactions cost no counter work at all. interactions_recent is always the
-- sum of the organization's buckets.
--
-- The 90-day count (created_at >= now() - interval '90 days') is then
-- interactions_recent, minus the buckets of days before the first whole day in
-- the window, plus an exact count of the boundary day's rows from
-- idx_interactions_organization_created (organization_counts() below).
-- organization_counters_roll() moves interactions_from forward (the dashboard
-- refresh calls it), so the subtracted buckets stay few; it only affects cost.
--
-- Lock order: every writer locks counter rows in organization_id order, and
-- locks the counter row before touching its buckets, so concurrent writers of
-- one organization queue on one row and never deadlock on each other.
-- The tables have no foreign key to organizations on purpose: the seeder
-- drops and re-creates the organizations primary key around its load.

CREATE TABLE organization_counters (
  organization_id     UUID   NOT NULL PRIMARY KEY,
  contacts            BIGINT NOT NULL DEFAULT 0,
  open_opportunities  BIGINT NOT NULL DEFAULT 0,
  interactions_from   DATE   NOT NULL,
  interactions_recent BIGINT NOT NULL DEFAULT 0
) WITH (fillfactor = 70); -- room for HOT updates: no indexed column ever changes

CREATE TABLE organization_interaction_days (
  organization_id UUID   NOT NULL,
  day             DATE   NOT NULL,
  interactions    BIGINT NOT NULL,
  PRIMARY KEY (organization_id, day)
) WITH (fillfactor = 70);
-- The roll-off finds the buckets that left the window by day.
CREATE INDEX idx_organization_interaction_days_day ON organization_interaction_days (day);

-- The first UTC day every row of which is inside the 90-day window, as of now().
CREATE FUNCTION organization_counters_window_start() RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT ((now() - INTERVAL '90 days') AT TIME ZONE 'UTC')::date + 1
$$;

-- Adds per-organization deltas to one of the two plain counters.
CREATE FUNCTION organization_counters_add(p_column text, p_orgs uuid[], p_deltas bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF p_column = 'contacts' THEN
    INSERT INTO organization_counters AS c (organization_id, contacts, interactions_from)
    SELECT d.organization_id, d.n, organization_counters_window_start()
    FROM unnest(p_orgs, p_deltas) AS d(organization_id, n)
    WHERE d.n <> 0
    ORDER BY d.organization_id
    ON CONFLICT (organization_id) DO UPDATE SET contacts = c.contacts + EXCLUDED.contacts;
  ELSE
    INSERT INTO organization_counters AS c (organization_id, open_opportunities, interactions_from)
    SELECT d.organization_id, d.n, organization_counters_window_start()
    FROM unnest(p_orgs, p_deltas) AS d(organization_id, n)
    WHERE d.n <> 0
    ORDER BY d.organization_id
    ON CONFLICT (organization_id) DO UPDATE SET open_opportunities = c.open_opportunities + EXCLUDED.open_opportunities;
  END IF;
END;
$$;

-- Adds per-(organization, day) interaction deltas.
CREATE FUNCTION organization_counters_add_interactions(p_orgs uuid[], p_days date[], p_deltas bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_start date := organization_counters_window_start();
  v_orgs uuid[];
BEGIN
  IF p_orgs[1] = ALL (p_orgs) THEN
    -- One organization (every API write): lock its counter row and add the
    -- kept days' deltas in one upsert (DO UPDATE sees the locked row's
    -- interactions_from), then the buckets. Two statements, no extra lookup.
    INSERT INTO organization_counters AS c (organization_id, interactions_from, interactions_recent)
    SELECT p_orgs[1], v_start, coalesce(sum(d.n) FILTER (WHERE d.day >= v_start), 0)
    FROM unnest(p_days, p_deltas) AS d(day, n)
    ON CONFLICT (organization_id) DO UPDATE SET interactions_recent = c.interactions_recent +
      (SELECT coalesce(sum(d.n), 0) FROM unnest(p_days, p_deltas) AS d(day, n) WHERE d.day >= c.interactions_from);
  ELSE
    -- Several organizations (bulk statements): only days an organization
    -- keeps (>= its interactions_from) need work. Read without a lock:
    -- interactions_from only ever moves forward, so a day skipped here stays
    -- skipped; a stale (older) value only means more work.
    SELECT array_agg(DISTINCT d.organization_id ORDER BY d.organization_id) INTO v_orgs
    FROM unnest(p_orgs, p_days, p_deltas) AS d(organization_id, day, n)
    LEFT JOIN organization_counters c ON c.organization_id = d.organization_id
    WHERE d.n <> 0 AND d.day >= coalesce(c.interactions_from, v_start);
    IF v_orgs IS NULL THEN
      RETURN;
    END IF;
    INSERT INTO organization_counters (organization_id, interactions_from)
    SELECT o, v_start FROM unnest(v_orgs) AS o ORDER BY o
    ON CONFLICT (organization_id) DO NOTHING;
    -- The counter rows first, in id order: the buckets are only ever written
    -- by whoever holds their organization's counter row.
    PERFORM 1 FROM organization_counters
    WHERE organization_id = ANY (v_orgs)
    ORDER BY organization_id
    FOR UPDATE;
    UPDATE organization_counters c SET interactions_recent = c.interactions_recent + k.n
    FROM (SELECT d.organization_id, sum(d.n) AS n
          FROM unnest(p_orgs, p_days, p_deltas) AS d(organization_id, day, n)
          JOIN organization_counters c2 ON c2.organization_id = d.organization_id AND d.day >= c2.interactions_from
          GROUP BY d.organization_id) k
    WHERE c.organization_id = k.organization_id AND k.n <> 0;
  END IF;
  -- Under the counter rows' locks, so interactions_from is current.
  INSERT INTO organization_interaction_days AS b (organization_id, day, interactions)
  SELECT d.organization_id, d.day, d.n
  FROM unnest(p_orgs, p_days, p_deltas) AS d(organization_id, day, n)
  JOIN organization_counters c ON c.organization_id = d.organization_id AND d.day >= c.interactions_from
  WHERE d.n <> 0
  ORDER BY d.organization_id, d.day
  ON CONFLICT (organization_id, day) DO UPDATE SET interactions = b.interactions + EXCLUDED.interactions;
END;
$$;

-- Trigger functions: one per table, for the three events (TG_OP picks the
-- transition tables that exist; plpgsql plans a branch only when it runs).
CREATE FUNCTION organization_counters_contacts_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_orgs uuid[];
  v_deltas bigint[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(organization_id), array_agg(n) INTO v_orgs, v_deltas
    FROM (SELECT organization_id, count(*) AS n FROM new_rows WHERE NOT is_deleted GROUP BY organization_id) s;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(organization_id), array_agg(n) INTO v_orgs, v_deltas
    FROM (SELECT organization_id, -count(*) AS n FROM old_rows WHERE NOT is_deleted GROUP BY organization_id) s;
  ELSE
    SELECT array_agg(organization_id), array_agg(n) INTO v_orgs, v_deltas
    FROM (SELECT organization_id, sum(n) AS n
          FROM (SELECT organization_id, 1 AS n FROM new_rows WHERE NOT is_deleted
                UNION ALL
                SELECT organization_id, -1 FROM old_rows WHERE NOT is_deleted) u
          GROUP BY organization_id HAVING sum(n) <> 0) s;
  END IF;
  IF v_orgs IS NOT NULL THEN
    PERFORM organization_counters_add('contacts', v_orgs, v_deltas);
  END IF;
  RETURN NULL;
END;
$$;

CREATE FUNCTION organization_counters_opportunities_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_orgs uuid[];
  v_deltas bigint[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(organization_id), array_agg(n) INTO v_orgs, v_deltas
    FROM (SELECT organization_id, count(*) AS n FROM new_rows
          WHERE stage NOT IN ('closed-won', 'closed-lost') GROUP BY organization_id) s;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(organization_id), array_agg(n) INTO v_orgs, v_deltas
    FROM (SELECT organization_id, -count(*) AS n FROM old_rows
          WHERE stage NOT IN ('closed-won', 'closed-lost') GROUP BY organization_id) s;
  ELSE
    SELECT array_agg(organization_id), array_agg(n) INTO v_orgs, v_deltas
    FROM (SELECT organization_id, sum(n) AS n
          FROM (SELECT organization_id, 1 AS n FROM new_rows WHERE stage NOT IN ('closed-won', 'closed-lost')
                UNION ALL
                SELECT organization_id, -1 FROM old_rows WHERE stage NOT IN ('closed-won', 'closed-lost')) u
          GROUP BY organization_id HAVING sum(n) <> 0) s;
  END IF;
  IF v_orgs IS NOT NULL THEN
    PERFORM organization_counters_add('open_opportunities', v_orgs, v_deltas);
  END IF;
  RETURN NULL;
END;
$$;

CREATE FUNCTION organization_counters_interactions_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_orgs uuid[];
  v_days date[];
  v_deltas bigint[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(organization_id), array_agg(day), array_agg(n) INTO v_orgs, v_days, v_deltas
    FROM (SELECT organization_id, (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n
          FROM new_rows GROUP BY 1, 2) s;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(organization_id), array_agg(day), array_agg(n) INTO v_orgs, v_days, v_deltas
    FROM (SELECT organization_id, (created_at AT TIME ZONE 'UTC')::date AS day, -count(*) AS n
          FROM old_rows GROUP BY 1, 2) s;
  ELSE
    SELECT array_agg(organization_id), array_agg(day), array_agg(n) INTO v_orgs, v_days, v_deltas
    FROM (SELECT organization_id, day, sum(n) AS n
          FROM (SELECT organization_id, (created_at AT TIME ZONE 'UTC')::date AS day, 1 AS n FROM new_rows
                UNION ALL
                SELECT organization_id, (created_at AT TIME ZONE 'UTC')::date, -1 FROM old_rows) u
          GROUP BY 1, 2 HAVING sum(n) <> 0) s;
  END IF;
  IF v_orgs IS NOT NULL THEN
    PERFORM organization_counters_add_interactions(v_orgs, v_days, v_deltas);
  END IF;
  RETURN NULL;
END;
$$;

-- A hard-deleted organization's counters go with it. Its children's cascaded
-- deletes have run (and fired their triggers) by the time this fires.
CREATE FUNCTION organization_counters_organizations_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM organization_interaction_days d USING old_rows o WHERE d.organization_id = o.id;
  DELETE FROM organization_counters c USING old_rows o WHERE c.organization_id = o.id;
  RETURN NULL;
END;
$$;

-- TRUNCATE fires no DELETE triggers: reset what the truncated table counted.
CREATE FUNCTION organization_counters_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'organizations' THEN
    TRUNCATE organization_counters, organization_interaction_days;
  ELSIF TG_TABLE_NAME = 'contacts' THEN
    UPDATE organization_counters SET contacts = 0 WHERE contacts <> 0;
  ELSIF TG_TABLE_NAME = 'opportunities' THEN
    UPDATE organization_counters SET open_opportunities = 0 WHERE open_opportunities <> 0;
  ELSE
    TRUNCATE organization_interaction_days;
    UPDATE organization_counters SET interactions_recent = 0 WHERE interactions_recent <> 0;
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER contacts_counters_insert AFTER INSERT ON contacts
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION organization_counters_contacts_changed();
CREATE TRIGGER contacts_counters_update AFTER UPDATE ON contacts
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION organization_counters_contacts_changed();
CREATE TRIGGER contacts_counters_delete AFTER DELETE ON contacts
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION organization_counters_contacts_changed();

CREATE TRIGGER opportunities_counters_insert AFTER INSERT ON opportunities
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION organization_counters_opportunities_changed();
CREATE TRIGGER opportunities_counters_update AFTER UPDATE ON opportunities
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION organization_counters_opportunities_changed();
CREATE TRIGGER opportunities_counters_delete AFTER DELETE ON opportunities
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION organization_counters_opportunities_changed();

CREATE TRIGGER interactions_counters_insert AFTER INSERT ON interactions
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION organization_counters_interactions_changed();
CREATE TRIGGER interactions_counters_update AFTER UPDATE ON interactions
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION organization_counters_interactions_changed();
CREATE TRIGGER interactions_counters_delete AFTER DELETE ON interactions
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION organization_counters_interactions_changed();

CREATE TRIGGER organizations_counters_delete AFTER DELETE ON organizations
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION organization_counters_organizations_deleted();

CREATE TRIGGER organizations_counters_truncate AFTER TRUNCATE ON organizations
  FOR EACH STATEMENT EXECUTE FUNCTION organization_counters_truncated();
CREATE TRIGGER contacts_counters_truncate AFTER TRUNCATE ON contacts
  FOR EACH STATEMENT EXECUTE FUNCTION organization_counters_truncated();
CREATE TRIGGER opportunities_counters_truncate AFTER TRUNCATE ON opportunities
  FOR EACH STATEMENT EXECUTE FUNCTION organization_counters_truncated();
CREATE TRIGGER interactions_counters_truncate AFTER TRUNCATE ON interactions
  FOR EACH STATEMENT EXECUTE FUNCTION organization_counters_truncated();

-- The three counts of one organization, with the meaning of contract §1:
-- live contacts, interactions with created_at >= now() - interval '90 days',
-- opportunities not closed. Reads one counter row, the buckets between
-- interactions_from and the window's first whole day (none once rolled), and
-- the interactions of the window's boundary day from
-- idx_interactions_organization_created (one index range, one day long).
-- A plain SQL function: the planner inlines it into the caller's query.
CREATE FUNCTION organization_counts(p_organization_id uuid)
RETURNS TABLE(contact_count bigint, interaction_count bigint, opportunity_count bigint)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(c.contacts, 0)::bigint,
         (coalesce(c.interactions_recent, 0)
          -- Buckets kept but no longer wholly inside the window; looked up
          -- only when there can be any (CASE evaluates its subquery lazily).
          - CASE WHEN c.interactions_from < b.whole_from THEN
              coalesce((SELECT sum(d.interactions) FROM organization_interaction_days d
                        WHERE d.organization_id = p_organization_id
                          AND d.day >= c.interactions_from AND d.day < e.day), 0)
            ELSE 0 END
          + edge.n)::bigint,
         coalesce(c.open_opportunities, 0)::bigint
  FROM (SELECT now() - INTERVAL '90 days' AS t0) w
  CROSS JOIN LATERAL (SELECT ((w.t0 AT TIME ZONE 'UTC')::date + 1) AS whole_from) b
  LEFT JOIN organization_counters c ON c.organization_id = p_organization_id
  -- e: the first day counted by interactions_recent minus those buckets;
  -- the rows from t0 up to it are counted exactly (edge).
  CROSS JOIN LATERAL (SELECT greatest(c.interactions_from, b.whole_from) AS day) e
  CROSS JOIN LATERAL (
    SELECT count(*) AS n FROM interactions i
    WHERE i.organization_id = p_organization_id
      AND i.created_at >= w.t0 AND i.created_at < (e.day::timestamp AT TIME ZONE 'UTC')
  ) edge
$$;

-- Drift report for some organizations: one row per stored value that differs
-- from a direct count. One statement, so one snapshot: counters and rows are
-- written in the same transactions, so it is exact under concurrent writes.
CREATE FUNCTION organization_counters_drift(p_ids uuid[])
RETURNS TABLE(organization_id uuid, counter text, stored bigint, actual bigint)
LANGUAGE sql STABLE AS $$
  WITH ids AS (SELECT DISTINCT id FROM unnest(p_ids) AS id),
  cur AS (
    SELECT ids.id, c.contacts, c.open_opportunities, c.interactions_recent,
           coalesce(c.interactions_from, organization_counters_window_start()) AS kept_from
    FROM ids LEFT JOIN organization_counters c ON c.organization_id = ids.id
  ),
  stored_days AS (
    SELECT d.organization_id, d.day, d.interactions FROM organization_interaction_days d
    WHERE d.organization_id IN (SELECT id FROM ids)
  ),
  actual_days AS (
    SELECT i.organization_id, (i.created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n
    FROM cur JOIN interactions i ON i.organization_id = cur.id
    WHERE i.created_at >= (cur.kept_from::timestamp AT TIME ZONE 'UTC')
    GROUP BY 1, 2
  ),
  checks AS (
    SELECT cur.id, 'contacts' AS counter, coalesce(cur.contacts, 0) AS stored,
           (SELECT count(*) FROM contacts x WHERE x.organization_id = cur.id AND NOT x.is_deleted) AS actual
    FROM cur
    UNION ALL
    SELECT cur.id, 'open_opportunities', coalesce(cur.open_opportunities, 0),
           (SELECT count(*) FROM opportunities x WHERE x.organization_id = cur.id AND x.stage NOT IN ('closed-won', 'closed-lost'))
    FROM cur
    UNION ALL
    SELECT cur.id, 'interactions_recent', coalesce(cur.interactions_recent, 0),
           (SELECT coalesce(sum(a.n), 0) FROM actual_days a WHERE a.organization_id = cur.id)::bigint
    FROM cur
    UNION ALL
    SELECT cur.id, 'interactions_90_days', k.interaction_count,
           (SELECT count(*) FROM interactions x WHERE x.organization_id = cur.id AND x.created_at >= now() - INTERVAL '90 days')
    FROM cur CROSS JOIN LATERAL organization_counts(cur.id) k
    UNION ALL
    SELECT coalesce(s.organization_id, a.organization_id), 'interactions_day ' || coalesce(s.day, a.day)::text,
           coalesce(s.interactions, 0), coalesce(a.n, 0)
    FROM stored_days s FULL JOIN actual_days a ON a.organization_id = s.organization_id AND a.day = s.day
  )
  SELECT id, counter, stored, actual FROM checks WHERE stored IS DISTINCT FROM actual ORDER BY id, counter
$$;

-- Recomputes the counters of some organizations exactly; safe while others
-- write. The counter rows are locked first (in id order); the counts are then
-- taken by later statements, whose snapshots (READ COMMITTED) include every
-- write that committed before the locks were granted. A write still in
-- flight is blocked in its trigger on those locks, so its delta lands after
-- this recount, on top of values that do not include it. (A backdated
-- interaction skipped unlocked, before its organization's interactions_from,
-- is before the new interactions_from too, which is never earlier.)
CREATE FUNCTION organization_counters_repair(p_ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_start date := organization_counters_window_start();
  v_live uuid[];
BEGIN
  SELECT array_agg(o.id ORDER BY o.id) INTO v_live FROM organizations o WHERE o.id = ANY (p_ids);
  -- Counters of organizations that no longer exist.
  DELETE FROM organization_interaction_days d
  WHERE d.organization_id = ANY (p_ids) AND NOT d.organization_id = ANY (coalesce(v_live, '{}'));
  DELETE FROM organization_counters c
  WHERE c.organization_id = ANY (p_ids) AND NOT c.organization_id = ANY (coalesce(v_live, '{}'));
  IF v_live IS NULL THEN
    RETURN;
  END IF;
  INSERT INTO organization_counters (organization_id, interactions_from)
  SELECT o, v_start FROM unnest(v_live) AS o ORDER BY o
  ON CONFLICT (organization_id) DO NOTHING;
  PERFORM 1 FROM organization_counters WHERE organization_id = ANY (v_live) ORDER BY organization_id FOR UPDATE;
  DELETE FROM organization_interaction_days WHERE organization_id = ANY (v_live);
  INSERT INTO organization_interaction_days (organization_id, day, interactions)
  SELECT i.organization_id, (i.created_at AT TIME ZONE 'UTC')::date, count(*)
  FROM interactions i
  WHERE i.organization_id = ANY (v_live) AND i.created_at >= (v_start::timestamp AT TIME ZONE 'UTC')
  GROUP BY 1, 2;
  UPDATE organization_counters c SET
    contacts = (SELECT count(*) FROM contacts x WHERE x.organization_id = c.organization_id AND NOT x.is_deleted),
    open_opportunities = (SELECT count(*) FROM opportunities x
                          WHERE x.organization_id = c.organization_id AND x.stage NOT IN ('closed-won', 'closed-lost')),
    interactions_from = greatest(c.interactions_from, v_start),
    interactions_recent = (SELECT coalesce(sum(d.interactions), 0) FROM organization_interaction_days d
                           WHERE d.organization_id = c.organization_id)
  WHERE c.organization_id = ANY (v_live);
END;
$$;

-- Moves interactions_from forward to the current window start for up to
-- p_limit organizations that still keep buckets of days before it, dropping
-- those buckets. Returns how many it rolled (call again while it returns
-- p_limit). SKIP LOCKED: it never waits for, or blocks, a writer for long.
CREATE FUNCTION organization_counters_roll(p_limit integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_start date := organization_counters_window_start();
  v_orgs uuid[];
BEGIN
  SELECT array_agg(organization_id) INTO v_orgs FROM (
    SELECT c.organization_id FROM organization_counters c
    WHERE c.organization_id IN (
      SELECT DISTINCT d.organization_id FROM organization_interaction_days d WHERE d.day < v_start LIMIT p_limit)
    ORDER BY c.organization_id
    FOR UPDATE SKIP LOCKED) s;
  IF v_orgs IS NULL THEN
    RETURN 0;
  END IF;
  WITH gone AS (
    DELETE FROM organization_interaction_days d
    WHERE d.organization_id = ANY (v_orgs) AND d.day < v_start
    RETURNING d.organization_id, d.interactions
  )
  UPDATE organization_counters c
  SET interactions_recent = c.interactions_recent - g.n, interactions_from = greatest(c.interactions_from, v_start)
  FROM (SELECT organization_id, sum(interactions) AS n FROM gone GROUP BY organization_id) g
  WHERE c.organization_id = g.organization_id;
  RETURN array_length(v_orgs, 1);
END;
$$;

-- Builds the counters of existing organizations in batches of p_batch, one
-- transaction each (COMMIT inside: run it with CALL outside a transaction
-- block, as the next migration does), so no lock is held for long. Correct
-- while the service writes: the triggers above are already in place, and each
-- batch is recounted under its rows' locks (organization_counters_repair).
CREATE PROCEDURE organization_counters_backfill(p_batch integer DEFAULT 1000)
LANGUAGE plpgsql AS $$
DECLARE
  v_after uuid;
  v_ids uuid[];
BEGIN
  LOOP
    SELECT array_agg(id ORDER BY id) INTO v_ids
    FROM (SELECT o.id FROM organizations o WHERE v_after IS NULL OR o.id > v_after ORDER BY o.id LIMIT p_batch) s;
    EXIT WHEN v_ids IS NULL;
    PERFORM organization_counters_repair(v_ids);
    v_after := v_ids[array_length(v_ids, 1)];
    COMMIT;
  END LOOP;
END;
$$;
