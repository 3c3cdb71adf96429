// Verification and repair of the per-organization counters (docs/database.md,
// "Counters"): compares each stored value with a direct count, batch by batch,
// and with fix recounts the drifted organizations under their counter rows'
// locks. Safe on a live database: each batch is one short statement (the
// check, exact under concurrent writes because counters and rows commit
// together) and, for a repair, one short transaction that locks only the
// drifted organizations' counter rows.
import type pg from 'pg'

export interface Drift {
  organizationId: string
  /** contacts, open_opportunities, interactions_recent, interactions_90_days, interactions_day <date>, or orphan. */
  counter: string
  stored: number
  actual: number
}

export interface VerifyOptions {
  fix: boolean
  /** Organizations per batch (default 1,000). */
  batch?: number
  /** Called with each drift found (before any repair). */
  onDrift?: (drift: Drift) => void
}

export interface VerifyResult {
  organizations: number
  drifts: number
  driftedOrganizations: number
  repaired: number
  /** Drifts still found right after the repair (0 unless the repair is wrong). */
  remaining: number
}

interface DriftRow { organization_id: string; counter: string; stored: string; actual: string }

const toDrift = (r: DriftRow): Drift => ({ organizationId: r.organization_id, counter: r.counter, stored: Number(r.stored), actual: Number(r.actual) })

async function drifts (db: pg.ClientBase, ids: string[]): Promise<Drift[]> {
  const { rows } = await db.query<DriftRow>('SELECT * FROM organization_counters_drift($1::uuid[])', [ids])
  return rows.map(toDrift)
}

export async function verifyCounters (db: pg.ClientBase, options: VerifyOptions): Promise<VerifyResult> {
  const batch = options.batch ?? 1000
  const result: VerifyResult = { organizations: 0, drifts: 0, driftedOrganizations: 0, repaired: 0, remaining: 0 }
  const handle = async (found: Drift[]): Promise<void> => {
    if (found.length === 0) return
    for (const d of found) options.onDrift?.(d)
    const ids = [...new Set(found.map((d) => d.organizationId))]
    result.drifts += found.length
    result.driftedOrganizations += ids.length
    if (!options.fix) return
    await db.query('SELECT organization_counters_repair($1::uuid[])', [ids])
    result.repaired += ids.length
    result.remaining += (await drifts(db, ids)).filter((d) => d.counter !== 'orphan').length
  }

  let after: string | null = null
  for (;;) {
    const { rows }: pg.QueryResult<{ id: string }> = await db.query<{ id: string }>(
      'SELECT id FROM organizations WHERE $1::uuid IS NULL OR id > $1::uuid ORDER BY id LIMIT $2', [after, batch])
    if (rows.length === 0) break
    const ids: string[] = rows.map((r) => r.id)
    result.organizations += ids.length
    await handle(await drifts(db, ids))
    after = ids[ids.length - 1]!
  }

  // Counters and buckets of organizations that no longer exist (a hard
  // delete bypassing the triggers, a restore of one table...).
  const { rows: orphans } = await db.query<DriftRow>(`
    SELECT organization_id, 'orphan' AS counter, 1 AS stored, 0 AS actual FROM (
      SELECT c.organization_id FROM organization_counters c
      WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = c.organization_id)
      UNION
      SELECT d.organization_id FROM organization_interaction_days d
      WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = d.organization_id)) s
    ORDER BY organization_id`)
  for (let i = 0; i < orphans.length; i += batch) await handle(orphans.slice(i, i + batch).map(toDrift))
  return result
}
