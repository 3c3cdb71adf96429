-- Which transaction last changed each sort key of an organization, so a walk
-- by keyset cursor (contract §6) never returns a row twice: a row whose key
-- changed after the walk's first page may have moved to a position the walk
-- has still to reach, after it was shown. The first page's snapshot
-- (pg_current_snapshot()) travels in the cursor; later pages leave out the
-- rows whose key change that snapshot does not see. Those rows did not keep
-- an unchanged sort key for the whole walk, so leaving them out skips nothing
-- the contract promises; rows whose other fields changed are unaffected.
--   priority_changed_xid  sort=priority (its key: priority, created_at, id; created_at never changes)
--   name_changed_xid      sort=name
--   updated_xid           sort=-updatedAt (every update moves the row)
-- NULL: unchanged since the row was inserted. Nullable columns without a
-- default: adding them rewrites nothing and takes no long lock.
ALTER TABLE organizations
  ADD COLUMN priority_changed_xid BIGINT,
  ADD COLUMN name_changed_xid BIGINT,
  ADD COLUMN updated_xid BIGINT;

CREATE FUNCTION organizations_note_sort_key_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.priority_level IS DISTINCT FROM OLD.priority_level THEN
    NEW.priority_changed_xid := pg_current_xact_id()::text::bigint;
  END IF;
  IF NEW.name IS DISTINCT FROM OLD.name THEN
    NEW.name_changed_xid := pg_current_xact_id()::text::bigint;
  END IF;
  IF NEW.updated_at IS DISTINCT FROM OLD.updated_at THEN
    NEW.updated_xid := pg_current_xact_id()::text::bigint;
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER organizations_sort_key_changes
  BEFORE UPDATE OF priority_level, name, updated_at ON organizations
  FOR EACH ROW EXECUTE FUNCTION organizations_note_sort_key_changes();
