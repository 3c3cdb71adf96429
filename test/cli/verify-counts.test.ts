// npm run db:verify-counts: drift introduced by direct SQL (behind the
// triggers' back) is reported with its stored and actual values and changes
// nothing; with --fix it is repaired, also while other sessions keep writing
// to the same organizations, and the counters then equal direct counts.
import path from 'node:path'
import t from 'tap'
import pg from 'pg'
import { runScript, type ScriptRun } from '../helpers/app'
import { createTestDatabase } from '../helpers/database'

const ROOT = path.resolve(__dirname, '../..')
const CLI = path.join(ROOT, 'src', 'cli', 'verify-counts.ts')

async function run (url: string, args: string[]): Promise<ScriptRun> {
  return await runScript(CLI, args, { ...process.env, DATABASE_URL: url })
}

t.test('db:verify-counts reports and repairs drift', async (t) => {
  t.setTimeout(180_000)
  const db = await createTestDatabase('verify_counts')
  t.teardown(db.drop)
  const pool = new pg.Pool({ connectionString: db.url, max: 4 })
  t.teardown(async () => await pool.end())
  const q = async <T extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> =>
    (await pool.query<T>(text, values)).rows

  const [{ id: userId }] = await q<{ id: string }>("INSERT INTO users (email, name) VALUES ('verify@example.test', 'Verify') RETURNING id") as [{ id: string }]
  const orgs = (await q<{ id: string }>(`
    INSERT INTO organizations (name, assigned_user_id) SELECT 'Org ' || g, $1 FROM generate_series(1, 6) g RETURNING id`, [userId])).map((r) => r.id).sort()
  for (const [i, org] of orgs.entries()) {
    await q("INSERT INTO contacts (organization_id, first_name, last_name, is_deleted) SELECT $1, 'A', 'B' || g, g % 4 = 0 FROM generate_series(1, $2::int) g", [org, 5 + i])
    await q(`INSERT INTO opportunities (organization_id, name, stage)
             SELECT $1, 'Deal ' || g, (ARRAY['prospecting','closed-won','negotiation','closed-lost'])[1 + g % 4]::opportunity_stage FROM generate_series(1, $2::int) g`, [org, 3 + i])
    await q(`INSERT INTO interactions (organization_id, user_id, type, subject, created_at)
             SELECT $1, $2, 'call', 'Call ' || g, now() - g * INTERVAL '7 hours' FROM generate_series(1, $3::int) g`, [org, userId, 400 + i])
  }
  const clean = await run(db.url, [])
  t.equal(clean.status, 0, 'counters kept by the triggers: no drift')
  t.match(clean.stdout, /checked 6 organizations: 0 drifted counters in 0 organizations/)

  // Drift of every kind, written straight into the counter tables.
  const [a, b, c, d] = orgs as [string, string, string, string]
  await q('UPDATE organization_counters SET contacts = contacts + 3 WHERE organization_id = $1', [a])
  await q('UPDATE organization_counters SET open_opportunities = 0, interactions_recent = interactions_recent - 1 WHERE organization_id = $1', [b])
  await q('UPDATE organization_interaction_days SET interactions = interactions + 2 WHERE organization_id = $1 AND day = (SELECT max(day) FROM organization_interaction_days WHERE organization_id = $1)', [c])
  await q('DELETE FROM organization_counters WHERE organization_id = $1', [d])
  const orphan = '00000000-0000-4000-8000-000000000001'
  await q('INSERT INTO organization_counters (organization_id, contacts, interactions_from) VALUES ($1, 7, current_date)', [orphan])
  const snapshot = async (): Promise<string> => JSON.stringify([
    await q('SELECT * FROM organization_counters ORDER BY organization_id'),
    await q('SELECT * FROM organization_interaction_days ORDER BY organization_id, day')])
  const before = await snapshot()

  const report = await run(db.url, [])
  t.equal(report.status, 1, 'drift without --fix: exit 1')
  t.match(report.stdout, new RegExp(`drift: organization ${a} contacts: stored \\d+, actual \\d+`))
  t.match(report.stdout, new RegExp(`drift: organization ${b} open_opportunities: stored 0, actual [1-9]`))
  t.match(report.stdout, new RegExp(`drift: organization ${b} interactions_recent: stored \\d+`))
  t.match(report.stdout, new RegExp(`drift: organization ${c} interactions_day \\d{4}-\\d\\d-\\d\\d: stored \\d+`))
  t.match(report.stdout, new RegExp(`drift: organization ${b} interactions_90_days: stored \\d+`), 'the listing\'s own 90-day count is off too')
  t.match(report.stdout, new RegExp(`drift: organization ${d} contacts: stored 0, actual [1-9]`), 'a missing counter row')
  t.match(report.stdout, new RegExp(`drift: organization ${orphan} orphan`))
  t.match(report.stdout, /in 5 organizations\n/)
  t.equal(await snapshot(), before, 'a report changes nothing')

  // Repair while four other sessions keep writing to the drifted organizations.
  const state = { writing: true }
  const writer = async (org: string, n: number): Promise<void> => {
    for (let i = 0; state.writing; i++) {
      await q("INSERT INTO interactions (organization_id, user_id, type, subject, created_at) VALUES ($1, $2, 'note', 'During repair', now() - $3 * INTERVAL '1 day')", [org, userId, (i * 13 + n) % 100])
      await q('UPDATE contacts SET is_deleted = NOT is_deleted WHERE id = (SELECT id FROM contacts WHERE organization_id = $1 ORDER BY id OFFSET $2 LIMIT 1)', [org, i % 5])
      await q("UPDATE opportunities SET stage = CASE WHEN stage = 'closed-won' THEN 'proposal'::opportunity_stage ELSE 'closed-won' END WHERE id = (SELECT id FROM opportunities WHERE organization_id = $1 ORDER BY id OFFSET $2 LIMIT 1)", [org, i % 3])
    }
  }
  const writers = [writer(a, 1), writer(b, 2), writer(c, 3), writer(d, 4)]
  const fixed = await run(db.url, ['--fix', '--batch', '2'])
  state.writing = false
  await Promise.all(writers)
  t.equal(fixed.status, 0, `--fix: exit 0 (${fixed.stderr})`)
  t.match(fixed.stdout, /drifted counters in 5 organizations, repaired 5, 0 still drifted/)

  const direct = await q<{ ok: boolean }>(`
    SELECT bool_and(k.contact_count = (SELECT count(*) FROM contacts x WHERE x.organization_id = o.id AND NOT x.is_deleted)
                AND k.opportunity_count = (SELECT count(*) FROM opportunities x WHERE x.organization_id = o.id AND x.stage NOT IN ('closed-won', 'closed-lost'))
                AND k.interaction_count = (SELECT count(*) FROM interactions x WHERE x.organization_id = o.id AND x.created_at >= now() - INTERVAL '90 days')) AS ok
    FROM organizations o CROSS JOIN LATERAL organization_counts(o.id) k`)
  t.equal(direct[0]?.ok, true, 'after the repair and the concurrent writes, every count equals a direct count(*)')
  t.same(await q('SELECT 1 FROM organization_counters WHERE organization_id = $1', [orphan]), [], 'the orphan row is gone')
  const again = await run(db.url, [])
  t.equal(again.status, 0, 'a second check finds nothing')
  t.match(again.stdout, /0 drifted counters/)

  const bad = await run(db.url, ['--batch', 'x'])
  t.equal(bad.status, 2, 'a bad argument: exit 2')
  t.match(bad.stderr, /--batch must be an integer/)
})
