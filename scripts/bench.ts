// npm run bench -- [--organizations N] [--duration S] [--connections C] [--runs R]
//                  [--only a,b,ceilings,...] [--database-url URL] [--reseed] ...
//
// The performance harness. It prepares a database seeded by `npm run db:seed`
// at the chosen size (reused when it already holds exactly that seed; pending
// migrations are applied on every run), builds and starts the service as a
// child process (production mode, Redis cache, rate limit out of reach),
// mints a token for the member with the median number of organizations, and
// loads it with autocannon (wrk is not used) scenario by scenario:
//
//   a   list, cached: the same URL over and over (X-Cache HIT)
//   b   list, cache-busting: every request a new offset/filter/search combination (all MISS)
//   c   organization by id, rotating over the member's organizations (MISS then HIT per id)
//   c2  organization by id with a unique ?bust= parameter: every request a MISS
//   d   dashboard
//   e   write mix: POST an interaction / PATCH an organization (no If-Match), alternating
//
// and, in the same run, two ceilings:
//
//   http-ceiling  a bare Fastify route answering (a)'s exact body (uncompressed)
//   db-ceiling    the listing SQL of (b), same parameter mix and concurrency, raw pg loop
//
// plus `prisma`: in this process, the org-by-id read (and the auth user
// lookup) through Prisma's ORM, $queryRaw and raw pg, sequential and concurrent.
//
// It prints req/s, p50, p99, errors, non-2xx and each scenario's ratio to its
// ceiling, checks the issue's targets, and writes everything as JSON under
// bench/results/. Exit codes: 0 done, 1 failed, 2 bad arguments, 3 a target
// failed (only with --check).
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import autocannon from 'autocannon'
import { createSigner } from 'fast-jwt'
import pg from 'pg'
import { Prisma } from '../generated/prisma/client'
import { loadConfig } from '../lib/config'
import { Database } from '../lib/database'
import { applyMigrations } from '../lib/migrator'
import { PROJECT_ROOT } from '../lib/paths'
import { OrganizationService } from '../services/organizations'
import {
  freePort, latencyStats, listGenerator, listPath, loadListSpec, median, nodeArgs, removeRedisKeys, serviceEnv, sibling,
  type LatencyStats, type ListSpec
} from './bench-lib'
import type { DbCeilingInput, DbCeilingResult } from './bench-db-ceiling'
import { parseBenchArgs, SCENARIOS, USAGE, type BenchOptions, type ScenarioKey } from './bench-options'
import { usageExitCode } from './lib/args'
import { seededMembers } from './seed/statements'

const ROOT = PROJECT_ROOT
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const CEILING_PATH = '/ceiling'
const LIST_CACHED_PATH = '/api/v1/organizations'
const WRITE_SUBJECT = 'bench write mix'

// ---------------------------------------------------------- scenarios

const HTTP_SCENARIOS: ReadonlySet<ScenarioKey> = new Set(['http-ceiling', 'a', 'b', 'c', 'c2', 'd', 'e'])

const TITLES: Record<ScenarioKey, string> = {
  'http-ceiling': 'HTTP ceiling: bare Fastify, (a)\'s body',
  a: 'list, cached (same URL)',
  b: 'list, cache-busting (all MISS)',
  c: 'org by id, rotating ids',
  c2: 'org by id, cache-busting',
  d: 'dashboard',
  e: 'write mix (POST interaction / PATCH org)',
  'db-ceiling': 'DB ceiling: (b)\'s SQL, raw pg loop',
  prisma: 'Prisma overhead (in process)'
}
const CEILING_OF: Partial<Record<ScenarioKey, 'http-ceiling' | 'db-ceiling'>> = {
  a: 'http-ceiling', c: 'http-ceiling', c2: 'http-ceiling', d: 'http-ceiling', e: 'http-ceiling', b: 'db-ceiling'
}


// ------------------------------------------------------ child processes

const children = new Set<ChildProcess>()

function track (child: ChildProcess): ChildProcess {
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
async function stopChild (child: ChildProcess, graceMs = 15_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  try {
    const [code] = await exited
    return code
  } finally {
    clearTimeout(timer)
  }
}

/** Runs a command to completion; rejects with its output when it fails. */
async function run (command: string, args: string[], options: { env?: NodeJS.ProcessEnv; echo?: boolean } = {}): Promise<string> {
  const child = track(spawn(command, args, { cwd: ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] }))
  let output = ''
  const collect = (stream: NodeJS.WriteStream) => (chunk: Buffer): void => {
    output += chunk.toString()
    if (options.echo === true) stream.write(chunk)
  }
  child.stdout!.on('data', collect(process.stdout))
  child.stderr!.on('data', collect(process.stderr))
  const [code, signal] = await once(child, 'exit') as [number | null, string | null]
  if (code !== 0) throw new Error(`${path.basename(command)} ${args.join(' ')} failed (${code ?? signal}):\n${output.slice(-4000)}`)
  return output
}

interface HttpAnswer { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

/** A plain GET without Accept-Encoding (what autocannon sends): the body is never compressed. */
async function httpGet (url: string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return await new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.setTimeout(30_000, () => req.destroy(new Error(`GET ${url} timed out`)))
  })
}

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

// ------------------------------------------------------------ the data

interface Dataset {
  url: string
  database: string
  organizations: number
  users: number
  action: 'reused' | 'seeded'
  seedSeconds?: number
  migrationsApplied: string[]
}

const redact = (url: string): string => url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@')
const marker = (n: number): string => `crm-bench organizations=${n}`

