// Property: the per-organization counters always equal a direct count(*).
// Random sequences of writes, through the API (creates, soft deletes, stage
// changes, reassignments of organizations) and, for what the API cannot do,
// through SQL as another service or an operator would (restores, moving rows
// to another organization, backdated and re-dated interactions on either side
// of the 90-day boundary, bulk inserts across organizations, hard deletes,
// counters last rolled days ago, the roll-off). After each sequence, every
// count the API shows (listing and by-id) and every stored counter equals
// count(*) over the rows. PROPERTY_SEED / PROPERTY_RUNS_SCALE as for the
// other properties.
import t from 'tap'
import fc from 'fast-check'
import pg from 'pg'
import { bumpCacheEpoch } from '../../../scripts/seed/cache-epoch'
import { as, createUsers, type TestUser } from '../../helpers/api'
import { buildTestApp } from '../../helpers/app'
import { createTestDatabase } from '../../helpers/database'
import { NUM_RUNS, SEED } from '../../helpers/property/runs'

const STAGES = ['prospecting', 'qualification', 'proposal', 'negotiation', 'closed-won', 'closed-lost'] as const
// Ages (seconds before now) around the window's edges: just inside and just outside 90 days, the boundary day, older, future.
const AGES = [0, 60, 86_400 * 45, 86_400 * 89, 86_400 * 90 - 5, 86_400 * 90 + 5, 86_400 * 90 + 3600, 86_400 * 91, 86_400 * 200, -86_400]

const pick = fc.nat({ max: 1000 })
const opArb = fc.oneof(
  fc.record({ op: fc.constant('createOrg' as const), owner: fc.nat({ max: 1 }) }),
  fc.record({ op: fc.constant('createContact' as const), org: pick }),
  fc.record({ op: fc.constant('deleteContact' as const), contact: pick }),
  fc.record({ op: fc.constant('createInteraction' as const), org: pick }),
  fc.record({ op: fc.constant('createOpportunity' as const), org: pick, stage: fc.constantFrom(...STAGES) }),
  fc.record({ op: fc.constant('changeStage' as const), opportunity: pick, stage: fc.constantFrom(...STAGES) }),
  fc.record({ op: fc.constant('reassignOrg' as const), org: pick, owner: fc.nat({ max: 1 }) }),
  fc.record({ op: fc.constant('deleteOrg' as const), org: pick }),
  fc.record({ op: fc.constant('restoreContact' as const), contact: pick }),
  fc.record({ op: fc.constant('move' as const), table: fc.constantFrom('contacts', 'interactions', 'opportunities'), row: pick, org: pick }),
  fc.record({ op: fc.constant('redate' as const), interaction: pick, age: fc.constantFrom(...AGES) }),
  fc.record({ op: fc.constant('bulkInteractions' as const), n: fc.integer({ min: 1, max: 300 }), seed: fc.nat() }),
  fc.record({ op: fc.constant('hardDelete' as const), table: fc.constantFrom('contacts', 'interactions', 'opportunities'), row: pick }),
  fc.record({ op: fc.constant('rewind' as const), org: pick, days: fc.integer({ min: 1, max: 120 }) }),
  fc.record({ op: fc.constant('roll' as const) })
)
type Op = typeof opArb extends fc.Arbitrary<infer T> ? T : never

