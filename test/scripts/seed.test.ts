// The seed against a real PostgreSQL: a throw-away database per run, migrated
// from prisma/migrations, seeded with 2,000 organizations in both layouts
// (clustered and live); and a reseed under a running app, whose Redis-cached
// answers must not outlive the data.
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import t from 'tap'
import pg from 'pg'
import { buildTestApp, REDIS_URL, runScript, type ScriptRun } from '../helpers/app'
import { createTestDatabase, withClient } from '../helpers/database'
import { freePort } from '../helpers/net'
import { until } from '../helpers/wait'
import { removeRedisKeys } from '../../scripts/lib/redis-keys'
import { seedDatabase, SeedRefusedError, SEED_TABLES, type SeedOptions } from '../../scripts/seed/seed-data'
import { nodeArgs } from '../../scripts/lib/child-processes'

const ROOT = path.resolve(__dirname, '../..')
const SEED_CLI = path.join(ROOT, 'scripts', 'seed', 'main.ts')
const TODAY = new Date(new Date().toISOString().slice(0, 10) + 'T00:00:00Z')
const ORGS = 2000

const TABLES = `ARRAY[${SEED_TABLES.map((s) => `'${s}'`).join(',')}]`

t.test('db:seed', async (t) => {
  t.setTimeout(300_000)
  const db = await createTestDatabase('seed')
  t.teardown(db.drop)
  const DB_URL = db.url

  const client = new pg.Client({ connectionString: DB_URL })
  await client.connect()
  t.teardown(() => client.end())
  const pool = new pg.Pool({ connectionString: DB_URL, max: 2 })
  t.teardown(() => pool.end())

  const one = async <T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T> =>
    (await client.query(sql, params)).rows[0] as T
  const schema = async () => (await client.query(`
    SELECT 'index' AS kind, indexname AS name, indexdef AS def FROM pg_indexes
    WHERE schemaname = current_schema() AND tablename = ANY (${TABLES})
    UNION ALL
    SELECT 'constraint', conname, pg_get_constraintdef(oid) || CASE WHEN convalidated THEN '' ELSE ' NOT VALID' END
    FROM pg_constraint WHERE conrelid = ANY (${TABLES}::regclass[])
    ORDER BY 1, 2`)).rows
  const checksums = async () => one<Record<string, string>>(`SELECT
    ${SEED_TABLES.map((tb) => `(SELECT md5(string_agg(x::text, '|' ORDER BY x.id)) FROM ${tb} x) AS ${tb}`).join(',\n')}`)
  const seed = (opts: Partial<SeedOptions>) =>
    seedDatabase(pool, { organizations: ORGS, seed: 7, now: TODAY, reset: false, log: () => undefined, ...opts })

  const before = await schema()
  t.ok(before.filter((r) => r.kind === 'index').length >= 12, 'migrations created the indexes')
  const log: string[] = []
  const result = await seed({ log: (line) => log.push(line) })
  const first = await checksums()

  t.test('row counts', async (t) => {
    const counts = await one<Record<string, string>>(`SELECT ${SEED_TABLES.map((tb) => `(SELECT count(*) FROM ${tb}) AS ${tb}`).join(', ')}`)
    for (const tb of SEED_TABLES) t.equal(result.rows[tb], Number(counts[tb]), `reported ${tb} count is the table's`)
    t.equal(result.rows.organizations, ORGS)
    t.equal(result.rows.users, 4, 'one admin and at least three members')
    t.ok(result.rows.contacts >= 4.5 * ORGS && result.rows.contacts <= 5.5 * ORGS, `contacts ≈ 5× (${result.rows.contacts})`)
    t.ok(result.rows.interactions >= 9 * ORGS && result.rows.interactions <= 11 * ORGS, `interactions ≈ 10× (${result.rows.interactions})`)
    t.ok(result.rows.opportunities >= 1.8 * ORGS && result.rows.opportunities <= 2.2 * ORGS, `opportunities ≈ 2× (${result.rows.opportunities})`)
    t.ok(log.some((l) => /organizations: 2000, .*\(\d+\.\d s\)/.test(l)), 'progress lines name tables, rows and seconds')
  })

  t.test('content', async (t) => {
    const r = await one<Record<string, string | number | boolean>>(`SELECT
      (SELECT count(*) FROM users WHERE role = 'admin')::int AS admins,
      (SELECT count(DISTINCT stage) FROM opportunities)::int AS stages,
      (SELECT count(*) FROM organizations WHERE is_deleted)::int AS deleted_orgs,
      (SELECT count(*) FROM contacts WHERE is_deleted)::int AS deleted_contacts,
      (SELECT count(*) FROM organizations WHERE strpos(name, '%') > 0)::int AS percent_names,
      (SELECT count(*) FROM organizations WHERE strpos(name, '_') > 0)::int AS underscore_names,
      (SELECT count(*) FROM organizations WHERE website IS NULL)::int AS no_website,
      (SELECT count(*) FROM organizations WHERE annual_revenue IS NULL)::int AS no_revenue,
      (SELECT count(*) FROM interactions WHERE created_at >= now() - interval '90 days')::int AS recent_interactions,
      (SELECT count(*) FROM interactions WHERE created_at < now() - interval '731 days')::int AS ancient_interactions,
      (SELECT count(*) FROM opportunities WHERE stage = 'closed-won'
         AND close_date >= date_trunc('quarter', now())::date)::int AS won_this_quarter,
      (SELECT count(*) FILTER (WHERE i.user_id = o.assigned_user_id)::float8 / count(*)
         FROM interactions i JOIN organizations o ON o.id = i.organization_id) AS by_owner,
      (SELECT max(n) > 1.2 * min(n) FROM (SELECT count(*) AS n FROM organizations GROUP BY assigned_user_id) s) AS skewed`)
    t.equal(r.admins, 1, 'exactly one admin')
    t.equal(r.stages, 6, 'every opportunity stage present')
    t.ok((r.deleted_orgs as number) > 0 && (r.deleted_orgs as number) < 0.03 * ORGS, `a few soft-deleted organizations (${r.deleted_orgs})`)
    t.ok((r.deleted_contacts as number) > 0, 'some soft-deleted contacts')
    t.ok((r.percent_names as number) > 0, "a name containing '%'")
    t.ok((r.underscore_names as number) > 0, "a name containing '_'")
    t.ok((r.no_website as number) > 0 && (r.no_revenue as number) > 0, 'some optional fields are null')
    t.ok((r.recent_interactions as number) > 0, 'interactions in the last 90 days')
    t.equal(r.ancient_interactions, 0, 'interactions stay within two years')
    t.ok((r.won_this_quarter as number) > 0, 'closed-won deals in the current quarter')
    t.ok((r.by_owner as number) > 0.75 && (r.by_owner as number) < 0.95, 'interactions mostly logged by the owner')
    t.equal(r.skewed, true, 'ownership is skewed over members')
  })

  t.test('indexes and constraints survive', async (t) => {
    t.same(await schema(), before, 'same indexes and constraints, same definitions')
    const invalid = await one<{ n: number }>(`SELECT count(*)::int AS n FROM pg_index
      WHERE indrelid = ANY (${TABLES}::regclass[]) AND NOT (indisvalid AND indisready AND indislive)`)
    t.equal(invalid.n, 0, 'every index is valid')
  })

  t.test('dashboard view reflects the data', async (t) => {
    const top = await one<{ id: string }>(`SELECT assigned_user_id AS id FROM organizations
      WHERE NOT is_deleted GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1`)
    const view = await one<Record<string, string>>('SELECT * FROM dashboard_analytics WHERE user_id = $1', [top.id])
    const direct = await one<Record<string, string>>(`
      WITH owned AS (SELECT id, priority_level FROM organizations WHERE assigned_user_id = $1 AND NOT is_deleted)
      SELECT (SELECT count(*) FROM owned)::text AS total_organizations,
             (SELECT count(*) FROM owned WHERE priority_level = 'A')::text AS high_priority_orgs,
             (SELECT count(*) FROM contacts WHERE NOT is_deleted AND organization_id IN (SELECT id FROM owned))::text AS total_contacts,
             (SELECT count(*) FROM interactions WHERE created_at >= date_trunc('month', now())
                AND organization_id IN (SELECT id FROM owned))::text AS interactions_this_month,
             (SELECT count(*) FROM opportunities WHERE stage NOT IN ('closed-won', 'closed-lost')
                AND organization_id IN (SELECT id FROM owned))::text AS active_opportunities,
             (SELECT coalesce(sum(value), 0)::numeric(16, 2) FROM opportunities WHERE stage = 'closed-won'
                AND close_date >= date_trunc('quarter', now())::date
                AND close_date < (date_trunc('quarter', now()) + interval '3 months')::date
                AND organization_id IN (SELECT id FROM owned))::text AS won_revenue_this_quarter`, [top.id])
    t.ok(view, 'the view has a row for the user')
    for (const [k, v] of Object.entries(direct)) t.equal(view[k], v, `${k} matches a direct query`)
    t.ok(Number(direct.total_organizations) > 0, 'the user owns organizations')
  })

  t.test('reproducible', async (t) => {
    await t.rejects(seed({}), SeedRefusedError, 'refuses a non-empty database without reset')
    t.same(await checksums(), first, 'refusal left the data alone')
    await seed({ reset: true })
    t.same(await checksums(), first, 'same seed and date: identical rows, ids included')
    await seed({ reset: true, seed: 8 })
    const other = await checksums()
    t.not(other.organizations, first.organizations, 'another seed: other organizations')
    t.not(other.opportunities, first.opportunities, 'another seed: other opportunities')
    t.same(await schema(), before, 'indexes and constraints intact after reseeding')
  })

  // How each child table's rows lie on the heap: per organization, the span
  // between its first and last row's page as a share of the table's pages
  // (averaged over organizations with two or more rows), and the share of
  // rows created before the row stored ahead of them (0: heap in time order;
  // a few in the live layout, where the free space map lets a short row fill
  // the end of an earlier page, as on a live table).
  const layoutOf = async (table: string) => one<{ span: number; inversions: number; pages: number; all_visible: number }>(`
    WITH r AS (SELECT organization_id, (ctid::text::point)[0] AS page, created_at,
                      lag(created_at) OVER (ORDER BY ctid) AS before FROM ${table}),
         s AS (SELECT (max(page) - min(page)) AS span FROM r GROUP BY organization_id HAVING count(*) >= 2)
    SELECT (SELECT avg(span) FROM s) / (pg_relation_size('${table}') / 8192) AS span,
           (SELECT avg((created_at < before)::int)::float8 FROM r) AS inversions,
           (pg_relation_size('${table}') / 8192)::int AS pages,
           (SELECT all_visible FROM pg_visibility_map_summary('${table}'))::int AS all_visible`)
  const CHILDREN = ['contacts', 'interactions', 'opportunities']

  t.test('layouts: clustered and live hold the same rows, laid out differently', async (t) => {
    await client.query('CREATE EXTENSION IF NOT EXISTS pg_visibility')
    // Only the seeder may touch the visibility map here (autovacuum could set it at any time).
    for (const tb of SEED_TABLES) await client.query(`ALTER TABLE ${tb} SET (autovacuum_enabled = false)`)
    await seed({ reset: true })
    for (const tb of CHILDREN) {
      const l = await layoutOf(tb)
      t.ok(l.span < 0.01, `clustered ${tb}: an organization's rows on neighbouring pages (mean span ${l.span.toFixed(4)} of the heap)`)
      t.ok(l.inversions > 0.2, `clustered ${tb}: not in time order (${(l.inversions * 100).toFixed(1)} % of rows older than their predecessor)`)
      t.equal(l.all_visible, l.pages, `clustered ${tb}: vacuumed, every page all-visible`)
    }
    const liveLog: string[] = []
    const live = await seed({ reset: true, layout: 'live', log: (line) => liveLog.push(line) })
    t.same(live.rows, result.rows, 'same row counts as the clustered seed')
    t.same(await checksums(), first, 'same seed and date: identical rows, ids included, in either layout')
    t.same(await schema(), before, 'indexes and constraints intact')
    t.ok(liveLog.some((l) => /no vacuum/.test(l)) && !liveLog.some((l) => /^vacuumed/.test(l)), 'the live load is not vacuumed')
    for (const tb of CHILDREN) {
      const l = await layoutOf(tb)
      t.ok(l.span > 0.4, `live ${tb}: an organization's rows spread over the heap (mean span ${l.span.toFixed(2)} of ${l.pages} pages)`)
      t.ok(l.inversions < 0.01, `live ${tb}: heap order is creation-time order (${(l.inversions * 100).toFixed(2)} % of rows older than their predecessor)`)
      t.equal(l.all_visible, 0, `live ${tb}: no page all-visible (pg_visibility)`)
      const c = await one<{ relpages: number; relallvisible: number }>('SELECT relpages, relallvisible FROM pg_class WHERE oid = $1::regclass', [tb])
      t.ok(c.relallvisible < c.relpages, `live ${tb}: relallvisible ${c.relallvisible} < relpages ${c.relpages}`)
    }
    // The busiest organization older than the two years interactions cover: its rows lie on as many pages, far apart.
    const busiest = await one<{ n: number; pages: number; span: number; heap: number }>(`
      WITH o AS (SELECT organization_id FROM interactions i JOIN organizations g ON g.id = i.organization_id
                 WHERE g.created_at < now() - interval '2 years' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1),
           r AS (SELECT (ctid::text::point)[0] AS page FROM interactions WHERE organization_id = (SELECT organization_id FROM o))
      SELECT count(*)::int AS n, count(DISTINCT page)::int AS pages, (max(page) - min(page))::int AS span,
             (pg_relation_size('interactions') / 8192)::int AS heap FROM r`)
    t.ok(busiest.pages >= 0.75 * busiest.n, `live: ${busiest.n} interactions of one organization on ${busiest.pages} pages`)
    t.ok(busiest.span >= busiest.heap / 2, `live: from page to page ${busiest.span} apart of ${busiest.heap}`)
  })

  t.test('with a counter table kept by a statement-level trigger and a foreign key to organizations', async (t) => {
    await client.query(`
      CREATE TABLE seed_test_counts (organization_id uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE, n int NOT NULL);
      CREATE FUNCTION seed_test_count () RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO seed_test_counts AS c (organization_id, n) SELECT organization_id, count(*) FROM added GROUP BY 1
        ON CONFLICT (organization_id) DO UPDATE SET n = c.n + excluded.n;
        RETURN NULL;
      END $$;
      CREATE TRIGGER seed_test_count AFTER INSERT ON interactions REFERENCING NEW TABLE AS added
        FOR EACH STATEMENT EXECUTE FUNCTION seed_test_count ()`)
    t.teardown(async () => {
      await client.query('DROP TABLE seed_test_counts; DROP TRIGGER seed_test_count ON interactions; DROP FUNCTION seed_test_count ()')
    })
    for (const layout of ['clustered', 'live'] as const) {
      await seed({ organizations: 200, reset: true, layout })
      const r = await one<{ counted: number; rows: number; fk: number }>(`SELECT
        (SELECT sum(n) FROM seed_test_counts)::int AS counted, (SELECT count(*) FROM interactions)::int AS rows,
        (SELECT count(*) FROM pg_constraint WHERE conrelid = 'seed_test_counts'::regclass AND contype = 'f' AND convalidated)::int AS fk`)
      t.ok(r.rows > 0, `${layout}: interactions loaded`)
      t.equal(r.counted, r.rows, `${layout}: the trigger counted every loaded row (the old counts went with TRUNCATE … CASCADE)`)
      t.equal(r.fk, 1, `${layout}: the counter table's foreign key is back and validated`)
    }
  })

  t.test('CLI', async (t) => {
    const run = (...args: string[]) => spawnSync(process.execPath, nodeArgs(SEED_CLI, args),
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, DATABASE_URL: DB_URL } })
    const bad = run('--organizations', 'abc')
    t.equal(bad.status, 2, 'bad --organizations exits 2')
    t.match(bad.stderr, /--organizations/, 'and names the option')
    t.equal(run('--now', '2025-02-30').status, 2, 'impossible --now date exits 2')
    t.equal(run('--organizations', '10', '--bogus').status, 2, 'unknown option exits 2')
    const badLayout = run('--layout', 'heap')
    t.equal(badLayout.status, 2, 'unknown --layout exits 2')
    t.match(badLayout.stderr, /--layout/, 'and names the option')
    const refused = run('--organizations', '10')
    t.equal(refused.status, 1, 'non-empty database without --reset exits 1')
    t.match(refused.stderr, /--reset/)
    const ok = run('--organizations', '10', '--seed', '3', '--now', '2025-03-01', '--reset')
    t.equal(ok.status, 0, 'seeds with --reset')
    t.match(ok.stdout, /organizations\s+10\b/, 'prints the row counts')
    t.match(ok.stdout, /layout clustered/, 'clustered by default')
    const live = run('--organizations', '10', '--seed', '3', '--now', '2025-03-01', '--layout', 'live', '--reset')
    t.equal(live.status, 0, 'seeds with --layout live')
    t.match(live.stdout, /layout live/)
  })
})