async function withClient<T> (url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** CREATE DATABASE when it does not exist (through the server's `postgres` database). */
async function ensureDatabase (url: string): Promise<string> {
  const parsed = new URL(url)
  const name = decodeURIComponent(parsed.pathname.slice(1))
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`database name ${JSON.stringify(name)}: only letters, digits and _ are supported`)
  parsed.pathname = '/postgres'
  try {
    await withClient(parsed.toString(), async (client) => {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
      if (rowCount === 0) {
        await client.query(`CREATE DATABASE "${name}"`)
        console.log(`created database ${name}`)
      }
    })
  } catch (err) {
    // No access to `postgres`: the database may exist anyway; migrating will tell.
    console.log(`could not check or create database ${name} (${(err as Error).message}); using it as is`)
  }
  return name
}

/**
 * Applies pending migrations (every run: a listing or index change lands
 * without --reseed), then reuses the data when it is this size's seed —
 * the database comment the harness sets after seeding, or, for a database
 * seeded by hand, the seed's exact user and organization counts — and seeds
 * otherwise (`db:seed --organizations N --reset`).
 */
async function prepareDatabase (opts: BenchOptions): Promise<Dataset> {
  const name = await ensureDatabase(opts.databaseUrl)
  const migrated = await applyMigrations({ connectionString: opts.databaseUrl, log: (line) => console.log(`  migrate: ${line}`) })
  console.log(`migrations: ${migrated.applied.length} applied now, ${migrated.alreadyApplied.length} already applied`)
  const expectedUsers = seededMembers(opts.organizations) + 1
  const state = await withClient(opts.databaseUrl, async (client) => {
    const { rows: [row] } = await client.query<{ comment: string | null; organizations: string; users: string }>(`
      SELECT shobj_description(d.oid, 'pg_database') AS comment,
             (SELECT count(*) FROM organizations) AS organizations, (SELECT count(*) FROM users) AS users
      FROM pg_database d WHERE d.datname = current_database()`)
    return { comment: row!.comment, organizations: Number(row!.organizations), users: Number(row!.users) }
  })
  const marked = state.comment === marker(opts.organizations)
  const looksSeeded = state.organizations === opts.organizations && state.users === expectedUsers
  if (!opts.reseed && looksSeeded && (marked || state.comment === null)) {
    console.log(`reusing ${name}: ${state.organizations} organizations, ${state.users} users (${marked ? 'seeded by the bench' : 'seed-sized'})`)
    return { url: opts.databaseUrl, database: name, organizations: state.organizations, users: state.users, action: 'reused', migrationsApplied: migrated.applied }
  }
  console.log(`seeding ${name} with ${opts.organizations} organizations (db:seed --reset; ~20 s per 100k on 2 cores)…`)
  const started = performance.now()
  // The db:seed npm script's command line, run directly.
  await withClient(opts.databaseUrl, async (client) => { await client.query(`COMMENT ON DATABASE "${name}" IS NULL`) })
  await run(process.execPath, nodeArgs(path.join(ROOT, 'scripts', 'seed', 'main.ts'), ['--organizations', String(opts.organizations), '--reset']), {
    env: { ...process.env, DATABASE_URL: opts.databaseUrl, NODE_ENV: 'development' },
    echo: true
  })
  const seedSeconds = (performance.now() - started) / 1000
  const users = await withClient(opts.databaseUrl, async (client) => {
    await client.query(`COMMENT ON DATABASE "${name}" IS '${marker(opts.organizations)}'`)
    const { rows: [row] } = await client.query<{ n: string }>('SELECT count(*) AS n FROM users')
    return Number(row!.n)
  })
  return { url: opts.databaseUrl, database: name, organizations: opts.organizations, users, action: 'seeded', seedSeconds, migrationsApplied: migrated.applied }
}

interface Member { id: string; email: string; organizations: number; rank: number; members: number }

/** The member whose live organization count is the median among members (the lower one for an even count). */
async function pickMember (db: pg.Pool): Promise<Member> {
  const { rows } = await db.query<{ id: string; email: string; n: string }>(`
    SELECT u.id, u.email, count(o.id) AS n
    FROM users u LEFT JOIN organizations o ON o.assigned_user_id = u.id AND o.is_deleted = FALSE
    WHERE u.role = 'member' AND u.is_active
    GROUP BY u.id, u.email ORDER BY count(o.id), u.id`)
  if (rows.length === 0) throw new Error('the database has no active member')
  const index = (rows.length - 1) >> 1
  const row = rows[index]!
  return { id: row.id, email: row.email, organizations: Number(row.n), rank: index + 1, members: rows.length }
}

// ------------------------------------------------------ the processes

interface Service { child: ChildProcess; base: string; output: () => string; env: Record<string, string> }

async function buildService (): Promise<void> {
  console.log('npm run build…')
  const started = performance.now()
  await run(NPM, ['run', 'build'])
  console.log(`built in ${((performance.now() - started) / 1000).toFixed(1)} s`)
}

async function startService (opts: BenchOptions, secret: string, prefix: string): Promise<Service> {
  const port = await freePort()
  // The seed refreshed the view; a periodic refresh mid-scenario would only add noise.
  const env = serviceEnv({ port, databaseUrl: opts.databaseUrl, redisUrl: opts.redisUrl, prefix, secret, dashboardRefreshMs: 0 })
  const entry = opts.server === 'ts' ? path.join(ROOT, 'server.ts') : path.join(ROOT, 'dist', 'server.js')
  if (!fs.existsSync(entry)) throw new Error(`${entry} does not exist (run npm run build, or drop --skip-build)`)
  const child = track(spawn(process.execPath, nodeArgs(entry), { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }))
  let output = ''
  child.stdout!.on('data', (c: Buffer) => { output = (output + c.toString()).slice(-200_000) })
  child.stderr!.on('data', (c: Buffer) => { output = (output + c.toString()).slice(-200_000) })
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 120_000
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the service exited during start-up (${child.exitCode ?? child.signalCode}):\n${output.slice(-4000)}`)
    const ready = await httpGet(`${base}/ready`).catch(() => undefined)
    if (ready?.status === 200) break
    if (Date.now() > deadline) throw new Error(`the service was not ready after 120 s:\n${output.slice(-4000)}`)
    await sleep(100)
  }
  return { child, base, output: () => output, env }
}

async function startCeilingServer (body: Buffer): Promise<{ child: ChildProcess; base: string; bodyFile: string }> {
  const port = await freePort()
  const bodyFile = path.join(os.tmpdir(), `crm-bench-ceiling-${process.pid}-${port}.json`)
  fs.writeFileSync(bodyFile, body)
  const child = track(spawn(process.execPath, nodeArgs(sibling('bench-ceiling-server'), [String(port), bodyFile]), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }))
  let output = ''
  await new Promise<void>((resolve, reject) => {
    const onData = (c: Buffer): void => {
      output += c.toString()
      if (output.includes(`LISTENING ${port}`)) resolve()
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', (c: Buffer) => { output += c.toString() })
    child.once('exit', (code) => reject(new Error(`the ceiling server exited (${code}): ${output}`)))
  })
  return { child, base: `http://127.0.0.1:${port}`, bodyFile }
}

async function runDbCeiling (input: DbCeilingInput): Promise<DbCeilingResult> {
  const output = await run(process.execPath, nodeArgs(sibling('bench-db-ceiling'), [JSON.stringify(input)]))
  const line = output.split('\n').find((l) => l.startsWith('RESULT '))
  if (line === undefined) throw new Error(`the DB ceiling printed no result:\n${output.slice(-4000)}`)
  return JSON.parse(line.slice('RESULT '.length)) as DbCeilingResult
}

// ------------------------------------------------------------ scenarios

export interface ScenarioResult {
  key: ScenarioKey
  title: string
  tool: string
  requests: number
  durationS: number
  reqPerSec: number
  latencyMs: LatencyStats
  /** Connection errors and timeouts. */
  errors: number
  timeouts: number
  non2xx: number
  statusCodes: Record<string, number>
  xCache?: Record<string, number>
  bytesPerResponse?: number
  ceiling?: 'http-ceiling' | 'db-ceiling'
  ratio?: number
  notes: string[]
}

type Counter = Record<string, number>
const bump = (counter: Counter, key: string): void => { counter[key] = (counter[key] ?? 0) + 1 }

function header (headers: http.IncomingHttpHeaders | undefined, name: string): string | undefined {
  if (headers === undefined) return undefined
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value[0] : value
  }
  return undefined
}