t.test('property: counters equal count(*) after any sequence of writes', async (t) => {
  const db = await createTestDatabase('property_counters')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url)
  const pool = new pg.Pool({ connectionString: db.url, max: 2 })
  t.teardown(async () => await pool.end())
  const [admin, ...owners] = await createUsers(app, db.url, ['admin', 'member', 'member']) as [TestUser, TestUser, TestUser]
  const sql = async <T extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> =>
    (await pool.query<T>(text, values)).rows
  /** The i-th row (modulo their number) of a table, in id order; live organizations only for 'organizations'. */
  const nth = async (table: string, i: number): Promise<string | undefined> => {
    const where = table === 'organizations' ? 'WHERE NOT is_deleted' : ''
    return (await sql<{ id: string }>(`SELECT id FROM ${table} ${where} ORDER BY id OFFSET $1 % greatest(1, (SELECT count(*) FROM ${table} ${where})) LIMIT 1`, [i]))[0]?.id
  }
  const api = async (method: 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object): Promise<void> => {
    const res = await as(app, admin, { method, url: `/api/v1${url}`, payload })
    if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`)
  }

  const exec = async (op: Op): Promise<void> => {
    switch (op.op) {
      case 'createOrg':
        return await api('POST', '/organizations', { name: 'Counted', assignedUserId: owners[op.owner]!.id })
      case 'createContact': {
        const org = await nth('organizations', op.org)
        if (org !== undefined) await api('POST', `/organizations/${org}/contacts`, { firstName: 'C', lastName: 'D' })
        return
      }
      case 'deleteContact': {
        const id = (await sql<{ id: string }>('SELECT c.id FROM contacts c JOIN organizations o ON o.id = c.organization_id WHERE NOT c.is_deleted AND NOT o.is_deleted ORDER BY c.id'))[op.contact % 1000]?.id
        if (id !== undefined) await api('DELETE', `/contacts/${id}`)
        return
      }
      case 'createInteraction': {
        const org = await nth('organizations', op.org)
        if (org !== undefined) await api('POST', `/organizations/${org}/interactions`, { type: 'call', subject: 'Counted call' })
        return
      }
      case 'createOpportunity': {
        const org = await nth('organizations', op.org)
        if (org !== undefined) await api('POST', `/organizations/${org}/opportunities`, { name: 'Deal', stage: op.stage })
        return
      }
      case 'changeStage': {
        const id = (await sql<{ id: string }>('SELECT p.id FROM opportunities p JOIN organizations o ON o.id = p.organization_id WHERE NOT o.is_deleted ORDER BY p.id'))[op.opportunity % 1000]?.id
        if (id !== undefined) await api('PATCH', `/opportunities/${id}`, { stage: op.stage })
        return
      }
      case 'reassignOrg': {
        const org = await nth('organizations', op.org)
        if (org !== undefined) await api('PATCH', `/organizations/${org}`, { assignedUserId: owners[op.owner]!.id })
        return
      }
      case 'deleteOrg': {
        const org = await nth('organizations', op.org)
        if (org !== undefined) await api('DELETE', `/organizations/${org}`)
        return
      }
      case 'restoreContact': {
        const id = await nth('contacts', op.contact)
        if (id !== undefined) await sql('UPDATE contacts SET is_deleted = FALSE WHERE id = $1', [id])
        return
      }
      case 'move': {
        const [row, org] = [await nth(op.table, op.row), await nth('organizations', op.org)]
        if (row !== undefined && org !== undefined) await sql(`UPDATE ${op.table} SET organization_id = $2 WHERE id = $1`, [row, org])
        return
      }
      case 'redate': {
        const id = await nth('interactions', op.interaction)
        if (id !== undefined) await sql("UPDATE interactions SET created_at = now() - $2 * INTERVAL '1 second' WHERE id = $1", [id, op.age])
        return
      }
      case 'bulkInteractions':
        // One statement across every organization: one trigger call aggregates them all.
        await sql(`
          INSERT INTO interactions (organization_id, user_id, type, subject, created_at)
          SELECT o.id, $1, 'email', 'Imported', now() - (($3::bigint * 7919 + g * 104729) % (86400 * 200) - 86400) * INTERVAL '1 second'
          FROM generate_series(1, $2::int) g
          JOIN LATERAL (SELECT id FROM organizations ORDER BY id OFFSET (g + $3::bigint) % greatest(1, (SELECT count(*) FROM organizations)) LIMIT 1) o ON TRUE`,
        [owners[0]!.id, op.n, op.seed])
        return
      case 'hardDelete': {
        const id = await nth(op.table, op.row)
        if (id !== undefined) await sql(`DELETE FROM ${op.table} WHERE id = $1`, [id])
        return
      }
      case 'rewind': {
        // As if the organization's counters were last rolled `days` ago: an
        // earlier interactions_from, with the buckets and total that go with it.
        const org = await nth('organizations', op.org)
        if (org === undefined) return
        await sql(`
          WITH c AS (SELECT interactions_from AS old_from, interactions_from - $2::int AS new_from FROM organization_counters WHERE organization_id = $1 FOR UPDATE),
          days AS (
            SELECT (i.created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n FROM interactions i, c
            WHERE i.organization_id = $1 AND i.created_at >= (c.new_from::timestamp AT TIME ZONE 'UTC') AND i.created_at < (c.old_from::timestamp AT TIME ZONE 'UTC')
            GROUP BY 1),
          ins AS (INSERT INTO organization_interaction_days (organization_id, day, interactions) SELECT $1, day, n FROM days)
          UPDATE organization_counters SET interactions_from = c.new_from, interactions_recent = interactions_recent + coalesce((SELECT sum(n) FROM days), 0)
          FROM c WHERE organization_id = $1`, [org, op.days])
        return
      }
      case 'roll':
        await sql('SELECT organization_counters_roll(1000)')
    }
  }

  interface Counts { id: string; contactCount: number; interactionCount: number; opportunityCount: number }
  const direct = async (): Promise<Counts[]> => (await sql<{ id: string; c: string; i: string; p: string }>(`
    SELECT o.id,
      (SELECT count(*) FROM contacts x WHERE x.organization_id = o.id AND NOT x.is_deleted) AS c,
      (SELECT count(*) FROM interactions x WHERE x.organization_id = o.id AND x.created_at >= now() - INTERVAL '90 days') AS i,
      (SELECT count(*) FROM opportunities x WHERE x.organization_id = o.id AND x.stage NOT IN ('closed-won', 'closed-lost')) AS p
    FROM organizations o WHERE NOT o.is_deleted ORDER BY o.id`)).map((r) => ({ id: r.id, contactCount: Number(r.c), interactionCount: Number(r.i), opportunityCount: Number(r.p) }))

  let checked = 0
  await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 30 }), async (ops) => {
    for (const op of ops) await exec(op)
    // SQL writes bypass the service's cache invalidation: start from a clean cache.
    await bumpCacheEpoch(app.config)
    const expected = await direct()
    const list = await as(app, admin, { method: 'GET', url: '/api/v1/organizations?limit=200' })
    if (list.statusCode !== 200) throw new Error(`listing: ${list.statusCode}`)
    const listed = (list.json<{ data: Counts[] }>().data)
      .map(({ id, contactCount, interactionCount, opportunityCount }) => ({ id, contactCount, interactionCount, opportunityCount }))
      .sort((a, b) => a.id < b.id ? -1 : 1)
    t.same(listed, expected.slice(0, 200), 'the listing shows the direct counts')
    for (const org of expected) {
      const one = await as(app, admin, { method: 'GET', url: `/api/v1/organizations/${org.id}` })
      const { contactCount, interactionCount, opportunityCount } = one.json<Counts>()
      if (contactCount !== org.contactCount || interactionCount !== org.interactionCount || opportunityCount !== org.opportunityCount) {
        t.fail(`GET /organizations/${org.id}: ${JSON.stringify({ contactCount, interactionCount, opportunityCount })}, direct ${JSON.stringify(org)}`)
        return false
      }
    }
    const drift = await sql('SELECT * FROM organization_counters_drift(ARRAY(SELECT id FROM organizations))')
    checked++
    return drift.length === 0 && t.same(listed, expected.slice(0, 200))
  }), { numRuns: NUM_RUNS.counters, ...SEED })
  t.ok(checked >= NUM_RUNS.counters, `${checked} sequences checked`)
})