/** 'exit 0', or what it printed on stderr when it failed. */
const outcome = (run: ScriptRun): string => run.status === 0 ? 'exit 0' : `exit ${run.status}:\n${run.stderr.slice(-3000)}`

/** The seed CLI, without blocking this process's event loop (the app under test keeps answering). */
async function seedCli (env: NodeJS.ProcessEnv, ...args: string[]): Promise<ScriptRun> {
  return await runScript(SEED_CLI, args, env)
}

t.test('db:seed --reset under a running service: its cached answers are gone', async (t) => {
  t.setTimeout(180_000)
  const db = await createTestDatabase('seed_cache')
  t.teardown(db.drop)
  // The prefix buildTestApp gives this file's apps; the seed must bump the epoch under the same one.
  const prefix = `crm:test:${process.pid}:`
  t.teardown(async () => { await removeRedisKeys(REDIS_URL, prefix, (line) => t.comment(line)) })
  const env = { ...process.env, NODE_ENV: 'test', DATABASE_URL: db.url, REDIS_URL, REDIS_KEY_PREFIX: prefix }

  const first = await seedCli(env, '--organizations', '30', '--seed', '5')
  t.equal(first.status, 0, outcome(first))
  // A generous command timeout: on a loaded machine a lookup that gives up answers BYPASS, not the HIT asserted here.
  const app = await buildTestApp(t, db.url, { REDIS_COMMAND_TIMEOUT_MS: '10000' })
  await until('the app to reach Redis', async () => (await app.cacheStatus()) === 'up')
  const admin = await withClient(db.url, async (client) => (await client.query<{ id: string }>("SELECT id FROM users WHERE role = 'admin'")).rows[0]!)
  const list = async () => await app.inject({ method: 'GET', url: '/api/v1/organizations?limit=100', headers: { authorization: `Bearer ${app.signToken(admin.id)}` } })
  // What the admin's listing should hold: every organization not soft-deleted (a seed deletes about 1.5 %).
  const liveOrganizations = async () => await withClient(db.url, async (client) =>
    (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM organizations WHERE NOT is_deleted')).rows[0]!.n)

  const miss = await list()
  t.equal(miss.statusCode, 200)
  t.equal(miss.headers['x-cache'], 'MISS')
  const before = await liveOrganizations()
  t.ok(before >= 25, `the seeded organizations (${before} of 30 live)`)
  t.equal(miss.json().data.length, before, 'the listing shows them')
  const hit = await list()
  t.equal(hit.headers['x-cache'], 'HIT', 'the answer is cached')
  t.equal(hit.body, miss.body)

  // The same seed with more organizations: the admin keeps its id (and the token its meaning), the listing changes.
  const reseed = await seedCli(env, '--organizations', '45', '--seed', '5', '--reset')
  t.equal(reseed.status, 0, outcome(reseed))
  t.match(reseed.stdout, new RegExp(`cache: bumped ${prefix}\\{g\\}epoch to \\d+: every service instance using this Redis answers from the new data`))
  const after = await list()
  t.equal(after.statusCode, 200)
  t.equal(after.headers['x-cache'], 'MISS', 'not the answer cached before the seed')
  const reseeded = await liveOrganizations()
  t.ok(reseeded > before, `more organizations now (${reseeded} of 45 live)`)
  t.equal(after.json().data.length, reseeded, 'the listing shows the reseeded organizations')
  t.equal((await list()).headers['x-cache'], 'HIT', 'and the new answer is cached again')

  t.test('Redis unreachable: the seed succeeds and warns that answers may be stale', async (t) => {
    const dead = await seedCli({ ...env, REDIS_URL: `redis://127.0.0.1:${await freePort()}` }, '--organizations', '30', '--seed', '5', '--reset')
    t.equal(dead.status, 0, outcome(dead))
    t.match(dead.stdout, /organizations\s+30\b/, 'the data was seeded')
    t.match(dead.stderr, /db:seed: warning: could not reach Redis at redis:\/\/127\.0\.0\.1:\d+ \(.+\) to invalidate the response cache: a running service may answer from the data before this seed for up to 300 s \(CACHE_TTL_SECONDS\)/)
  })

  t.test('no REDIS_URL: the in-process cache of a running service cannot be reached, and the seed says so', async (t) => {
    const local = await seedCli({ ...env, REDIS_URL: undefined }, '--organizations', '30', '--seed', '5', '--reset')
    t.equal(local.status, 0, outcome(local))
    t.match(local.stdout, /cache: REDIS_URL is not set, so a running service keeps its cache in its own memory, which this process cannot reach: restart it, or it may answer from the data before this seed for up to 300 s/)
    t.notMatch(local.stderr, /db:seed:/, 'no warning: nothing failed')
  })
})