interface CannonSpec {
  base: string
  requests: autocannon.Request[]
  headers?: Record<string, string>
}

/** One autocannon run; latencies come from every response's hrtime duration (autocannon's histogram keeps whole ms). */
async function cannon (spec: CannonSpec, connections: number, durationS: number): Promise<{ result: autocannon.Result; latencies: number[] }> {
  const latencies: number[] = []
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({
      url: spec.base,
      connections,
      duration: durationS,
      headers: spec.headers,
      requests: spec.requests,
      timeout: 30
    }, (err: unknown, res: autocannon.Result) => { if (err != null) reject(err as Error); else resolve(res) })
    instance.on('response', (_client, _status, _bytes, responseTime) => { latencies.push(responseTime) })
  })
  return { result, latencies }
}

function summarize (key: ScenarioKey, result: autocannon.Result, latencies: number[], xCache?: Counter): ScenarioResult {
  const statusCodes: Record<string, number> = {}
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stat.count ?? 0
  const responses = latencies.length
  return {
    key,
    title: TITLES[key],
    tool: 'autocannon',
    requests: responses,
    durationS: result.duration,
    reqPerSec: responses / result.duration,
    latencyMs: latencyStats(latencies),
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statusCodes,
    xCache,
    bytesPerResponse: responses === 0 ? undefined : Math.round(result.throughput.total / responses),
    notes: []
  }
}

interface Context {
  opts: BenchOptions
  dataset: Dataset
  pool: pg.Pool
  member: Member
  spec: ListSpec
  ids: string[]
  service?: Service
  ceiling?: { base: string; bodyBytes: number }
  auth: Record<string, string>
  seenListUrls: Set<string>
  /** Counters shared by runs so ids rotate on (and c2's URLs stay unique). */
  counters: { c: number; c2: number; post: number; patch: number }
  writeSnapshot?: Array<{ id: string; annual_revenue: string | null }>
  wrote: boolean
}

/** A scenario: warm-up (discarded), then the measured run. */
async function measureHttp (ctx: Context, key: ScenarioKey, build: () => { spec: CannonSpec; xCache?: Counter }): Promise<ScenarioResult> {
  const { opts } = ctx
  if (opts.warmupS > 0) {
    const warm = build()
    await cannon(warm.spec, opts.connections, opts.warmupS)
  }
  const measured = build()
  const { result, latencies } = await cannon(measured.spec, opts.connections, opts.durationS)
  return summarize(key, result, latencies, measured.xCache)
}

/** Counts X-Cache values of the answers (and, separately, what non-2xx answers said). */
function cacheCounter (): { counter: Counter; onResponse: (status: number, body: string, context: object, headers: http.IncomingHttpHeaders | undefined) => void } {
  const counter: Counter = {}
  return {
    counter,
    onResponse: (status, _body, _context, headers) => {
      if (status < 200 || status > 299) bump(counter, `status ${status}`)
      else bump(counter, header(headers, 'x-cache') ?? String(status)) // writes carry no X-Cache: count their statuses
    }
  }
}

