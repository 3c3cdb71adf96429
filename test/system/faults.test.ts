// Fault injection with real processes: a PostgreSQL and a Redis that this
// file starts on spare ports (so it can stop, crash and restart them) while a
// steady stream of concurrent requests runs. Every response's status, code
// and timing is recorded, and the database is queried directly afterwards:
//
// - Redis killed under load: no 5xx, `X-Cache: BYPASS` while it is down, hits
//   again once it is back, every write kept and visible.
// - PostgreSQL stopped (fast shutdown) and crashed (SIGKILL) under load: only
//   200/201 or 503 DATABASE_UNAVAILABLE (with Retry-After), every answer
//   within the connect timeout + 2 s, /ready 503 and /health 200 meanwhile;
//   the pool recovers by itself and no write that answered 2xx is missing.
// - A multi-row write (contact create / patch with isPrimary, which clears the
//   previous primary) interrupted mid-transaction by a terminated backend and
//   by an immediate PostgreSQL shutdown: nothing half-done.
// - Pool exhaustion (pool of 2, slow inserts): 503 after the connect timeout,
//   then recovery.
// - SIGTERM to server.ts under continuous real-HTTP load: every request the
//   server accepted is answered, the in-flight writes commit, exit 0.
//
// The timing bounds below are the promises being tested (503 within the
// connect timeout), with generous margins; everything else polls with a
// deadline that only keeps a broken build from hanging.
import http from 'node:http'
import { performance } from 'node:perf_hooks'
import type { FastifyInstance, InjectOptions } from 'fastify'
import t from 'tap'
import { as, createUsers, type TestUser } from '../helpers/api'
import { buildTestApp } from '../helpers/app'
import { withClient } from '../helpers/database'
import { freePort } from '../helpers/net'
import { filePostgres } from '../helpers/postgres-server'
import { startTestRedis } from '../helpers/redis-server'
import { startServerProcess } from '../helpers/server-process'
import { until } from '../helpers/wait'

const API = '/api/v1'
const JWT_SECRET = 'test-secret-that-is-at-least-32-characters'
/** Longer than any answer may take: a request still pending after this is a hang. */
const HANG_MS = 20_000
const MARGIN_MS = 2_000
const BASE_ENV = {
  RATE_LIMIT_MAX: '1000000', // the load is far above a user's normal rate
  DASHBOARD_REFRESH_INTERVAL_MS: '0',
  LOG_LEVEL: 'error' // an unexpected 500 prints its (value-free) error line next to the failing assertion
}

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))
const now = (): number => performance.now()

// ------------------------------------------------------------ the load

interface Sample {
  kind: string
  status: number // -1: no answer within HANG_MS (or a transport error)
  code?: string
  cache?: string
  retryAfter?: string
  id?: string
  name?: string
  error?: string
  start: number
  end: number
}

async function withDeadline<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`no answer to ${what} within ${ms} ms`)), ms) })
  try {
    return await Promise.race([promise, expired])
  } finally {
    clearTimeout(timer)
  }
}

/** One request through app.inject, timed; the JSON body's `code` and `id` kept. */
async function call (app: FastifyInstance, user: TestUser | undefined, kind: string, options: InjectOptions, name?: string): Promise<Sample> {
  const start = now()
  try {
    const res = await withDeadline(user === undefined ? app.inject(options) : as(app, user, options), HANG_MS, `${kind} ${String(options.url)}`)
    let body: { code?: string; id?: string } = {}
    try { body = res.json() } catch {}
    return {
      kind,
      status: res.statusCode,
      code: body.code,
      id: res.statusCode < 300 ? body.id : undefined,
      cache: res.headers['x-cache'] as string | undefined,
      retryAfter: res.headers['retry-after'] as string | undefined,
      name,
      start,
      end: now()
    }
  } catch (err) {
    return { kind, status: -1, error: (err as Error).message, name, start, end: now() }
  }
}

/** `concurrency` loops, each issuing one request after the other until stopped. */
class Load {
  readonly samples: Sample[] = []
  private stopped = false
  private readonly loops: Array<Promise<void>>

  constructor (concurrency: number, op: (loop: number, i: number) => Promise<Sample>, pauseMs = 2) {
    this.loops = Array.from({ length: concurrency }, async (_, loop) => {
      for (let i = 0; !this.stopped; i++) {
        this.samples.push(await op(loop, i))
        if (pauseMs > 0) await sleep(pauseMs)
      }
    })
  }

  async stop (): Promise<Sample[]> {
    this.stopped = true
    await Promise.all(this.loops)
    return this.samples
  }

