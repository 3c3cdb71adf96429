-- Builds the counters of the organizations that existed before the triggers
-- (previous migration), in batches of 1,000 organizations that each commit:
-- online, no long lock. A CALL that commits cannot run inside a transaction
-- block, so this migration holds this one statement and runs outside one
-- (src/lib/migrator.ts, as Prisma runs a one-statement script).
CALL organization_counters_backfill(1000);