async function scenario (ctx: Context, key: ScenarioKey): Promise<ScenarioResult | PrismaResult> {
  const { opts, ids } = ctx
  const service = ctx.service
  const base = service?.base ?? ''
  const headers = ctx.auth
  switch (key) {
    case 'http-ceiling': {
      const ceiling = ctx.ceiling!
      const r = await measureHttp(ctx, key, () => ({ spec: { base: ceiling.base, requests: [{ method: 'GET', path: CEILING_PATH }] } }))
      r.notes.push(`body ${ceiling.bodyBytes} bytes, uncompressed, no plugins`)
      return r
    }
    case 'a': {
      // Prime the entry so even the warm-up hits.
      await httpGet(`${base}${LIST_CACHED_PATH}`, headers)
      const r = await measureHttp(ctx, key, () => {
        const x = cacheCounter()
        return { spec: { base, headers, requests: [{ method: 'GET', path: LIST_CACHED_PATH, onResponse: x.onResponse }] }, xCache: x.counter }
      })
      r.notes.push(`GET ${LIST_CACHED_PATH}, no Accept-Encoding (uncompressed)`)
      return r
    }
    case 'b': {
      const generator = listGenerator(ctx.spec, 1000 + ctx.seenListUrls.size, ctx.seenListUrls)
      const r = await measureHttp(ctx, key, () => {
        const x = cacheCounter()
        const setupRequest = (req: autocannon.Request): autocannon.Request => ({ ...req, path: listPath(generator.next()) })
        return { spec: { base, headers, requests: [{ method: 'GET', setupRequest, onResponse: x.onResponse }] }, xCache: x.counter }
      })
      const hits = r.xCache?.HIT ?? 0
      if (hits > 0) r.notes.push(`WARNING: ${hits} cache HITs — every request should miss (harness bug)`)
      if (generator.fallbacks > 0) r.notes.push(`${generator.fallbacks} of ${generator.drawn} requests fell back to an empty page past the end to stay unique`)
      r.notes.push('offset/limit/priorityLevel/industrySegment/search drawn per request; every URL unique in this bench')
      return r
    }
    case 'c': {
      const r = await measureHttp(ctx, key, () => {
        const x = cacheCounter()
        const setupRequest = (req: autocannon.Request): autocannon.Request => ({ ...req, path: `/api/v1/organizations/${ids[ctx.counters.c++ % ids.length]!}` })
        return { spec: { base, headers, requests: [{ method: 'GET', setupRequest, onResponse: x.onResponse }] }, xCache: x.counter }
      })
      r.notes.push(`${ids.length} ids rotated: the first request of an id misses, later ones hit (until a write)`)
      return r
    }
    case 'c2': {
      const r = await measureHttp(ctx, key, () => {
        const x = cacheCounter()
        const setupRequest = (req: autocannon.Request): autocannon.Request => {
          const n = ctx.counters.c2++
          return { ...req, path: `/api/v1/organizations/${ids[n % ids.length]!}?bust=${n}` }
        }
        return { spec: { base, headers, requests: [{ method: 'GET', setupRequest, onResponse: x.onResponse }] }, xCache: x.counter }
      })
      r.notes.push('a unique ?bust=n per request (the cache key is the full URL): every request reads the database')
      return r
    }
    case 'd': {
      await httpGet(`${base}/api/v1/dashboard`, headers)
      const r = await measureHttp(ctx, key, () => {
        const x = cacheCounter()
        return { spec: { base, headers, requests: [{ method: 'GET', path: '/api/v1/dashboard', onResponse: x.onResponse }] }, xCache: x.counter }
      })
      r.notes.push('GET /api/v1/dashboard (cached until the next dashboard refresh)')
      return r
    }
    case 'e': {
      if (ctx.writeSnapshot === undefined) {
        const { rows } = await ctx.pool.query<{ id: string; annual_revenue: string | null }>(
          'SELECT id, annual_revenue::text AS annual_revenue FROM organizations WHERE id = ANY($1::uuid[])', [ids])
        ctx.writeSnapshot = rows
      }
      ctx.wrote = true
      const json = { 'content-type': 'application/json' }
      const half = ids.length >> 1
      const r = await measureHttp(ctx, key, () => {
        const x = cacheCounter()
        const requests: autocannon.Request[] = [
          {
            method: 'POST',
            headers: json,
            body: JSON.stringify({ type: 'note', subject: WRITE_SUBJECT }),
            setupRequest: (req) => ({ ...req, path: `/api/v1/organizations/${ids[ctx.counters.post++ % ids.length]!}/interactions` }),
            onResponse: x.onResponse
          },
          {
            method: 'PATCH',
            headers: json,
            setupRequest: (req) => {
              const n = ctx.counters.patch++
              return { ...req, path: `/api/v1/organizations/${ids[(half + n) % ids.length]!}`, body: JSON.stringify({ annualRevenue: 1000 * (1 + (n % 100_000)) }) }
            },
            onResponse: x.onResponse
          }
        ]
        return { spec: { base, headers, requests }, xCache: x.counter }
      })
      r.notes.push('alternating POST /organizations/:id/interactions and PATCH /organizations/:id {annualRevenue} without If-Match, different orgs; undone afterwards')
      return r
    }
    case 'db-ceiling': {
      const res = await runDbCeiling({
        databaseUrl: opts.databaseUrl,
        memberId: ctx.member.id,
        connections: opts.connections,
        durationS: opts.durationS,
        warmupS: opts.warmupS,
        seed: 2000 + ctx.seenListUrls.size
      })
      return {
        key,
        title: TITLES[key],
        tool: res.method,
        requests: res.queries,
        durationS: res.durationS,
        reqPerSec: res.perSecond,
        latencyMs: res.latencyMs,
        errors: res.errors,
        timeouts: 0,
        non2xx: 0,
        statusCodes: {},
        notes: [
          `${opts.connections} connections (the service's own pool: DATABASE_POOL_SIZE=${process.env.DATABASE_POOL_SIZE ?? '20'})`,
          `${res.rowsPerQuery.toFixed(1)} rows per call (limit + 1, as the service asks)`,
          ...(res.firstError === undefined ? [] : [`first error: ${res.firstError}`])
        ]
      }
    }
    case 'prisma':
      return await prismaScenario(ctx)
  }
}

// ------------------------------------------------- the Prisma micro-scenario

interface MicroStats { calls: number; opsPerSec: number; latencyMs: LatencyStats }
interface MicroVariant { group: string; variant: string; sequential: MicroStats; concurrent: MicroStats; ratio?: { sequential: number; concurrent: number } }
export interface PrismaResult { key: 'prisma'; title: string; iterations: number; concurrency: number; poolSize: number; reference: string; consistent: boolean; variants: MicroVariant[]; notes: string[] }

