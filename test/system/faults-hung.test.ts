// A hung PostgreSQL under load: the postmaster and every backend of a server
// this file started are stopped with SIGSTOP (connections stay open, the
// kernel still acknowledges, nothing answers), then resumed with SIGCONT.
//
// - Every request answers 200/201 or 503 DATABASE_UNAVAILABLE (with
//   Retry-After), each within the connect timeout + 1 s, so none waits for
//   the query timeout (set far above it): the requests already waiting on a
//   pooled connection are cut by the stall watchdog (src/lib/stall-watchdog.ts),
//   new ones by the pool's connect timeout.
// - /ready answers 503 within the connect timeout + 1 s (its own deadline),
//   /health 200.
// - After SIGCONT the service recovers by itself: once a write succeeds,
//   every request succeeds; no write that answered 201 is missing.
//
// The bounds come from the configuration (the connect timeout, the query
// timeout); everything else polls with deadlines that only keep a broken
// build from hanging.
import { performance } from 'node:perf_hooks'
import type { FastifyInstance, InjectOptions } from 'fastify'
import t from 'tap'
import { as, createUsers, type TestUser } from '../helpers/api'
import { buildTestApp } from '../helpers/app'
import { withClient } from '../helpers/database'
import { filePostgres } from '../helpers/postgres-server'
import { until } from '../helpers/wait'

const API = '/api/v1'
const CONNECT_TIMEOUT_MS = 2000
const QUERY_TIMEOUT_MS = 20_000
/** The promise under test: the connect timeout plus one second. */
const BOUND_MS = CONNECT_TIMEOUT_MS + 1000
/** How long the server stays stopped: several connect timeouts, so requests queue up behind it. */
const HUNG_MS = 3 * CONNECT_TIMEOUT_MS + 1000
/** A request still pending after this is a hang (past the query timeout). */
const HANG_MS = QUERY_TIMEOUT_MS + 5000

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))
const now = (): number => performance.now()

interface Sample { kind: string; status: number; code?: string; retryAfter?: string; id?: string; error?: string; start: number; end: number }
const ms = (s: Sample): number => s.end - s.start
const describe = (s: Sample): string => JSON.stringify({ kind: s.kind, status: s.status, code: s.code, error: s.error, ms: Math.round(ms(s)) })
const is2xx = (s: Sample): boolean => s.status >= 200 && s.status < 300

