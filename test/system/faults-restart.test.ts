// PostgreSQL restarted while every pooled connection sits idle: those
// connections die with the old server, and the first requests after the
// restart must still succeed, never a stray 503 from a dead connection handed
// out again. pg-pool drops an idle client as soon as its socket closes (the
// client's 'error', which the pool listens for while the client is idle);
// these tests hold that for the service's whole request path:
//
// - in process (app.inject): fast shutdown, immediate shutdown and crash
//   (SIGKILL), each with a pool full of idle connections and no pause between
//   the stop and the start;
// - server.ts frozen (SIGSTOP) across the whole restart, with the first
//   requests already sent when it resumes: the dead sockets' close and those
//   requests reach the service in the same turn of its event loop, the worst
//   case for the race between the close and a checkout.
//
// Each checks that the pool really held dead connections to discard (one
// idle-connection error per pooled connection), so it cannot pass by never
// having had any.
import http from 'node:http'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { as, createUsers, type TestUser } from '../helpers/api'
import { buildTestApp } from '../helpers/app'
import { withClient } from '../helpers/database'
import { freePort } from '../helpers/net'
import { filePostgres } from '../helpers/postgres-server'
import { startServerProcess } from '../helpers/server-process'
import { until } from '../helpers/wait'

const API = '/api/v1'
const POOL = 4
const ENV = {
  RATE_LIMIT_MAX: '1000000',
  DASHBOARD_REFRESH_INTERVAL_MS: '0',
  LOG_LEVEL: 'error',
  DATABASE_POOL_SIZE: String(POOL),
  // min = size: no idle timeout closes a pooled connection before the restart does.
  DATABASE_POOL_MIN: String(POOL),
  // Generous: waiting for a free connection is not what is tested here; a
  // dead connection fails at once whatever this is.
  DATABASE_CONNECT_TIMEOUT_MS: '5000'
}

type Fault = 'fast shutdown' | 'immediate shutdown' | 'crash (SIGKILL)'

const postgres = filePostgres(t)

async function fault (how: Fault): Promise<void> {
  if (how === 'crash (SIGKILL)') await postgres().kill()
  else await postgres().stop({ mode: how === 'fast shutdown' ? 'fast' : 'immediate' })
}

/** The service's connections to `database` as PostgreSQL sees them. */
async function serviceBackends (database: string): Promise<Array<{ pid: number; state: string }>> {
  return await withClient(postgres().adminUrl, async (c) => (await c.query<{ pid: number; state: string }>(
    "SELECT pid, state FROM pg_stat_activity WHERE datname = $1 AND application_name = 'crm-service'", [database])).rows)
}

interface Request { method: 'GET' | 'POST'; url: string; payload?: Record<string, unknown> }

/** 2 × POOL requests: one-row writes, contact creates (a transaction), reads. */
function burst (orgId: string, label: string): Request[] {
  return Array.from({ length: 2 * POOL }, (_, i): Request => {
    switch (i % 4) {
      case 0: return { method: 'POST', url: `${API}/organizations`, payload: { name: `${label}-${i}` } }
      case 1: return { method: 'POST', url: `${API}/organizations/${orgId}/contacts`, payload: { firstName: 'First', lastName: `${label}-${i}`, isPrimary: i === 1 } }
      case 2: return { method: 'GET', url: `${API}/organizations/${orgId}` }
      default: return { method: 'GET', url: `${API}/organizations?limit=${1 + i}` }
    }
  })
}

const failed = (answers: Array<{ request: Request; status: number; body: string }>): string[] =>
  answers.filter((a) => a.status < 200 || a.status >= 300).map((a) => `${a.request.method} ${a.request.url} → ${a.status} ${a.body.slice(0, 200)}`)

t.test('in process: idle pool, PostgreSQL restarted: the first requests after the restart succeed', async (t) => {
  await postgres().start()
  const db = await postgres().createDatabase('idle_restart')
  const app: FastifyInstance = await buildTestApp(t, db.url, ENV)
  const [member] = await createUsers(app, db.url, ['member']) as [TestUser]
  const org = await as(app, member, { method: 'POST', url: `${API}/organizations`, payload: { name: 'idle-home' } })
  t.equal(org.statusCode, 201, 'a write before the faults succeeds')
  const orgId = org.json().id as string
  let idleErrors = 0
  app.db.pool.on('error', () => { idleErrors++ })

  for (const how of ['fast shutdown', 'immediate shutdown', 'crash (SIGKILL)'] as const) {
    // Every pooled connection open, then idle.
    const clients = await Promise.all(Array.from({ length: POOL }, async () => await app.db.pool.connect()))
    for (const client of clients) client.release()
    t.equal(app.db.pool.idleCount, POOL, `${how}: the pool holds ${POOL} idle connections`)
    t.equal((await serviceBackends(db.name)).length, POOL, `${how}: PostgreSQL has ${POOL} connections of the service`)
    const errorsBefore = idleErrors

    await fault(how)
    await postgres().start()
    const label = how.split(' ')[0]!
    const answers = await Promise.all(burst(orgId, label).map(async (request) => {
      const res = await as(app, member, request)
      return { request, status: res.statusCode, body: res.body }
    }))

    t.same(failed(answers), [], `${how}: all ${answers.length} first requests after the restart succeed (no dead connection handed out)`)
    t.equal(idleErrors - errorsBefore, POOL, `${how}: each of the ${POOL} idle connections died with the old server and left the pool`)
    const names = answers.filter((a) => a.request.method === 'POST').map((a) => String(a.request.payload!.name ?? a.request.payload!.lastName))
    const stored = await withClient(db.url, async (c) => (await c.query<{ n: number }>(
      'SELECT ((SELECT count(*) FROM organizations WHERE name = ANY($1)) + (SELECT count(*) FROM contacts WHERE last_name = ANY($1)))::int AS n', [names])).rows[0]!.n)
    t.equal(stored, names.length, `${how}: the ${names.length} writes are in the database`)
  }
})