async function timeCalls (call: (i: number) => Promise<unknown>, iterations: number, concurrency: number): Promise<MicroStats> {
  const latencies: number[] = []
  let next = 0
  const started = performance.now()
  const worker = async (): Promise<void> => {
    while (next < iterations) {
      const i = next++
      const t0 = performance.now()
      await call(i)
      latencies.push(performance.now() - t0)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const seconds = (performance.now() - started) / 1000
  return { calls: latencies.length, opsPerSec: latencies.length / seconds, latencyMs: latencyStats(latencies) }
}

const ORG_BY_ID_SQL = `
  SELECT o.id, o.name, o.industry_segment, o.priority_level, o.primary_email, o.primary_phone, o.website,
         o.annual_revenue, o.assigned_user_id, o.created_at, o.updated_at,
         (SELECT count(*)::int FROM contacts c WHERE c.organization_id = o.id AND c.is_deleted = FALSE) AS contact_count,
         (SELECT count(*)::int FROM interactions i WHERE i.organization_id = o.id AND i.created_at >= $2) AS interaction_count,
         (SELECT count(*)::int FROM opportunities p WHERE p.organization_id = o.id
            AND p.stage IN ('prospecting', 'qualification', 'proposal', 'negotiation')) AS opportunity_count
  FROM organizations o
  WHERE o.id = $1::uuid AND o.is_deleted = FALSE AND o.assigned_user_id = $3::uuid`
const USER_BY_ID_SQL = 'SELECT id, email, name, role, is_active FROM users WHERE id = $1::uuid'
const OPEN_STAGES = ['prospecting', 'qualification', 'proposal', 'negotiation'] as const

/** The same text and values as a Prisma.sql fragment ($n placeholders become bound values, in order of appearance). */
function prismaSql (text: string, values: unknown[]): Prisma.Sql {
  const parts = text.split(/\$(\d+)/)
  return Prisma.sql(parts.filter((_, i) => i % 2 === 0), ...parts.filter((_, i) => i % 2 === 1).map((n) => values[Number(n) - 1]))
}

/**
 * The hot reads three ways against the same database, in this process:
 * Prisma's ORM (findFirst with a filtered _count include, as
 * services/organizations.ts `read` was written; findUnique for the auth
 * lookup), the same through the service as it is now, a $queryRaw of
 * equivalent SQL, and raw pg (the reference; also as a named prepared
 * statement). Sequential calls show per-call overhead, concurrent ones the
 * CPU cost under load.
 */
async function prismaScenario (ctx: Context): Promise<PrismaResult> {
  const { opts, member, ids } = ctx
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: opts.databaseUrl, JWT_SECRET: 'x'.repeat(32) })
  const database = new Database({ ...config.database, url: opts.databaseUrl }, { warn: () => {}, error: () => {} })
  try {
    await database.warmUp()
    const prisma = database.prisma
    const service = new OrganizationService(prisma)
    const caller = { id: member.id, email: member.email, name: 'bench', role: 'member' as const }
    const since = new Date(Date.now() - 90 * 86_400_000)
    const orgId = (i: number): string => ids[i % ids.length]!
    const { rows: userRows } = await ctx.pool.query<{ id: string }>('SELECT id FROM users ORDER BY id')
    const userId = (i: number): string => userRows[i % userRows.length]!.id

    const orgVariants: Array<[string, (i: number) => Promise<unknown>]> = [
      ['prisma findFirst + _count', async (i) => await prisma.organization.findFirst({
        where: { id: orgId(i), isDeleted: false, assignedUserId: member.id },
        include: {
          _count: {
            select: {
              contacts: { where: { isDeleted: false } },
              interactions: { where: { createdAt: { gte: since } } },
              opportunities: { where: { stage: { in: [...OPEN_STAGES] } } }
            }
          }
        }
      })],
      ['service.get (current code)', async (i) => await service.get(caller, orgId(i))],
      ['$queryRaw', async (i) => await prisma.$queryRaw(prismaSql(ORG_BY_ID_SQL, [orgId(i), since, member.id]))],
      ['pg (same SQL)', async (i) => await database.pool.query(ORG_BY_ID_SQL, [orgId(i), since, member.id])],
      ['pg prepared (named)', async (i) => await database.pool.query({ name: 'bench_org_by_id', text: ORG_BY_ID_SQL, values: [orgId(i), since, member.id] })]
    ]
    const userVariants: Array<[string, (i: number) => Promise<unknown>]> = [
      ['prisma findUnique', async (i) => await prisma.user.findUnique({ where: { id: userId(i) }, select: { id: true, email: true, name: true, role: true, isActive: true } })],
      ['$queryRaw', async (i) => await prisma.$queryRaw(prismaSql(USER_BY_ID_SQL, [userId(i)]))],
      ['pg (same SQL)', async (i) => await database.pool.query(USER_BY_ID_SQL, [userId(i)])],
      ['pg prepared (named)', async (i) => await database.pool.query({ name: 'bench_user_by_id', text: USER_BY_ID_SQL, values: [userId(i)] })]
    ]

    // The variants must read the same thing.
    const probe = ids[0]!
    const viaPrisma = await orgVariants[0]![1](0) as { _count: { contacts: number; interactions: number; opportunities: number } } | null
    const viaRaw = await orgVariants[3]![1](0) as pg.QueryResult<{ contact_count: number; interaction_count: number; opportunity_count: number }>
    const viaService = await service.get(caller, probe)
    const raw = viaRaw.rows[0]
    const consistent = viaPrisma !== null && raw !== undefined &&
      viaPrisma._count.contacts === raw.contact_count && viaPrisma._count.interactions === raw.interaction_count &&
      viaPrisma._count.opportunities === raw.opportunity_count && viaService.contactCount === raw.contact_count &&
      viaService.opportunityCount === raw.opportunity_count

    const variants: MicroVariant[] = []
    const iterations = opts.prismaIterations
    for (const [group, list] of [['org by id', orgVariants], ['auth user by id', userVariants]] as const) {
      const measured: MicroVariant[] = []
      for (const [variant, call] of list) {
        await timeCalls(call, Math.min(200, iterations), 4) // warm-up: JIT, plan caches, prepared statements
        const sequential = await timeCalls(call, iterations, 1)
        const concurrent = await timeCalls(call, iterations, opts.connections)
        measured.push({ group, variant, sequential, concurrent })
      }
      const reference = measured.find((m) => m.variant === 'pg (same SQL)')!
      for (const m of measured) {
        m.ratio = { sequential: m.sequential.opsPerSec / reference.sequential.opsPerSec, concurrent: m.concurrent.opsPerSec / reference.concurrent.opsPerSec }
      }
      variants.push(...measured)
    }
    return {
      key: 'prisma',
      title: TITLES.prisma,
      iterations,
      concurrency: opts.connections,
      poolSize: config.database.poolSize,
      reference: 'pg (same SQL)',
      consistent,
      variants,
      notes: [`lib/database pool of ${config.database.poolSize} (the service's default), ${iterations} calls per variant and mode, after a warm-up`]
    }
  } finally {
    await database.close()
  }
}