async function call (app: FastifyInstance, user: TestUser | undefined, kind: string, options: InjectOptions): Promise<Sample> {
  const start = now()
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${HANG_MS} ms`)), HANG_MS) })
  try {
    const res = await Promise.race([user === undefined ? app.inject(options) : as(app, user, options), expired])
    let body: { code?: string; id?: string } = {}
    try { body = res.json() } catch {}
    return { kind, status: res.statusCode, code: body.code, id: res.statusCode < 300 ? body.id : undefined, retryAfter: res.headers['retry-after'] as string | undefined, start, end: now() }
  } catch (err) {
    return { kind, status: -1, error: (err as Error).message, start, end: now() }
  } finally {
    clearTimeout(timer)
  }
}

function summary (samples: Sample[]): string {
  const counts = new Map<string, number>()
  for (const s of samples) {
    const key = s.status === 503 ? `503 ${s.code ?? ''}` : String(s.status)
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return `${[...counts].sort().map(([k, n]) => `${k}×${n}`).join(' ')}; max ${Math.round(Math.max(0, ...samples.map(ms)))} ms (${samples.length} requests)`
}

const postgres = filePostgres(t)

t.test('PostgreSQL hung (SIGSTOP) under load: 503 within the connect timeout + 1 s, never the query timeout, recovery after SIGCONT', async (t) => {
  const db = await postgres().createDatabase('hung')
  const app = await buildTestApp(t, db.url, {
    RATE_LIMIT_MAX: '1000000',
    DASHBOARD_REFRESH_INTERVAL_MS: '0',
    LOG_LEVEL: process.env.HUNG_LOG ?? 'error',
    DATABASE_POOL_SIZE: '6',
    DATABASE_POOL_MIN: '2',
    DATABASE_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
    DATABASE_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS)
  })
  t.teardown(async () => await postgres().resume())
  const [member] = await createUsers(app, db.url, ['member']) as [TestUser]
  const org = await as(app, member, { method: 'POST', url: `${API}/organizations`, payload: { name: 'hung-home' } })
  t.equal(org.statusCode, 201)
  const orgId = org.json().id as string

  // 8 loops: organization creates, contact creates with isPrimary (a
  // transaction), lists and by-id reads.
  const samples: Sample[] = []
  const load = { stopped: false }
  const loops = Array.from({ length: 8 }, async (_, loop) => {
    for (let i = 0; !load.stopped; i++) {
      const name = `hung-${loop}-${i}`
      let sample: Sample
      if (loop < 2) sample = await call(app, member, 'create-org', { method: 'POST', url: `${API}/organizations`, payload: { name } })
      else if (loop < 4) sample = await call(app, member, 'create-contact', { method: 'POST', url: `${API}/organizations/${orgId}/contacts`, payload: { firstName: 'Hung', lastName: name, isPrimary: i % 2 === 0 } })
      else if (loop < 6) sample = await call(app, member, 'list', { method: 'GET', url: `${API}/organizations?limit=${1 + (i % 30)}` })
      else sample = await call(app, member, 'get-org', { method: 'GET', url: `${API}/organizations/${orgId}` })
      samples.push(sample)
      await sleep(5)
    }
  })
  const seen = async (what: string, check: (s: Sample) => boolean): Promise<Sample> => {
    await until(what, () => samples.some(check), HANG_MS + 10_000)
    return samples.find(check)!
  }

  let hungAt = 0
  let resumedAt = 0
  let recoveredAt = 0
  try {
    await seen('writes before the fault', (s) => s.kind === 'create-contact' && s.status === 201)
    await sleep(300)
    hungAt = now()
    await postgres().pause()
    await seen('a 503 while hung', (s) => s.start > hungAt && s.status === 503)
    const ready = await call(app, undefined, 'ready', { method: 'GET', url: '/ready' })
    t.equal(ready.status, 503, '/ready 503 while PostgreSQL is hung')
    t.equal(ready.retryAfter, '5')
    t.ok(ms(ready) <= BOUND_MS, `/ready answers within the connect timeout + 1 s (${Math.round(ms(ready))} ms)`)
    const health = await call(app, undefined, 'health', { method: 'GET', url: '/health' })
    t.equal(health.status, 200, '/health 200: the process is alive')
    await sleep(Math.max(0, HUNG_MS - (now() - hungAt)))
    resumedAt = now()
    await postgres().resume()
    recoveredAt = (await seen('a write after SIGCONT', (s) => s.start > resumedAt && s.kind === 'create-org' && s.status === 201)).end
    t.pass(`writes succeed again ${Math.round(recoveredAt - resumedAt)} ms after SIGCONT, without restarting the app`)
    const afterRecovery = samples.length
    await until('load after recovery', () => samples.length > afterRecovery + 40, 30_000)
    const readyAgain = await app.inject({ method: 'GET', url: '/ready' })
    t.equal(readyAgain.statusCode, 200, '/ready 200 again')
  } finally {
    load.stopped = true
    await postgres().resume()
    await Promise.all(loops)
  }

  t.comment(`hung PostgreSQL: ${summary(samples)}`)
  const during = samples.filter((s) => s.end > hungAt && s.start < resumedAt)
  t.ok(during.filter((s) => s.status === 503).length >= 8, `requests answered 503 while hung (${summary(during)})`)
  const unexpected = samples.filter((s) => !(is2xx(s) || (s.status === 503 && s.code === 'DATABASE_UNAVAILABLE' && s.retryAfter === '5')))
  t.same(unexpected.map(describe), [], 'every answer is 200/201 or 503 DATABASE_UNAVAILABLE with Retry-After: 5')
  const slow = samples.filter((s) => ms(s) > BOUND_MS)
  t.same(slow.map(describe), [], `every answer within the connect timeout + 1 s (${BOUND_MS} ms); the query timeout is ${QUERY_TIMEOUT_MS} ms`)
  t.same(samples.filter((s) => s.end < hungAt && !is2xx(s)).map(describe), [], 'before the fault everything succeeds')
  const after = samples.filter((s) => s.start > recoveredAt)
  t.ok(after.length > 20, `load continued after recovery (${after.length})`)
  t.same(after.filter((s) => !is2xx(s)).map(describe), [], 'once one write succeeded again, every request succeeds')
  t.ok(app.db.pool.totalCount <= 6, 'the pool stayed within its size')

  for (const [kind, table] of [['create-org', 'organizations'], ['create-contact', 'contacts']] as const) {
    const ok = samples.filter((s) => s.kind === kind && s.status === 201).map((s) => s.id!)
    const found = await withClient(db.url, async (c) => new Set((await c.query<{ id: string }>(`SELECT id FROM ${table} WHERE id = ANY($1::uuid[])`, [ok])).rows.map((r) => r.id)))
    t.same(ok.filter((id) => !found.has(id)), [], `all ${ok.length} ${table} that answered 201 are in the database`)
  }
  const primaries = await withClient(db.url, async (c) => (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM contacts WHERE organization_id = $1 AND is_primary AND NOT is_deleted', [orgId])).rows[0]!.n)
  t.ok(primaries <= 1, `at most one primary contact after the cut transactions (${primaries})`)
})