t.test('server.ts frozen (SIGSTOP) across the restart, requests already sent when it resumes: all succeed', async (t) => {
  t.setTimeout(240_000) // the start-up deadline (150 s, only for a broken build) and the restarts
  await postgres().start()
  const db = await postgres().createDatabase('frozen_restart')
  // Signs tokens with the server's secret; opens no connection of its own.
  const signer = await buildTestApp(t, db.url, { ...ENV, DATABASE_POOL_MIN: '0' })
  const [member] = await createUsers(signer, db.url, ['member']) as [TestUser]
  const port = await freePort()
  const env: NodeJS.ProcessEnv = {
    ...ENV,
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    LOG_LEVEL: 'info', // 'ready', and the pool's line (warn) for each idle connection that died
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: db.url,
    JWT_SECRET: 'test-secret-that-is-at-least-32-characters',
    REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_KEY_PREFIX: `crm:test:${process.pid}:frozen:`,
    // The freeze is an event-loop stall by design: load shedding (tested
    // elsewhere) would answer the queued requests 503 OVERLOADED.
    MAX_EVENT_LOOP_DELAY_MS: '0'
  }
  const server = await startServerProcess(t, env)
  const { child, lines } = server
  const idleDeaths = (): number => lines().filter((l) => l.msg === 'idle database connection failed; it was removed from the pool').length

  /** One request on its own connection; `sent` resolves once it is all in the kernel's hands. */
  const send = (request: Request): { sent: Promise<void>; answer: Promise<{ request: Request; status: number; body: string }> } => {
    const body = request.payload === undefined ? undefined : JSON.stringify(request.payload)
    let flushed: () => void = () => {}
    const sent = new Promise<void>((resolve) => { flushed = resolve })
    const answer = new Promise<{ request: Request; status: number; body: string }>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, method: request.method, path: request.url, agent: false, headers: { ...member.headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) } }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ request, status: res.statusCode ?? -1, body: Buffer.concat(chunks).toString() }))
      })
      req.setTimeout(30_000, () => req.destroy(new Error('no answer')))
      req.on('error', (err: NodeJS.ErrnoException) => { flushed(); resolve({ request, status: -1, body: err.code ?? err.message }) })
      req.end(body, () => flushed())
    })
    return { sent, answer }
  }

  const home = await send({ method: 'POST', url: `${API}/organizations`, payload: { name: 'frozen-home' } }).answer
  t.equal(home.status, 201, 'a write before the faults succeeds')
  const orgId = (JSON.parse(home.body) as { id: string }).id

  for (const how of ['fast shutdown', 'crash (SIGKILL)'] as const) {
    // The pool is full (warmed up at start, then by the previous burst): every connection idle.
    await until(`${how}: ${POOL} idle connections`, async () => (await serviceBackends(db.name)).filter((b) => b.state === 'idle').length === POOL)
    const deathsBefore = idleDeaths()
    let sent: Array<ReturnType<typeof send>> = []
    child.kill('SIGSTOP')
    try {
      await fault(how)
      await postgres().start()
      sent = burst(orgId, `frozen-${how.split(' ')[0]!}`).map(send)
      await Promise.all(sent.map(async (r) => await r.sent)) // all in the frozen server's socket queues
    } finally {
      child.kill('SIGCONT')
    }
    const answers = await Promise.all(sent.map(async (r) => await r.answer))
    t.same(failed(answers), [], `${how}: all ${answers.length} requests sent while the server was frozen across the restart succeed`)
    await until(`${how}: the pool's log lines`, () => idleDeaths() - deathsBefore >= POOL)
    t.equal(idleDeaths() - deathsBefore, POOL, `${how}: each of the ${POOL} idle connections died with the old server and left the pool`)
  }

  child.kill('SIGTERM')
  const [code] = await server.exited
  t.equal(code, 0, 'the server exits 0')
  t.equal(server.stderr(), '', 'nothing on stderr')
})