// --------------------------------------------------------- reporting

interface Target { id: string; text: string; value?: number; pass: boolean | null }

type RunResults = Partial<Record<ScenarioKey, ScenarioResult | PrismaResult>>

const isHttp = (r: ScenarioResult | PrismaResult | undefined): r is ScenarioResult => r !== undefined && r.key !== 'prisma'

function applyRatios (results: RunResults): void {
  for (const result of Object.values(results)) {
    if (!isHttp(result)) continue
    const ceilingKey = CEILING_OF[result.key]
    if (ceilingKey === undefined) continue
    const ceiling = results[ceilingKey]
    result.ceiling = ceilingKey
    if (isHttp(ceiling) && ceiling.reqPerSec > 0) result.ratio = result.reqPerSec / ceiling.reqPerSec
  }
}

function sumCounters (list: Array<Counter | undefined>): Counter | undefined {
  if (list.every((c) => c === undefined)) return undefined
  const out: Counter = {}
  for (const c of list) for (const [k, v] of Object.entries(c ?? {})) out[k] = (out[k] ?? 0) + v
  return out
}

/** Per scenario: medians of rate, latencies and ratio over the runs; errors and X-Cache summed. */
function medians (runs: RunResults[]): RunResults {
  const out: RunResults = {}
  for (const key of SCENARIOS) {
    const list = runs.map((r) => r[key]).filter((r) => r !== undefined)
    if (list.length === 0) continue
    if (key === 'prisma') {
      const first = list[0] as PrismaResult
      const all = list as PrismaResult[]
      const pick = (group: string, variant: string): MicroVariant[] => all.map((p) => p.variants.find((v) => v.group === group && v.variant === variant)!)
      const micro = (xs: MicroStats[]): MicroStats => ({
        calls: median(xs.map((x) => x.calls)),
        opsPerSec: median(xs.map((x) => x.opsPerSec)),
        latencyMs: medianLatency(xs.map((x) => x.latencyMs))
      })
      out.prisma = {
        ...first,
        consistent: all.every((p) => p.consistent),
        variants: first.variants.map((v) => {
          const vs = pick(v.group, v.variant)
          return {
            group: v.group,
            variant: v.variant,
            sequential: micro(vs.map((x) => x.sequential)),
            concurrent: micro(vs.map((x) => x.concurrent)),
            ratio: { sequential: median(vs.map((x) => x.ratio?.sequential ?? NaN)), concurrent: median(vs.map((x) => x.ratio?.concurrent ?? NaN)) }
          }
        })
      }
      continue
    }
    const rs = list as ScenarioResult[]
    const ratios = rs.map((r) => r.ratio).filter((r): r is number => r !== undefined)
    out[key] = {
      ...rs[0]!,
      requests: rs.reduce((a, r) => a + r.requests, 0),
      durationS: rs.reduce((a, r) => a + r.durationS, 0),
      reqPerSec: median(rs.map((r) => r.reqPerSec)),
      latencyMs: medianLatency(rs.map((r) => r.latencyMs)),
      errors: rs.reduce((a, r) => a + r.errors, 0),
      timeouts: rs.reduce((a, r) => a + r.timeouts, 0),
      non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
      statusCodes: sumCounters(rs.map((r) => r.statusCodes)) ?? {},
      xCache: sumCounters(rs.map((r) => r.xCache)),
      ratio: ratios.length === 0 ? undefined : median(ratios),
      // The first run's notes, plus any other run's warnings.
      notes: [...new Set([...rs[0]!.notes, ...rs.slice(1).flatMap((r) => r.notes.filter((n) => /^(WARNING|first error)/.test(n)))])]
    }
  }
  return out
}

function medianLatency (list: LatencyStats[]): LatencyStats {
  return {
    count: list.reduce((a, l) => a + l.count, 0),
    mean: median(list.map((l) => l.mean)),
    p50: median(list.map((l) => l.p50)),
    p90: median(list.map((l) => l.p90)),
    p99: median(list.map((l) => l.p99)),
    max: Math.max(...list.map((l) => l.max))
  }
}

function evaluateTargets (m: RunResults): Target[] {
  const http = (k: ScenarioKey): ScenarioResult | undefined => { const r = m[k]; return isHttp(r) ? r : undefined }
  const ratioTarget = (k: ScenarioKey, min: number, ceiling: string): Target => {
    const r = http(k)
    return { id: `${k}-ratio`, text: `(${k}) ≥ ${min * 100} % of the ${ceiling} ceiling`, value: r?.ratio, pass: r?.ratio === undefined ? null : r.ratio >= min }
  }
  const b = http('b')
  const measured = SCENARIOS.map(http).filter((r): r is ScenarioResult => r !== undefined)
  const failures = measured.reduce((a, r) => a + r.errors + r.non2xx, 0)
  const bHits = b?.xCache?.HIT ?? 0
  return [
    ratioTarget('b', 0.5, 'DB'),
    { id: 'b-p50', text: '(b) p50 < 10 ms', value: b?.latencyMs.p50, pass: b === undefined ? null : b.latencyMs.p50 < 10 },
    ratioTarget('a', 0.5, 'HTTP'),
    ratioTarget('c', 0.4, 'HTTP'),
    ratioTarget('d', 0.5, 'HTTP'),
    { id: 'no-errors', text: 'no errors and no non-2xx in any scenario', value: measured.length === 0 ? undefined : failures, pass: measured.length === 0 ? null : failures === 0 },
    { id: 'b-all-miss', text: '(b) every request a cache MISS (harness check)', value: b === undefined ? undefined : bHits, pass: b === undefined ? null : bHits === 0 }
  ]
}

const fmt = (n: number | undefined, digits = 2): string => n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits)
const fmtInt = (n: number | undefined): string => n === undefined || !Number.isFinite(n) ? '-' : Math.round(n).toLocaleString('en-US')