  /** Resolves once a sample matching `check` has been recorded. */
  async seen (what: string, check: (s: Sample) => boolean, deadlineMs = 20_000): Promise<Sample> {
    await until(what, () => this.samples.some(check), deadlineMs)
    return this.samples.find(check)!
  }
}

const is2xx = (s: Sample): boolean => s.status >= 200 && s.status < 300
const ms = (s: Sample): number => s.end - s.start

/** e.g. "200×812 201×95 503×40; max 1043 ms" */
function summary (samples: Sample[]): string {
  const counts = new Map<string, number>()
  for (const s of samples) {
    const key = s.status === 503 ? `503 ${s.code ?? ''}`.trim() : String(s.status)
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  const max = samples.reduce((m, s) => Math.max(m, ms(s)), 0)
  return `${[...counts].sort().map(([k, n]) => `${k}×${n}`).join(' ')}; max ${Math.round(max)} ms (${samples.length} requests)`
}

function describe (s: Sample): string {
  return JSON.stringify({ kind: s.kind, status: s.status, code: s.code, error: s.error, ms: Math.round(ms(s)) })
}

/** The ids of `ids` that are rows of `table` (queried straight from the database). */
async function existing (url: string, table: 'organizations' | 'contacts', ids: string[]): Promise<Set<string>> {
  return await withClient(url, async (client) => new Set((await client.query<{ id: string }>(`SELECT id FROM ${table} WHERE id = ANY($1::uuid[])`, [ids])).rows.map((r) => r.id)))
}

// ---------------------------------------------- one PostgreSQL for the file

const postgres = filePostgres(t)

// ------------------------------------------------------------------ tests

t.test('Redis killed under load: no 5xx, X-Cache BYPASS while down, hits again once it is back', async (t) => {
  await postgres().start()
  const db = await postgres().createDatabase('redis_kill')
  const redis = await startTestRedis()
  t.teardown(redis.stop)
  const commandTimeoutMs = 200
  const app = await buildTestApp(t, db.url, { ...BASE_ENV, REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: String(commandTimeoutMs) })
  const [member] = await createUsers(app, db.url, ['member']) as [TestUser]
  const first = await as(app, member, { method: 'POST', url: `${API}/organizations`, payload: { name: 'redis-first' } })
  t.equal(first.statusCode, 201)
  const orgId = first.json().id as string

  const load = new Load(8, async (loop, i) => {
    if (loop === 0 && i % 10 === 9) {
      const name = `redis-${i}`
      return await call(app, member, 'create-org', { method: 'POST', url: `${API}/organizations`, payload: { name } }, name)
    }
    switch ((loop + i) % 3) {
      case 0: return await call(app, member, 'list', { method: 'GET', url: `${API}/organizations?limit=${1 + (i % 3)}` })
      case 1: return await call(app, member, 'get-org', { method: 'GET', url: `${API}/organizations/${orgId}` })
      default: return await call(app, member, 'me', { method: 'GET', url: `${API}/users/me` })
    }
  })
  let samples: Sample[] = []
  try {
    await load.seen('a cache hit before the fault', (s) => s.cache === 'HIT')
    await sleep(300)
    const killedAt = now()
    await redis.kill()
    await until('the client to notice Redis is gone', async () => (await app.cacheStatus()) === 'down')
    const downAt = now()
    const during = await call(app, member, 'create-org', { method: 'POST', url: `${API}/organizations`, payload: { name: 'redis-during' } }, 'redis-during')
    load.samples.push(during)
    t.equal(during.status, 201, 'a write while Redis is down succeeds (its invalidation cannot be recorded)')
    await sleep(1000)
    const ready = await app.inject({ method: 'GET', url: '/ready' })
    t.equal(ready.statusCode, 200, '/ready stays 200 during a cache outage')
    t.equal(ready.json().cache, 'down', 'and reports the cache down')
    const restartAt = now()
    await redis.restart()
    const recovered = await load.seen('a cache hit after the restart', (s) => s.cache === 'HIT' && s.start > restartAt)
    t.pass(`cache hits again ${Math.round(recovered.end - restartAt)} ms after Redis restarted, without restarting the app`)
    await sleep(300)
    samples = await load.stop()

    t.comment(`Redis killed: ${summary(samples)}`)
    const bad = samples.filter((s) => s.status !== 200 && s.status !== 201)
    t.same(bad.map(describe), [], 'every answer is 200 (reads) or 201 (writes): no 5xx, nothing else')
    const reads = samples.filter((s) => s.kind !== 'create-org' && s.start >= downAt && s.end <= restartAt)
    t.ok(reads.length > 20, `reads kept flowing while Redis was down (${reads.length})`)
    t.same(reads.filter((s) => s.cache !== 'BYPASS').map(describe), [], 'every read while Redis was down says X-Cache: BYPASS')
    const maxMs = Math.max(...samples.filter((s) => s.start >= killedAt).map(ms))
    t.ok(maxMs <= commandTimeoutMs + MARGIN_MS, `no request waited on the dead Redis (max ${Math.round(maxMs)} ms)`)
  } finally {
    if (samples.length === 0) await load.stop()
  }

  // Every write that answered 201 is in the database and visible to its owner.
  const created = samples.filter((s) => s.kind === 'create-org' && s.status === 201).map((s) => s.id!)
  t.ok(created.length > 0, `writes were made (${created.length})`)
  t.equal((await existing(db.url, 'organizations', created)).size, created.length, `all ${created.length} created organizations are in the database`)
  const listed: string[] = []
  for (let offset = 0; ; offset += 200) {
    const page = await as(app, member, { method: 'GET', url: `${API}/organizations?limit=200&offset=${offset}` })
    t.equal(page.statusCode, 200)
    listed.push(...(page.json().data as Array<{ id: string }>).map((o) => o.id))
    if (page.json().page.hasMore !== true) break
  }
  t.same(listed.sort(), [orgId, ...created].sort(), 'the list shows exactly those, the write made while Redis was down included (no stale cached page)')
})

t.test('PostgreSQL stopped and crashed under load: 503 within the connect timeout, probes, self-recovery, no lost write', async (t) => {
  await postgres().start()
  const db = await postgres().createDatabase('pg_outage')
  const connectTimeoutMs = 1000
  const app = await buildTestApp(t, db.url, {
    ...BASE_ENV,
    DATABASE_POOL_SIZE: '6',
    DATABASE_POOL_MIN: '2',
    DATABASE_CONNECT_TIMEOUT_MS: String(connectTimeoutMs),
    DATABASE_QUERY_TIMEOUT_MS: '5000'
  })
  const [member] = await createUsers(app, db.url, ['member']) as [TestUser]
  const org = await as(app, member, { method: 'POST', url: `${API}/organizations`, payload: { name: 'pg-home' } })
  t.equal(org.statusCode, 201)
  const orgId = org.json().id as string

  // 12 loops: organization creates (one row), contact creates with isPrimary
  // (a transaction clearing the previous primary), reads that miss the cache.
  const load = new Load(12, async (loop, i) => {
    const name = `pg-${loop}-${i}`
    if (loop < 3) return await call(app, member, 'create-org', { method: 'POST', url: `${API}/organizations`, payload: { name } }, name)
    if (loop < 6) return await call(app, member, 'create-contact', { method: 'POST', url: `${API}/organizations/${orgId}/contacts`, payload: { firstName: 'Load', lastName: name, isPrimary: i % 2 === 0 } }, name)
    if (loop < 9) return await call(app, member, 'list', { method: 'GET', url: `${API}/organizations?limit=${1 + (i % 40)}` })
    if (loop < 11) return await call(app, member, 'get-org', { method: 'GET', url: `${API}/organizations/${orgId}` })
    return await call(app, member, 'me', { method: 'GET', url: `${API}/users/me` })
  }, 5)

  // recoveredAt: when the first write after the restart was answered 201.
  interface Outage { how: string; faultAt: number; restartedAt: number; recoveredAt: number }
  const outages: Outage[] = []
  let samples: Sample[] = []
  try {
    await load.seen('writes before the fault', (s) => s.kind === 'create-contact' && s.status === 201)
    await sleep(500)

    for (const how of ['fast shutdown', 'crash (SIGKILL)'] as const) {
      const faultAt = now()
      if (how === 'fast shutdown') await postgres().stop({ mode: 'fast' })
      else await postgres().kill()
      await load.seen(`a 503 after the ${how}`, (s) => s.start > faultAt && s.status === 503)
      const ready = await call(app, undefined, 'ready', { method: 'GET', url: '/ready' })
      t.equal(ready.status, 503, `${how}: /ready 503`)
      t.equal(ready.retryAfter, '5', `${how}: /ready carries Retry-After`)
      t.ok(ms(ready) <= connectTimeoutMs + MARGIN_MS, `${how}: /ready answers within the connect timeout (${Math.round(ms(ready))} ms)`)
      const health = await call(app, undefined, 'health', { method: 'GET', url: '/health' })
      t.equal(health.status, 200, `${how}: /health 200`)
      await sleep(1500)
      await postgres().start()
      const restartedAt = now()
      // The pool finds the server again by itself: the next writes succeed.
      const recovered = await load.seen(`a write after the ${how}`, (s) => s.start > restartedAt && s.kind === 'create-org' && s.status === 201)
      outages.push({ how, faultAt, restartedAt, recoveredAt: recovered.end })
      t.pass(`${how}: writes succeed again ${Math.round(recovered.end - restartedAt)} ms after PostgreSQL is back, without restarting the app`)
      const readyAgain = await app.inject({ method: 'GET', url: '/ready' })
      t.equal(readyAgain.statusCode, 200, `${how}: /ready 200 again`)
      await sleep(1000)
    }
    samples = await load.stop()
  } finally {
    if (samples.length === 0) await load.stop()
  }

  t.comment(`PostgreSQL outages: ${summary(samples)}`)
  const unexpected = samples.filter((s) => !(s.status === 200 || s.status === 201 || (s.status === 503 && s.code === 'DATABASE_UNAVAILABLE' && s.retryAfter === '5')))
  t.same(unexpected.map(describe), [], 'every answer is 200 (reads), 201 (writes) or 503 DATABASE_UNAVAILABLE with Retry-After: 5')
  const slow = samples.filter((s) => ms(s) > connectTimeoutMs + MARGIN_MS)
  t.same(slow.map(describe), [], `every answer within the connect timeout (${connectTimeoutMs} ms) + ${MARGIN_MS} ms: no hang`)
  t.same(samples.filter((s) => s.end < outages[0]!.faultAt && !is2xx(s)).map(describe), [], 'before the first fault everything succeeds')
  for (const o of outages) {
    const during = samples.filter((s) => s.start > o.faultAt && s.end < o.restartedAt)
    t.ok(during.filter((s) => s.status === 503).length > 0, `${o.how}: requests answered 503 while PostgreSQL was down (${summary(during)})`)
    // After recovery: requests sent once a write had succeeded again and
    // answered before the next fault was injected. One still in flight at the
    // next fault belongs to that fault (a contact create cut by the SIGKILL
    // answers 503, as it should), whatever the interval it started in.
    const next = outages[outages.indexOf(o) + 1]
    const after = samples.filter((s) => s.start > o.recoveredAt && (next === undefined || s.end < next.faultAt))
    t.ok(after.length > 20, `${o.how}: load continued after recovery (${after.length})`)
    t.same(after.filter((s) => !is2xx(s)).map(describe), [], `${o.how}: once one write succeeded again, every request succeeds (no dead pooled connection left)`)
  }
  t.ok(app.db.pool.totalCount <= 6, 'the pool stayed within its size')

  // No write that answered 2xx is missing, after a fast shutdown and a crash.
  for (const [kind, table] of [['create-org', 'organizations'], ['create-contact', 'contacts']] as const) {
    const ok = samples.filter((s) => s.kind === kind && s.status === 201).map((s) => s.id!)
    const found = await existing(db.url, table, ok)
    t.same(ok.filter((id) => !found.has(id)), [], `all ${ok.length} ${table} that answered 201 are in the database`)
    const failedNames = samples.filter((s) => s.kind === kind && s.status === 503).map((s) => s.name!)
    const column = table === 'organizations' ? 'name' : 'last_name'
    const committed = await withClient(db.url, async (c) => (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${column} = ANY($1)`, [failedNames])).rows[0]!.n)
    t.comment(`${table}: ${ok.length} answered 201 (all present); ${failedNames.length} answered 503, of which ${committed} committed anyway (the connection died after COMMIT: the outcome a 503 leaves open)`)
  }
  const primaries = await withClient(db.url, async (c) => (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM contacts WHERE organization_id = $1 AND is_primary AND NOT is_deleted', [orgId])).rows[0]!.n)
  t.ok(primaries <= 1, `at most one primary contact after the interrupted primary changes (${primaries})`)
})

t.test('a multi-row write interrupted mid-transaction leaves nothing half-done', async (t) => {
  await postgres().start()
  const db = await postgres().createDatabase('mid_tx')
  const connectTimeoutMs = 1000
  const app = await buildTestApp(t, db.url, { ...BASE_ENV, DATABASE_CONNECT_TIMEOUT_MS: String(connectTimeoutMs), DATABASE_QUERY_TIMEOUT_MS: '15000' })
  const [member] = await createUsers(app, db.url, ['member']) as [TestUser]
  const orgId = (await as(app, member, { method: 'POST', url: `${API}/organizations`, payload: { name: 'Mid-transaction' } })).json().id as string
  const primary = await as(app, member, { method: 'POST', url: `${API}/organizations/${orgId}/contacts`, payload: { firstName: 'Pia', lastName: 'Primary', isPrimary: true } })
  const other = await as(app, member, { method: 'POST', url: `${API}/organizations/${orgId}/contacts`, payload: { firstName: 'Patchable', lastName: 'Other' } })
  t.equal(primary.statusCode, 201)
  t.equal(other.statusCode, 201)
  const primaryId = primary.json().id as string
  const otherId = other.json().id as string

  // A trigger that holds the transaction open after its first rows are written:
  // a contact named 'Held' sleeps right after its INSERT or UPDATE, by which
  // time the service has already cleared the previous primary in the same transaction.
  await withClient(db.url, async (c) => {
    await c.query(`CREATE FUNCTION test_hold_contact() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.first_name = 'Held' THEN PERFORM pg_sleep(60); END IF; RETURN NEW; END $$`)
    await c.query('CREATE TRIGGER test_hold AFTER INSERT OR UPDATE ON contacts FOR EACH ROW EXECUTE FUNCTION test_hold_contact()')
    // 'HeldAtCommit' sleeps inside COMMIT itself (a deferred constraint trigger runs there).
    await c.query(`CREATE FUNCTION test_hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.first_name = 'HeldAtCommit' THEN PERFORM pg_sleep(60); END IF; RETURN NEW; END $$`)
    await c.query(`CREATE CONSTRAINT TRIGGER test_hold_commit AFTER INSERT ON contacts DEFERRABLE INITIALLY DEFERRED
      FOR EACH ROW EXECUTE FUNCTION test_hold_commit()`)
  })
  const snapshot = async (): Promise<Array<{ id: string; first_name: string; is_primary: boolean; updated_at: Date }>> =>
    await withClient(db.url, async (c) => (await c.query('SELECT id, first_name, is_primary, updated_at FROM contacts WHERE organization_id = $1 ORDER BY created_at, id', [orgId])).rows)
  const sleepingBackend = async (inCommit = false): Promise<number | undefined> =>
    await withClient(postgres().adminUrl, async (c) => (await c.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event = 'PgSleep' AND (NOT $2 OR query ILIKE 'COMMIT%')", [db.name, inCommit])).rows[0]?.pid)
  const before = await snapshot()
  t.same(before.map((r) => [r.id, r.is_primary]), [[primaryId, true], [otherId, false]])

  t.test('contact create with isPrimary, its backend terminated while the transaction is open', async (t) => {
    const pending = call(app, member, 'create-contact', { method: 'POST', url: `${API}/organizations/${orgId}/contacts`, payload: { firstName: 'Held', lastName: 'New', isPrimary: true } })
    let pid: number | undefined
    await until('the transaction to be held open', async () => (pid = await sleepingBackend()) !== undefined)
    const inside = await withClient(postgres().adminUrl, async (c) => (await c.query<{ state: string; xact: boolean }>(
      'SELECT state, xact_start IS NOT NULL AS xact FROM pg_stat_activity WHERE pid = $1', [pid])).rows[0])
    t.same(inside, { state: 'active', xact: true }, 'the write is inside its transaction')
    const killedAt = now()
    await withClient(postgres().adminUrl, async (c) => await c.query('SELECT pg_terminate_backend($1)', [pid]))
    const res = await pending
    t.equal(res.status, 503, `the client is told (${describe(res)})`)
    t.equal(res.code, 'DATABASE_UNAVAILABLE')
    t.ok(res.end - killedAt <= connectTimeoutMs + MARGIN_MS, `promptly (${Math.round(res.end - killedAt)} ms after the backend died)`)
    t.same(await snapshot(), before, 'nothing half-done: the previous primary is still primary and no contact was added')
    const next = await as(app, member, { method: 'POST', url: `${API}/organizations/${orgId}/contacts`, payload: { firstName: 'After', lastName: 'Kill' } })
    t.equal(next.statusCode, 201, 'the service goes on (the dead connection left the pool)')
    await withClient(db.url, async (c) => await c.query('DELETE FROM contacts WHERE id = $1', [next.json().id]))
  })

  t.test('contact patch with isPrimary, PostgreSQL stopped (immediate) while the transaction is open', async (t) => {
    const pending = call(app, member, 'patch-contact', { method: 'PATCH', url: `${API}/contacts/${otherId}`, payload: { firstName: 'Held', isPrimary: true } })
    await until('the transaction to be held open', async () => (await sleepingBackend()) !== undefined)
    const stoppedAt = now()
    await postgres().stop({ mode: 'immediate' })
    const res = await pending
    t.equal(res.status, 503, `the client is told (${describe(res)})`)
    t.equal(res.code, 'DATABASE_UNAVAILABLE')
    t.ok(res.end - stoppedAt <= connectTimeoutMs + MARGIN_MS, `promptly (${Math.round(res.end - stoppedAt)} ms after the stop)`)
    await postgres().start()
    t.same(await snapshot(), before, 'after crash recovery: the previous primary is still primary, the patched contact unchanged (name, flag, updated_at)')
    // The same write, not held this time, completes as a whole once PostgreSQL is back.
    let res2: Sample | undefined
    await until('the patch to succeed', async () => (res2 = await call(app, member, 'patch-contact', { method: 'PATCH', url: `${API}/contacts/${otherId}`, payload: { isPrimary: true } })).status === 200)
    t.equal(res2!.status, 200)
    t.same((await snapshot()).map((r) => [r.id, r.is_primary]), [[primaryId, false], [otherId, true]], 'both rows changed together')
  })

  t.test('contact create with isPrimary, PostgreSQL crashed (SIGKILL) during its COMMIT', async (t) => {
    const current = await snapshot()
    t.same(current.filter((r) => r.is_primary).map((r) => r.id), [otherId], 'the primary is now the patched contact')
    const pending = call(app, member, 'create-contact', { method: 'POST', url: `${API}/organizations/${orgId}/contacts`, payload: { firstName: 'HeldAtCommit', lastName: 'New', isPrimary: true } })
    await until('the COMMIT to be held', async () => (await sleepingBackend(true)) !== undefined)
    const killedAt = now()
    await postgres().kill()
    const res = await pending
    t.equal(res.status, 503, `the client is told (${describe(res)})`)
    t.equal(res.code, 'DATABASE_UNAVAILABLE')
    t.ok(res.end - killedAt <= connectTimeoutMs + MARGIN_MS, `promptly (${Math.round(res.end - killedAt)} ms after the crash)`)
    await postgres().start()
    t.same(await snapshot(), current, 'after crash recovery: the transaction never committed, the previous primary is still primary')
  })
})

t.test('pool exhaustion (pool of 2, slow queries): 503 after the connect timeout, then recovery', async (t) => {
  await postgres().start()
  const db = await postgres().createDatabase('pool_exhaustion')
  const connectTimeoutMs = 500
  const app = await buildTestApp(t, db.url, { ...BASE_ENV, DATABASE_POOL_SIZE: '2', DATABASE_POOL_MIN: '0', DATABASE_CONNECT_TIMEOUT_MS: String(connectTimeoutMs) })
  const [member] = await createUsers(app, db.url, ['member']) as [TestUser]
  const orgId = (await as(app, member, { method: 'POST', url: `${API}/organizations`, payload: { name: 'Pool home' } })).json().id as string
  // Slow inserts: each holds a connection for 1.2 s.
  await withClient(db.url, async (c) => {
    await c.query(`CREATE FUNCTION test_slow_org() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.name LIKE 'slow-%' THEN PERFORM pg_sleep(1.2); END IF; RETURN NEW; END $$`)
    await c.query('CREATE TRIGGER test_slow BEFORE INSERT ON organizations FOR EACH ROW EXECUTE FUNCTION test_slow_org()')
  })

  const reads = new Load(6, async (loop, i) => loop % 2 === 0
    ? await call(app, member, 'list', { method: 'GET', url: `${API}/organizations?limit=${1 + ((loop * 1000 + i) % 150)}` })
    : await call(app, member, 'get-org', { method: 'GET', url: `${API}/organizations/${orgId}?v=${i}` }), 5)
  let readSamples: Sample[] = []
  let writeSamples: Sample[] = []
  let exhaustedAt = 0
  let settledAt = 0
  try {
    await reads.seen('reads before the slow queries', (s) => s.status === 200)
    await sleep(500)
    exhaustedAt = now()
    const writers = new Load(2, async (loop, i) => {
      const name = `slow-${loop}-${i}`
      return await call(app, member, 'slow-create', { method: 'POST', url: `${API}/organizations`, payload: { name } }, name)
    }, 0)
    await sleep(1000)
    const ready = await call(app, undefined, 'ready', { method: 'GET', url: '/ready' })
    // 200 or 503 depending on whether a connection freed up within the timeout; either way no hang.
    t.ok(ms(ready) <= connectTimeoutMs + MARGIN_MS, `/ready answers within the connect timeout while the pool is exhausted (${describe(ready)})`)
    await sleep(1500)
    writeSamples = await writers.stop()
    settledAt = now()
    await sleep(1000)
    t.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 200, '/ready 200 once the slow queries are done')
    readSamples = await reads.stop()
  } finally {
    if (readSamples.length === 0) await reads.stop()
  }
  const samples = [...readSamples, ...writeSamples]
  t.comment(`pool exhaustion: ${summary(samples)}`)
  t.same(samples.filter((s) => !(s.status === 200 || s.status === 201 || (s.status === 503 && s.code === 'DATABASE_UNAVAILABLE' && s.retryAfter === '5'))).map(describe), [],
    'only 200, 201 or 503 DATABASE_UNAVAILABLE with Retry-After')
  const refused = samples.filter((s) => s.status === 503)
  t.ok(refused.length > 0, `requests were refused while the pool was exhausted (${refused.length})`)
  t.same(refused.filter((s) => ms(s) < connectTimeoutMs * 0.9 || ms(s) > connectTimeoutMs + MARGIN_MS).map(describe), [],
    `each 503 came after waiting the connect timeout (${connectTimeoutMs} ms), not before and not much after`)
  t.same(samples.filter((s) => s.end < exhaustedAt && !is2xx(s)).map(describe), [], 'before the slow queries every read succeeds')
  const after = readSamples.filter((s) => s.start > settledAt)
  t.ok(after.length > 20, `reads continued after the slow queries (${after.length})`)
  t.same(after.filter((s) => !is2xx(s)).map(describe), [], 'after the slow queries every read succeeds again: the service recovered')

  const slowOk = writeSamples.filter((s) => s.status === 201)
  t.ok(slowOk.length > 0, 'slow writes that got a connection completed')
  const found = await existing(db.url, 'organizations', slowOk.map((s) => s.id!))
  t.equal(found.size, slowOk.length, `every slow write that answered 201 is in the database (${slowOk.length})`)
  const failedNames = writeSamples.filter((s) => s.status === 503).map((s) => s.name!)
  const committed = await withClient(db.url, async (c) => (await c.query<{ name: string }>('SELECT name FROM organizations WHERE name = ANY($1)', [failedNames])).rows.map((r) => r.name))
  t.comment(`slow writes: ${slowOk.length} answered 201; ${failedNames.length} answered 503, of which ${committed.length} were committed anyway${committed.length > 0 ? ` (${committed.join(', ')})` : ''}`)
})

t.test('SIGTERM under continuous load: every accepted request answered, in-flight writes commit, exit 0', async (t) => {
  t.setTimeout(240_000) // the start-up deadline (150 s, only for a broken build) and the load itself
  await postgres().start()
  const db = await postgres().createDatabase('sigterm')
  // Writes of organizations named 'slow-…' take 400 ms: some are always in flight.
  await withClient(db.url, async (c) => {
    await c.query(`CREATE FUNCTION test_slow_org() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.name LIKE 'slow-%' THEN PERFORM pg_sleep(0.4); END IF; RETURN NEW; END $$`)
    await c.query('CREATE TRIGGER test_slow BEFORE INSERT ON organizations FOR EACH ROW EXECUTE FUNCTION test_slow_org()')
  })
  const signer = await buildTestApp(t, db.url, BASE_ENV) // signs tokens with the server's secret
  const [member] = await createUsers(signer, db.url, ['member']) as [TestUser]
  const port = await freePort()
  const env: NodeJS.ProcessEnv = {
    ...BASE_ENV,
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: db.url,
    DATABASE_POOL_SIZE: '10',
    JWT_SECRET,
    REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_KEY_PREFIX: `crm:test:${process.pid}:sigterm:`,
    SHUTDOWN_GRACE_MS: '10000'
  }
  const server = await startServerProcess(t, env)
  const { child, exited, lines } = server

  // Real HTTP through a keep-alive agent, as a load balancer sends it; each request carries its own id.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 })
  t.teardown(() => agent.destroy())
  let sequence = 0
  type AgentSample = Sample & { requestId: string; connection?: string }
  const request = async (kind: string, method: string, url: string, payload?: unknown, name?: string): Promise<AgentSample> => {
    const requestId = `fault-${sequence++}`
    const body = payload === undefined ? undefined : JSON.stringify(payload)
    const start = now()
    return await new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, method, path: url, agent, headers: { ...member.headers, 'x-request-id': requestId, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) } }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', (err) => resolve({ kind, requestId, status: -1, error: (err as NodeJS.ErrnoException).code ?? err.message, name, start, end: now() }))
        res.on('end', () => {
          let parsed: { code?: string; id?: string } = {}
          try { parsed = JSON.parse(Buffer.concat(chunks).toString()) as typeof parsed } catch {}
          resolve({
            kind,
            requestId,
            status: res.statusCode ?? -1,
            code: parsed.code,
            id: parsed.id,
            name,
            connection: res.headers.connection,
            start,
            end: now()
          })
        })
      })
      req.setTimeout(HANG_MS, () => req.destroy(new Error('no answer')))
      req.on('error', (err: NodeJS.ErrnoException) => resolve({ kind, requestId, status: -1, error: err.code ?? err.message, name, start, end: now() }))
      req.end(body)
    })
  }

  let gone = false
  void exited.then(() => { gone = true })
  const samples: Array<Awaited<ReturnType<typeof request>>> = []
  const loops = Array.from({ length: 16 }, async (_, loop) => {
    // eslint-disable-next-line no-unmodified-loop-condition -- set by the exit promise above, between iterations
    for (let i = 0; !gone; i++) {
      const name = `slow-${loop}-${i}`
      const sample = loop < 4
        ? await request('create-org', 'POST', `${API}/organizations`, { name }, name)
        : await request(loop % 2 === 0 ? 'list' : 'me', 'GET', loop % 2 === 0 ? `${API}/organizations?limit=${1 + (i % 20)}` : `${API}/users/me`)
      samples.push(sample)
      await sleep(sample.status === -1 ? 20 : 2)
    }
  })
  await until('writes under load', () => samples.filter((s) => s.kind === 'create-org' && s.status === 201).length >= 8, 30_000)
  const termAt = now()
  child.kill('SIGTERM')
  const [code, signal] = await withDeadline(exited, 30_000, 'the server to exit')
  const exitAt = now()
  await Promise.all(loops)

  t.equal(code, 0, 'exit code 0')
  t.equal(signal, null)
  t.equal(server.stderr(), '', 'nothing on stderr')
  t.comment(`SIGTERM under load: ${summary(samples)}; exited ${Math.round(exitAt - termAt)} ms after SIGTERM`)
  const accepted = new Set(lines().filter((l) => l.msg === 'incoming request').map((l) => l.reqId as string))
  const ours = samples.filter((s) => accepted.has(s.requestId))
  t.ok(ours.length > 20, `the server accepted ${ours.length} of the ${samples.length} requests`)
  t.same(ours.filter((s) => s.status === -1).map((s) => `${s.requestId} ${describe(s)}`), [], 'every request the server accepted was answered')
  t.same(samples.filter((s) => s.status === -1 && accepted.has(s.requestId)).length, 0)
  const notAnswered = samples.filter((s) => s.status === -1)
  t.same([...new Set(notAnswered.map((s) => s.error))].filter((e) => !['ECONNREFUSED', 'ECONNRESET', 'EPIPE'].includes(e!)), [],
    `requests that got no answer were never accepted: refused (or a keep-alive connection closed before they were read) (${notAnswered.length})`)
  t.same(samples.filter((s) => s.status !== -1 && !(s.status === 200 || s.status === 201 || (s.status === 503 && s.start > termAt))).map(describe), [],
    'answers are 200/201, or 503 for requests that arrived on a kept-alive connection after SIGTERM')
  t.ok(samples.filter((s) => s.status === 503).every((s) => s.connection === 'close'), 'a 503 while draining closes its connection')
  const inFlight = samples.filter((s) => s.start < termAt && s.end > termAt)
  t.ok(inFlight.some((s) => s.kind === 'create-org'), `writes were in flight at SIGTERM (${inFlight.filter((s) => s.kind === 'create-org').length})`)
  t.same(inFlight.filter((s) => !is2xx(s)).map(describe), [], `all ${inFlight.length} requests in flight at SIGTERM succeeded`)
  t.ok(samples.some((s) => s.start > termAt), 'the load kept coming after SIGTERM')
  const created = samples.filter((s) => s.kind === 'create-org' && s.status === 201).map((s) => s.id!)
  t.equal((await existing(db.url, 'organizations', created)).size, created.length, `every write that answered 201 is in the database (${created.length})`)
  t.ok(lines().some((l) => l.signal === 'SIGTERM'), 'the shutdown line names the signal')
})