function table (rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  const line = (r: string[]): string => r.map((c, i) => (i === 0 || i === r.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd()
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n')
}

function report (m: RunResults, targets: Target[], runs: number): string {
  const rows: string[][] = [['scenario', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'ceiling', 'ratio', 'X-Cache']]
  for (const key of SCENARIOS) {
    const r = m[key]
    if (!isHttp(r)) continue
    const cache = r.xCache === undefined ? '' : (r.key === 'e' ? 'status ' : '') + Object.entries(r.xCache).map(([k, v]) => `${k} ${v}`).join(', ')
    rows.push([`${key}  ${r.title}`, fmtInt(r.reqPerSec), fmt(r.latencyMs.p50), fmt(r.latencyMs.p99), String(r.errors), String(r.non2xx),
      r.ceiling ?? '', r.ratio === undefined ? '' : `${(r.ratio * 100).toFixed(0)} %`, cache])
  }
  const out = [`\nresults${runs > 1 ? ` (medians of ${runs} runs; errors and X-Cache summed)` : ''}:`, table(rows)]
  const p = m.prisma as PrismaResult | undefined
  if (p !== undefined) {
    const prow: string[][] = [['prisma micro-scenario', 'seq ops/s', 'seq p50', 'seq p99', `conc(${p.concurrency}) ops/s`, 'conc p50', 'conc p99', 'vs pg seq', 'vs pg conc']]
    for (const v of p.variants) {
      prow.push([`${v.group}: ${v.variant}`, fmtInt(v.sequential.opsPerSec), fmt(v.sequential.latencyMs.p50, 3), fmt(v.sequential.latencyMs.p99, 3),
        fmtInt(v.concurrent.opsPerSec), fmt(v.concurrent.latencyMs.p50, 3), fmt(v.concurrent.latencyMs.p99, 3),
        `${fmt((v.ratio?.sequential ?? NaN) * 100, 0)} %`, `${fmt((v.ratio?.concurrent ?? NaN) * 100, 0)} %`])
    }
    out.push('', table(prow), `(latencies in ms; ratios: throughput relative to ${p.reference}; results ${p.consistent ? 'identical' : 'DIFFER'} across variants)`)
  }
  out.push('', 'targets:')
  for (const t of targets) {
    const value = t.value === undefined ? '' : t.id.endsWith('ratio') ? ` (${(t.value * 100).toFixed(0)} %)` : t.id === 'b-p50' ? ` (${fmt(t.value)} ms)` : ` (${t.value})`
    out.push(`  ${t.pass === null ? 'n/a ' : t.pass ? 'PASS' : 'FAIL'}  ${t.text}${value}`)
  }
  const notes = SCENARIOS.map((k) => m[k]).filter(isHttp).filter((r) => r.notes.length > 0).map((r) => `  ${r.key}: ${r.notes.join('; ')}`)
  if (notes.length > 0) out.push('', 'notes:', ...notes)
  return out.join('\n')
}

// --------------------------------------------------------------- main

async function cleanup (ctx: Context, prefix: string): Promise<void> {
  if (ctx.wrote) {
    const deleted = await ctx.pool.query('DELETE FROM interactions WHERE user_id = $1 AND subject = $2', [ctx.member.id, WRITE_SUBJECT])
    const snapshot = ctx.writeSnapshot ?? []
    const restored = await ctx.pool.query(`
      UPDATE organizations o SET annual_revenue = v.revenue
      FROM unnest($1::uuid[], $2::bigint[]) AS v(id, revenue)
      WHERE o.id = v.id AND o.annual_revenue IS DISTINCT FROM v.revenue`,
    [snapshot.map((s) => s.id), snapshot.map((s) => s.annual_revenue)])
    console.log(`undid the write mix: ${deleted.rowCount ?? 0} interactions deleted, ${restored.rowCount ?? 0} revenues restored`)
  }
  await removeRedisKeys(ctx.opts.redisUrl, prefix)
}

function machine (): Record<string, unknown> {
  const cpus = os.cpus()
  return {
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model,
    cpuSpeedMHz: cpus[0]?.speed,
    cpuList: cpus.map((c) => ({ model: c.model, speed: c.speed })),
    totalMemBytes: os.totalmem(),
    loadavg: os.loadavg(),
    node: process.version,
    autocannon: (JSON.parse(fs.readFileSync(require.resolve('autocannon/package.json'), 'utf8')) as { version: string }).version
  }
}

async function main (): Promise<number> {
  let opts: BenchOptions
  try {
    opts = parseBenchArgs(process.argv.slice(2))
  } catch (err) {
    return usageExitCode(err, 'bench', USAGE)
  }
  const startedAt = new Date()
  const host = machine()
  console.log(`crm bench: ${opts.organizations} organizations, ${opts.durationS} s per scenario (+${opts.warmupS} s warm-up), ${opts.connections} connections, ${opts.runs} run(s)`)
  console.log(`load generator: autocannon ${String(host.autocannon)} (in process); DB ceiling: raw pg loop in a child process; scenarios: ${opts.only.join(', ')}`)
  console.log(`machine: ${host.cpus as number} × ${String(host.cpuModel)}, node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`)

  const dataset = await prepareDatabase(opts)
  const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: 4 })
  const prefix = `crm:bench:${process.pid}-${Date.now().toString(36)}:`
  let ctx: Context | undefined
  let ceilingFile: string | undefined
  const services: ChildProcess[] = []
  const runs: RunResults[] = []
  let runtime: unknown
  let serverInfo: Record<string, unknown> | undefined
  try {
    const member = await pickMember(pool)
    const { rows: idRows } = await pool.query<{ id: string }>(
      'SELECT id FROM organizations WHERE assigned_user_id = $1 AND is_deleted = FALSE ORDER BY md5(id::text) LIMIT 20000', [member.id])
    if (idRows.length === 0) throw new Error(`member ${member.email} has no organizations`)
    const spec = await loadListSpec(pool, member.id)
    console.log(`member: ${member.email} (${member.id}), ${member.organizations} organizations — median of ${member.members} members; ` +
      `${spec.segments.length} segments and ${spec.terms.length} search terms in the (b) mix`)
    const { rows: [adminRow] } = await pool.query<{ id: string }>("SELECT id FROM users WHERE role = 'admin' AND is_active ORDER BY created_at LIMIT 1")

    const secret = randomBytes(32).toString('hex')
    const sign = createSigner({ key: secret, algorithm: 'HS256', expiresIn: 12 * 3600 * 1000 })
    ctx = {
      opts,
      dataset,
      pool,
      member,
      spec,
      ids: idRows.map((r) => r.id),
      auth: { authorization: `Bearer ${sign({ sub: member.id })}` },
      seenListUrls: new Set(),
      counters: { c: 0, c2: 0, post: 0, patch: 0 },
      wrote: false
    }

    if (opts.only.some((k) => HTTP_SCENARIOS.has(k))) {
      if (opts.server === 'dist' && !opts.skipBuild) await buildService()
      const service = await startService(opts, secret, prefix)
      services.push(service.child)
      ctx.service = service
      console.log(`service: ${opts.server === 'dist' ? 'node dist/server.js' : 'server.ts (ts-node)'} on ${service.base}, Redis key prefix ${prefix}`)
      serverInfo = {
        entry: opts.server === 'dist' ? 'dist/server.js' : 'server.ts (ts-node transpile-only)',
        env: { ...service.env, DATABASE_URL: redact(opts.databaseUrl), JWT_SECRET: '(random per run)' },
        inheritedTuning: Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(DATABASE_|CACHE_|REDIS_COMMAND|AUTH_CACHE|MAX_|PRESSURE_|SLOW_QUERY)/.test(k)))
      }
      if (opts.only.includes('http-ceiling')) {
        const answer = await httpGet(`${service.base}${LIST_CACHED_PATH}`, ctx.auth)
        if (answer.status !== 200) throw new Error(`GET ${LIST_CACHED_PATH} answered ${answer.status}: ${answer.body.toString().slice(0, 500)}`)
        if (answer.headers['content-encoding'] !== undefined) throw new Error(`(a) came back compressed (${answer.headers['content-encoding']}); the ceiling needs the plain body`)
        const ceiling = await startCeilingServer(answer.body)
        services.push(ceiling.child)
        ceilingFile = ceiling.bodyFile
        ctx.ceiling = { base: ceiling.base, bodyBytes: answer.body.length }
        console.log(`HTTP ceiling: bare Fastify on ${ceiling.base}${CEILING_PATH}, ${answer.body.length}-byte body (uncompressed, as (a))`)
      }
    }

    for (let i = 1; i <= opts.runs; i++) {
      const results: RunResults = {}
      for (const key of opts.only) {
        if (ctx.service !== undefined && ctx.service.child.exitCode !== null) {
          throw new Error(`the service exited (${ctx.service.child.exitCode}):\n${ctx.service.output().slice(-4000)}`)
        }
        process.stdout.write(`run ${i}/${opts.runs} ${key.padEnd(12)} ${TITLES[key]}… `)
        const result = await scenario(ctx, key)
        results[key] = result
        if (isHttp(result)) {
          console.log(`${fmtInt(result.reqPerSec)} req/s, p50 ${fmt(result.latencyMs.p50)} ms, p99 ${fmt(result.latencyMs.p99)} ms, ` +
            `${result.errors} errors, ${result.non2xx} non-2xx${result.xCache === undefined ? '' : `, X-Cache ${JSON.stringify(result.xCache)}`}`)
        } else {
          console.log(`${result.variants.length} variants measured`)
        }
        await sleep(300)
      }
      applyRatios(results)
      runs.push(results)
    }

    if (ctx.service !== undefined && adminRow !== undefined) {
      const answer = await httpGet(`${ctx.service.base}/api/v1/admin/runtime`, { authorization: `Bearer ${sign({ sub: adminRow.id })}` }).catch(() => undefined)
      if (answer?.status === 200) runtime = JSON.parse(answer.body.toString()) as unknown
    }
  } finally {
    for (const child of services.reverse()) await stopChild(child)
    if (ceilingFile !== undefined) fs.rmSync(ceilingFile, { force: true })
    if (ctx !== undefined) await cleanup(ctx, prefix).catch((err: unknown) => console.log(`cleanup failed: ${(err as Error).message}`))
    await pool.end()
  }

  const summary = medians(runs)
  const targets = evaluateTargets(summary)
  console.log(report(summary, targets, opts.runs))
  const serviceLog = ctx?.service?.output() ?? ''
  const warnings = serviceLog.split('\n').filter((l) => /"level":(40|50|60)/.test(l))
  if (warnings.length > 0) console.log(`\nthe service logged ${warnings.length} warning/error lines; first: ${warnings[0]!.slice(0, 300)}`)

  const finishedAt = new Date()
  const file = path.join(opts.resultsDir, `bench-${opts.organizations}-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`)
  fs.mkdirSync(opts.resultsDir, { recursive: true })
  fs.writeFileSync(file, JSON.stringify({
    tool: 'crm-bench',
    version: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    loadGenerator: `autocannon ${String(host.autocannon)}`,
    dbCeilingMethod: 'raw pg loop (node-postgres Pool, child process)',
    machine: { ...host, loadavgAtEnd: os.loadavg() },
    options: { ...opts, databaseUrl: redact(opts.databaseUrl) },
    dataset: { ...dataset, url: redact(dataset.url) },
    member: ctx === undefined ? undefined : { ...ctx.member, idsRotated: ctx.ids.length, listMix: { segments: ctx.spec.segments, terms: ctx.spec.terms } },
    server: serverInfo,
    runs,
    median: summary,
    targets,
    serviceRuntime: runtime,
    serviceWarnings: warnings.slice(0, 50)
  }, null, 2))
  console.log(`\nwritten ${path.relative(process.cwd(), file)}`)
  return opts.check && targets.some((t) => t.pass === false) ? 3 : 0
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const child of children) child.kill('SIGTERM')
    process.exit(130)
  })
}

main().then((code) => { process.exitCode = code }, (err: unknown) => {
  process.stderr.write(`bench: failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  for (const child of children) child.kill('SIGTERM')
  process.exitCode = 1
})
