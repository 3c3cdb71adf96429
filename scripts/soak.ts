// npm run soak -- [--minutes M] [--connections N] [--users U] [--warmup-seconds S] ...
//
// The soak test of the service: does it hold steady (memory, errors) under a
// realistic load for a long time? It
//
//   1. creates a scratch database on the machine's PostgreSQL, migrates it with
//      lib/migrator and seeds it (scripts/seed/seed-data.ts; default 8,000
//      organizations: U-1 members plus the admin);
//   2. starts the REAL server as a child process (`npm run build` then
//      `node dist/server.js`, or server.ts through ts-node with --server ts) in
//      production mode, with Redis, a Redis key prefix of its own and a rate
//      limit out of reach;
//   3. drives it over real HTTP (keep-alive node:http, `accept-encoding: br,
//      gzip` as a browser sends) with N closed-loop workers spread over U users
//      (U-1 members and one admin): 80 % reads (organization listings with
//      varied filters, searches and offsets, an organization by id, its
//      contacts / interactions / opportunities, a contact or opportunity by id,
//      the dashboard, /users/me) and 20 % writes (log an interaction, create a
//      contact, PATCH an organization with If-Match, create and PATCH (with
//      If-Match) opportunities, create an organization, delete something the
//      worker created). Every request must answer 2xx: any other status, a
//      network error or a timeout (30 s) is a failure. Writes never race: each
//      organization is written by exactly one worker, and a worker deletes only
//      what it created, so no read ever meets a row someone deleted;
//   4. samples the server's memory (GET /api/v1/admin/runtime as the admin,
//      i.e. process.memoryUsage() of the server) every few seconds, and forces
//      a full GC in the server now and then (see "heap rule" below);
//   5. stops the load, sends SIGTERM and expects exit code 0, drops the
//      database and the run's Redis keys, prints a summary and writes
//      bench/results/soak-<timestamp>.json.
//
// Heap rule. heapUsed of a busy Node process saws up and down by tens of MB
// between collections, so two single readings say nothing. We compare heap
// *floors*: the minimum heapUsed over the window right after the warm-up (the
// first minute after it; shorter for short runs) against the minimum over the
// last window of the run (the last minute). Within each window the server is
// also made to run a full, forced GC once (node --expose-gc plus a preload
// that calls gc() on SIGWINCH, a signal close-with-grace does not handle; the
// service's own code is untouched), so each floor is in practice the live heap
// after a full collection: garbage cannot make a floor higher, only retained
// objects can. The run fails when the final floor exceeds the baseline floor
// by more than --max-heap-growth percent (default 10). A forced GC every
// minute in between gives the live-heap series (and its slope, MB/min) that
// the report shows as evidence. RSS is reported, not judged (the allocator
// keeps pages it has freed).
//
// Exit codes: 0 pass, 1 fail (heap growth, a failed request, the server did
// not exit 0, or the harness itself failed), 2 bad arguments.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import zlib from 'node:zlib'
import type { createSigner } from 'fast-jwt'
import type pg from 'pg'
import type { applyMigrations } from '../lib/migrator'
import { PROJECT_ROOT } from '../lib/paths'
import type { seedDatabase } from './seed/seed-data'
import { seededMembers } from './seed/statements'
import { decimal, integer, oneOf, parseOptions, urlWithScheme, usageExitCode, UsageError } from './lib/args'
import { nodeArgs } from './lib/child-processes'
import { freePort } from './lib/free-port'
import { loadListSpec, PRIORITIES, type ListSpec } from './lib/list-spec'
import { removeRedisKeys } from './lib/redis-keys'
import { serviceEnv } from './lib/service'
import { latencyStats, prng, type LatencyStats } from './lib/stats'

// The heavy modules load on first use, once the arguments are valid: a bad
// command line is answered at once.
/* eslint-disable @typescript-eslint/no-require-imports */
const lazy = {
  get pg (): typeof pg { return require('pg') as typeof pg },
  get createSigner (): typeof createSigner { return (require('fast-jwt') as { createSigner: typeof createSigner }).createSigner },
  get applyMigrations (): typeof applyMigrations { return (require('../lib/migrator') as { applyMigrations: typeof applyMigrations }).applyMigrations },
  get seedDatabase (): typeof seedDatabase { return (require('./seed/seed-data') as { seedDatabase: typeof seedDatabase }).seedDatabase }
}
/* eslint-enable @typescript-eslint/no-require-imports */

const ROOT = PROJECT_ROOT
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const REQUEST_TIMEOUT_MS = 30_000
const STAGES = ['prospecting', 'qualification', 'proposal', 'negotiation', 'closed-won', 'closed-lost'] as const
const INDUSTRIES = ['Technology', 'Healthcare', 'Retail', 'Manufacturing', 'Financial Services', 'Energy']
const MB = 1024 * 1024

export const USAGE = `usage: npm run soak -- [options]
  --minutes M            load duration, warm-up included (default 10; fractions allowed, e.g. 0.5)
  --warmup-seconds S     first part of the run that is not judged (default min(60, 10 % of the run))
  --connections N        concurrent requests in flight (default 16)
  --users U              distinct users sending them: U-1 members and one admin (default 5, at least 2)
  --organizations N      seed size (default max(5000, 2000 × (U-1)); the seed makes max(3, N/2000) members)
  --database-url URL     PostgreSQL server to create (and drop) the scratch database on, as an admin
                         connection (default postgresql://root@127.0.0.1:5432/test)
  --redis-url URL        default redis://127.0.0.1:6379
  --server dist|ts       node dist/server.js after npm run build (default), or server.ts through ts-node
  --skip-build           with --server dist: use the existing dist/ as is
  --max-heap-growth P    fail when the heap floor grows more than P % after the warm-up (default 10)
  --results-dir DIR      where the JSON goes (default bench/results)`

// ------------------------------------------------------------ options

export interface SoakOptions {
  minutes: number
  durationS: number
  warmupS: number
  connections: number
  users: number
  members: number
  organizations: number
  adminUrl: string
  redisUrl: string
  server: 'dist' | 'ts'
  skipBuild: boolean
  maxHeapGrowthPct: number
  resultsDir: string
}

export function parseSoakArgs (argv: string[]): SoakOptions {
  const values = parseOptions(argv, {
    minutes: { type: 'string', default: '10' },
    'warmup-seconds': { type: 'string' },
    connections: { type: 'string', default: '16' },
    users: { type: 'string', default: '5' },
    organizations: { type: 'string' },
    'database-url': { type: 'string', default: 'postgresql://root@127.0.0.1:5432/test' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
    server: { type: 'string', default: 'dist' },
    'skip-build': { type: 'boolean', default: false },
    'max-heap-growth': { type: 'string', default: '10' },
    'results-dir': { type: 'string', default: path.join(ROOT, 'bench', 'results') }
  })
  const minutes = decimal('minutes', values.minutes, { min: 0, max: 24 * 60, minExclusive: true })
  const durationS = minutes * 60
  const warmupS = values['warmup-seconds'] === undefined
    ? Math.min(60, durationS * 0.1)
    : decimal('warmup-seconds', values['warmup-seconds'], { min: 0, max: 3600 })
  // Two windows (after the warm-up, at the end) must fit after it.
  if (durationS - warmupS < 1) throw new UsageError(`--warmup-seconds (${warmupS}) must leave at least 1 s of the ${durationS} s run`)
  const users = integer('users', values.users, { min: 2, max: 100 })
  const members = users - 1
  const organizations = values.organizations === undefined ? Math.max(5000, 2000 * members) : integer('organizations', values.organizations, { min: 100, max: 10_000_000 })
  if (seededMembers(organizations) < members) {
    throw new UsageError(`--organizations ${organizations} seeds ${seededMembers(organizations)} members; --users ${users} needs ${members} (use at least ${2000 * members - 1000})`)
  }
  return {
    minutes,
    durationS,
    warmupS,
    connections: integer('connections', values.connections, { min: 1, max: 1000 }),
    users,
    members,
    organizations,
    adminUrl: urlWithScheme('database-url', values['database-url'], ['postgres', 'postgresql']),
    redisUrl: urlWithScheme('redis-url', values['redis-url'], ['redis', 'rediss']),
    server: oneOf('server', values.server, ['dist', 'ts']),
    skipBuild: values['skip-build'],
    maxHeapGrowthPct: decimal('max-heap-growth', values['max-heap-growth'], { min: 0, max: 10_000 }),
    resultsDir: path.resolve(values['results-dir'])
  }
}

// ------------------------------------------------------ small helpers

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))
const redact = (url: string): string => url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@')
const mb = (bytes: number | undefined): string => bytes === undefined || !Number.isFinite(bytes) ? '—' : (bytes / MB).toFixed(1)
const ms = (v: number): string => v >= 100 ? v.toFixed(0) : v.toFixed(1)
const pct = (v: number | undefined): string => v === undefined || !Number.isFinite(v) ? '—' : `${v >= 0 ? '+' : ''}${v.toFixed(1)} %`

const children = new Set<ChildProcess>()

function track (child: ChildProcess): ChildProcess {
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

/** Runs a command to completion; rejects with its output when it fails. */
async function run (command: string, args: string[]): Promise<void> {
  const child = track(spawn(command, args, { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] }))
  let output = ''
  child.stdout!.on('data', (c: Buffer) => { output += c.toString() })
  child.stderr!.on('data', (c: Buffer) => { output += c.toString() })
  const [code, signal] = await once(child, 'exit') as [number | null, string | null]
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${code ?? signal}):\n${output.slice(-4000)}`)
}

async function withClient<T> (url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new lazy.pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end().catch(() => undefined)
  }
}

function urlFor (adminUrl: string, database: string): string {
  const url = new URL(adminUrl)
  url.pathname = `/${database}`
  return url.toString()
}

// --------------------------------------------------------------- HTTP

interface Answer { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

function decode (answer: Answer): unknown {
  const encoding = answer.headers['content-encoding']
  const raw = encoding === 'br' ? zlib.brotliDecompressSync(answer.body) : encoding === 'gzip' ? zlib.gunzipSync(answer.body) : answer.body
  return JSON.parse(raw.toString('utf8')) as unknown
}

class HttpClient {
  readonly agent: http.Agent
  constructor (private readonly base: URL, sockets: number) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets })
  }

  async request (method: string, pathname: string, token: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    return await new Promise<Answer>((resolve, reject) => {
      const req = http.request({
        host: this.base.hostname,
        port: this.base.port,
        method,
        path: pathname,
        agent: this.agent,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          'accept-encoding': 'br, gzip',
          ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(payload.length) }),
          ...headers
        }
      }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
        res.on('error', reject)
      })
      req.on('error', reject)
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`timed out after ${REQUEST_TIMEOUT_MS} ms`)))
      req.end(payload)
    })
  }

  close (): void { this.agent.destroy() }
}

/** A plain GET (no auth), for /ready while the server starts. */
async function plainGet (url: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)) })
    req.on('error', reject)
    req.setTimeout(5000, () => req.destroy(new Error('timeout')))
  })
}

// ---------------------------------------------------------- recording

type Kind = 'read' | 'write'

interface FailureRecord { atS: number; op: string; method: string; path: string; status?: number; error?: string; body?: string }

interface Bucket { requests: number; reads: number; writes: number; failures: number; latencies: number[] }

const newBucket = (): Bucket => ({ requests: 0, reads: 0, writes: 0, failures: 0, latencies: [] })

class Recorder {
  readonly minutes: Bucket[] = []
  readonly ops = new Map<string, Bucket>()
  readonly statuses = new Map<number, number>()
  readonly xCache = { HIT: 0, MISS: 0, BYPASS: 0 }
  readonly failures: FailureRecord[] = []
  failureCount = 0
  preconditionRetries = 0
  total = newBucket()
  /** Requests still in flight when the run ends count in its last minute (no stub "minute 11"). */
  constructor (private readonly startMs: number, private readonly lastMinute: number) {}

  elapsedS (now = performance.now()): number { return (now - this.startMs) / 1000 }

  record (op: string, kind: Kind, latencyMs: number, ok: boolean, status: number | undefined, xCache: string | undefined): void {
    const now = performance.now()
    const minute = Math.min(this.lastMinute, Math.max(0, Math.floor((now - this.startMs) / 60_000)))
    while (this.minutes.length <= minute) this.minutes.push(newBucket())
    let opBucket = this.ops.get(op)
    if (opBucket === undefined) this.ops.set(op, opBucket = newBucket())
    for (const b of [this.minutes[minute]!, opBucket, this.total]) {
      b.requests++
      if (kind === 'read') b.reads++
      else b.writes++
      if (!ok) b.failures++
      b.latencies.push(latencyMs)
    }
    if (status !== undefined) this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1)
    if (xCache === 'HIT' || xCache === 'MISS' || xCache === 'BYPASS') this.xCache[xCache]++
  }

  fail (failure: FailureRecord): void {
    this.failureCount++
    if (this.failures.length < 50) this.failures.push(failure)
  }
}

// ------------------------------------------------------------- users

interface User { id: string; email: string; role: 'admin' | 'member'; token: string }

interface OwnedRef { id: string; orgId: string }
interface OppRef extends OwnedRef { etag: string; stage: string }

interface Worker {
  index: number
  user: User
  random: () => number
  /** Organizations only this worker writes to (and their children). */
  writable: string[]
  /** Organizations it may read (every one its user can see, as seeded). */
  readable: string[]
  contacts: string[]
  opportunities: string[]
  /** What it created (newest last, the last 50 kept), the only rows it may delete. */
  createdOrgs: string[]
  createdContacts: OwnedRef[]
  createdOpps: OppRef[]
  counter: number
}

interface Context {
  http: HttpClient
  recorder: Recorder
  specs: Map<string, ListSpec>
  members: User[]
  orgTotal: number
  stopAt: number
  stopped: boolean
}

const KEEP = 50
const keep = <T>(list: T[], item: T): void => { list.push(item); if (list.length > KEEP) list.shift() }
const pick = <T>(w: Worker, list: readonly T[]): T => list[Math.floor(w.random() * list.length)]!

// --------------------------------------------------------- the mix

type Op = (ctx: Context, w: Worker) => Promise<void>

interface CallOptions { body?: unknown; headers?: Record<string, string>; allow412?: boolean }

/**
 * One request, timed and recorded. Returns the answer when it is 2xx (or a
 * 412 that the caller allowed and will retry), undefined when it failed.
 */
async function call (ctx: Context, w: Worker, op: string, kind: Kind, method: string, pathname: string, options: CallOptions = {}): Promise<Answer | undefined> {
  const started = performance.now()
  try {
    const answer = await ctx.http.request(method, pathname, w.user.token, options.body, options.headers)
    const latency = performance.now() - started
    const ok = answer.status >= 200 && answer.status < 300
    const retried412 = answer.status === 412 && options.allow412 === true
    const xCache = answer.headers['x-cache']
    ctx.recorder.record(op, kind, latency, ok || retried412, answer.status, typeof xCache === 'string' ? xCache : undefined)
    if (ok) return answer
    if (retried412) {
      ctx.recorder.preconditionRetries++
      return answer
    }
    ctx.recorder.fail({ atS: ctx.recorder.elapsedS(), op, method, path: pathname.replace(/[0-9a-f-]{36}/g, ':id'), status: answer.status, body: answer.body.length > 0 ? safeText(answer).slice(0, 300) : undefined })
    return undefined
  } catch (err) {
    ctx.recorder.record(op, kind, performance.now() - started, false, undefined, undefined)
    ctx.recorder.fail({ atS: ctx.recorder.elapsedS(), op, method, path: pathname.replace(/[0-9a-f-]{36}/g, ':id'), error: (err as Error).message })
    return undefined
  }
}

function safeText (answer: Answer): string {
  try {
    return JSON.stringify(decode(answer))
  } catch {
    return answer.body.toString('utf8')
  }
}

function idOf (answer: Answer): string {
  return (decode(answer) as { id: string }).id
}

function etagOf (answer: Answer): string {
  const etag = answer.headers.etag
  if (typeof etag !== 'string') throw new Error('answer without an ETag')
  return etag
}

const LIMITS = [10, 20, 25, 50, 50, 50, 100]

/** A listing query: filters, a search term and an offset within the matching rows (repeats allowed: real users re-open pages). */
function listQuery (w: Worker, spec: ListSpec | undefined, total: number): string {
  const parts: string[] = []
  let matching = total
  if (spec !== undefined) {
    const priority = w.random() < 0.5 ? pick(w, PRIORITIES) : undefined
    const segment = spec.segments.length > 0 && w.random() < 0.35 ? pick(w, spec.segments) : undefined
    const search = spec.terms.length > 0 && w.random() < 0.35 ? pick(w, spec.terms) : undefined
    matching = spec.counts.get(`${priority ?? ''}|${segment ?? ''}|${search ?? ''}`) ?? 0
    if (priority !== undefined) parts.push(`priorityLevel=${priority}`)
    if (segment !== undefined) parts.push(`industrySegment=${encodeURIComponent(segment)}`)
    if (search !== undefined) parts.push(`search=${encodeURIComponent(search)}`)
  } else if (w.random() < 0.3) {
    parts.push(`priorityLevel=${pick(w, PRIORITIES)}`)
    matching = Math.ceil(total / 4)
  }
  const limit = pick(w, LIMITS)
  // Mostly the first pages, as people browse; sometimes anywhere in the result.
  const offset = w.random() < 0.6 ? Math.floor(w.random() * 3) * limit : Math.floor(w.random() * Math.max(1, matching))
  parts.push(`limit=${limit}`, `offset=${offset}`)
  return parts.join('&')
}

const readOrg = (w: Worker): string =>
  w.createdOrgs.length > 0 && w.random() < 0.1 ? pick(w, w.createdOrgs) : pick(w, w.readable)

const ops: Record<string, { kind: Kind; weight: number; run: Op }> = {
  // ---- reads: 80
  'list-organizations': {
    kind: 'read',
    weight: 28,
    run: async (ctx, w) => {
      let query: string
      if (w.user.role === 'member') {
        query = listQuery(w, ctx.specs.get(w.user.id), 0)
      } else if (w.random() < 0.5) {
        const member = pick(w, ctx.members)
        query = `assignedUserId=${member.id}&${listQuery(w, ctx.specs.get(member.id), 0)}`
      } else {
        query = listQuery(w, undefined, ctx.orgTotal)
      }
      await call(ctx, w, 'list-organizations', 'read', 'GET', `/api/v1/organizations?${query}`)
    }
  },
  'get-organization': {
    kind: 'read',
    weight: 18,
    run: async (ctx, w) => { await call(ctx, w, 'get-organization', 'read', 'GET', `/api/v1/organizations/${readOrg(w)}`) }
  },
  'list-contacts': {
    kind: 'read',
    weight: 8,
    run: async (ctx, w) => { await call(ctx, w, 'list-contacts', 'read', 'GET', `/api/v1/organizations/${readOrg(w)}/contacts?limit=${pick(w, [10, 20, 50])}`) }
  },
  'list-interactions': {
    kind: 'read',
    weight: 8,
    run: async (ctx, w) => {
      const since = w.random() < 0.3 ? `&since=${encodeURIComponent(new Date(Date.now() - pick(w, [7, 30, 90]) * 86_400_000).toISOString().slice(0, 10) + 'T00:00:00.000Z')}` : ''
      const offset = w.random() < 0.2 ? '&offset=10' : ''
      await call(ctx, w, 'list-interactions', 'read', 'GET', `/api/v1/organizations/${readOrg(w)}/interactions?limit=${pick(w, [10, 20])}${offset}${since}`)
    }
  },
  'list-opportunities': {
    kind: 'read',
    weight: 6,
    run: async (ctx, w) => {
      const stage = w.random() < 0.3 ? `?stage=${pick(w, STAGES)}` : ''
      await call(ctx, w, 'list-opportunities', 'read', 'GET', `/api/v1/organizations/${readOrg(w)}/opportunities${stage}`)
    }
  },
  dashboard: {
    kind: 'read',
    weight: 5,
    run: async (ctx, w) => { await call(ctx, w, 'dashboard', 'read', 'GET', '/api/v1/dashboard') }
  },
  'get-contact': {
    kind: 'read',
    weight: 3,
    run: async (ctx, w) => {
      const id = w.createdContacts.length > 0 && w.random() < 0.2 ? pick(w, w.createdContacts).id : w.contacts.length > 0 ? pick(w, w.contacts) : undefined
      if (id === undefined) return await ops['get-organization']!.run(ctx, w)
      await call(ctx, w, 'get-contact', 'read', 'GET', `/api/v1/contacts/${id}`)
    }
  },
  'get-opportunity': {
    kind: 'read',
    weight: 2,
    run: async (ctx, w) => {
      const id = w.createdOpps.length > 0 && w.random() < 0.2 ? pick(w, w.createdOpps).id : w.opportunities.length > 0 ? pick(w, w.opportunities) : undefined
      if (id === undefined) return await ops['get-organization']!.run(ctx, w)
      await call(ctx, w, 'get-opportunity', 'read', 'GET', `/api/v1/opportunities/${id}`)
    }
  },
  me: {
    kind: 'read',
    weight: 2,
    run: async (ctx, w) => { await call(ctx, w, 'me', 'read', 'GET', '/api/v1/users/me') }
  },
  // ---- writes: 20
  'create-interaction': {
    kind: 'write',
    weight: 7,
    run: async (ctx, w) => {
      const withContact = w.createdContacts.length > 0 && w.random() < 0.3 ? pick(w, w.createdContacts) : undefined
      const orgId = withContact?.orgId ?? writableOrg(w)
      if (orgId === undefined) return await ops['create-organization']!.run(ctx, w)
      const type = pick(w, ['call', 'email', 'meeting', 'note'] as const)
      await call(ctx, w, 'create-interaction', 'write', 'POST', `/api/v1/organizations/${orgId}/interactions`, {
        body: {
          type,
          subject: `Soak ${type} ${w.index}-${w.counter++}`,
          ...(w.random() < 0.6 ? { notes: `Notes of a ${type}: `.padEnd(40 + Math.floor(w.random() * 400), 'lorem ipsum ') } : {}),
          ...(withContact === undefined ? {} : { contactId: withContact.id })
        }
      })
    }
  },
  'create-contact': {
    kind: 'write',
    weight: 3,
    run: async (ctx, w) => {
      const orgId = writableOrg(w)
      if (orgId === undefined) return await ops['create-organization']!.run(ctx, w)
      const n = w.counter++
      const answer = await call(ctx, w, 'create-contact', 'write', 'POST', `/api/v1/organizations/${orgId}/contacts`, {
        body: {
          firstName: pick(w, ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Ken']),
          lastName: `Soak${w.index}x${n}`,
          ...(w.random() < 0.7 ? { email: `soak.${w.index}.${n}@example.test` } : {}),
          ...(w.random() < 0.5 ? { title: pick(w, ['CTO', 'Buyer', 'Office Manager']) } : {}),
          isPrimary: w.random() < 0.1
        }
      })
      if (answer !== undefined) keep(w.createdContacts, { id: idOf(answer), orgId })
    }
  },
  'update-organization': {
    kind: 'write',
    weight: 3,
    run: async (ctx, w) => {
      const orgId = writableOrg(w)
      if (orgId === undefined) return await ops['create-organization']!.run(ctx, w)
      // Read the current tag, then PATCH with If-Match. No other worker writes
      // this organization, so the tag only goes stale if the representation
      // changes by itself (an interaction leaving the 90-day count between the
      // GET and the PATCH): a 412 then gets one retry with a fresh tag.
      for (let attempt = 0; attempt < 2; attempt++) {
        const current = await call(ctx, w, 'update-organization:get', 'read', 'GET', `/api/v1/organizations/${orgId}`)
        if (current === undefined) return
        const body = w.random() < 0.5
          ? { annualRevenue: Math.floor(w.random() * 500) * 100_000 }
          : w.random() < 0.5 ? { primaryPhone: `+1 555 ${String(w.counter++ % 10_000).padStart(4, '0')}` } : { industrySegment: pick(w, INDUSTRIES) }
        const answer = await call(ctx, w, 'update-organization', 'write', 'PATCH', `/api/v1/organizations/${orgId}`, {
          body, headers: { 'if-match': etagOf(current) }, allow412: attempt === 0
        })
        if (answer === undefined || answer.status !== 412) return
      }
    }
  },
  'create-opportunity': {
    kind: 'write',
    weight: 3,
    run: async (ctx, w) => {
      const orgId = writableOrg(w)
      if (orgId === undefined) return await ops['create-organization']!.run(ctx, w)
      const answer = await call(ctx, w, 'create-opportunity', 'write', 'POST', `/api/v1/organizations/${orgId}/opportunities`, {
        body: {
          name: `Soak deal ${w.index}-${w.counter++}`,
          value: `${1000 + Math.floor(w.random() * 250_000)}.${String(Math.floor(w.random() * 100)).padStart(2, '0')}`,
          ...(w.random() < 0.7 ? { closeDate: new Date(Date.now() + Math.floor(w.random() * 180) * 86_400_000).toISOString().slice(0, 10) } : {})
        }
      })
      if (answer !== undefined) keep(w.createdOpps, { id: idOf(answer), orgId, etag: etagOf(answer), stage: 'prospecting' })
    }
  },
  'update-opportunity': {
    kind: 'write',
    weight: 2,
    run: async (ctx, w) => {
      if (w.createdOpps.length === 0) return await ops['create-opportunity']!.run(ctx, w)
      const opp = pick(w, w.createdOpps)
      // Only this worker writes its opportunities, so the tag it holds is current.
      const next = STAGES[(STAGES.indexOf(opp.stage as typeof STAGES[number]) + 1) % STAGES.length]!
      const answer = await call(ctx, w, 'update-opportunity', 'write', 'PATCH', `/api/v1/opportunities/${opp.id}`, {
        body: { stage: next, ...(w.random() < 0.5 ? { value: `${Math.floor(w.random() * 300_000)}.00` } : {}) },
        headers: { 'if-match': opp.etag }
      })
      if (answer !== undefined) { opp.etag = etagOf(answer); opp.stage = next }
    }
  },
  'create-organization': {
    kind: 'write',
    weight: 1,
    run: async (ctx, w) => {
      const answer = await call(ctx, w, 'create-organization', 'write', 'POST', '/api/v1/organizations', {
        body: {
          name: `Soak ${pick(w, ['Northwind', 'Contoso', 'Initech', 'Globex'])} ${w.index}-${w.counter++} ${pick(w, ['Ltd', 'Inc', 'GmbH'])}`,
          priorityLevel: pick(w, PRIORITIES),
          industrySegment: pick(w, INDUSTRIES),
          ...(w.random() < 0.5 ? { annualRevenue: Math.floor(w.random() * 1000) * 10_000 } : {})
        }
      })
      if (answer !== undefined) keep(w.createdOrgs, idOf(answer))
    }
  },
  delete: {
    kind: 'write',
    weight: 1,
    run: async (ctx, w) => {
      // Only what this worker created: no other worker holds these ids.
      if (w.createdContacts.length > 0 && (w.createdOrgs.length === 0 || w.random() < 0.6)) {
        const contact = w.createdContacts.splice(Math.floor(w.random() * w.createdContacts.length), 1)[0]!
        await call(ctx, w, 'delete-contact', 'write', 'DELETE', `/api/v1/contacts/${contact.id}`)
      } else if (w.createdOrgs.length > 0) {
        const orgId = w.createdOrgs.splice(Math.floor(w.random() * w.createdOrgs.length), 1)[0]!
        // Forget what hangs off it first: it all disappears with the organization.
        w.createdContacts = w.createdContacts.filter((c) => c.orgId !== orgId)
        w.createdOpps = w.createdOpps.filter((o) => o.orgId !== orgId)
        await call(ctx, w, 'delete-organization', 'write', 'DELETE', `/api/v1/organizations/${orgId}`)
      } else {
        await ops['create-organization']!.run(ctx, w)
      }
    }
  }
}

/** An organization this worker alone writes: its share of the seeded ones, sometimes one it created. */
function writableOrg (w: Worker): string | undefined {
  if (w.createdOrgs.length > 0 && (w.writable.length === 0 || w.random() < 0.15)) return pick(w, w.createdOrgs)
  return w.writable.length > 0 ? pick(w, w.writable) : undefined
}

const OP_TABLE = Object.entries(ops).map(([name, op]) => ({ name, ...op }))
const OP_WEIGHT = OP_TABLE.reduce((sum, op) => sum + op.weight, 0)

function chooseOp (w: Worker): Op {
  let r = w.random() * OP_WEIGHT
  for (const op of OP_TABLE) {
    r -= op.weight
    if (r < 0) return op.run
  }
  return OP_TABLE[0]!.run
}

async function drive (ctx: Context, w: Worker): Promise<void> {
  while (!ctx.stopped && performance.now() < ctx.stopAt) {
    try {
      await chooseOp(w)(ctx, w)
    } catch (err) {
      // A 2xx the harness could not understand (no ETag, bad JSON): a failure too.
      ctx.recorder.fail({ atS: ctx.recorder.elapsedS(), op: 'harness', method: '-', path: '-', error: (err as Error).message })
    }
  }
}

// ------------------------------------------------------ the database

interface Dataset { name: string; url: string; organizations: number; users: number; members: User[]; admin: User; seedSeconds: number }

async function prepareDatabase (opts: SoakOptions, name: string, sign: (sub: string) => string): Promise<Dataset> {
  await withClient(opts.adminUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS "${name}"`)
    await client.query(`CREATE DATABASE "${name}"`)
  })
  const url = urlFor(opts.adminUrl, name)
  const migrated = await lazy.applyMigrations({ connectionString: url })
  console.log(`database ${name}: ${migrated.applied.length} migrations applied`)
  const started = performance.now()
  const today = new Date(`${new Date().toISOString().slice(0, 10)}T00:00:00Z`)
  const rows = await withClient(url, async (client) => {
    // The seed's progress lines (one per step) would drown the report: not shown.
    const result = await lazy.seedDatabase(client, { organizations: opts.organizations, seed: 1, now: today, reset: false, log: () => undefined })
    return result.rows
  })
  const seedSeconds = (performance.now() - started) / 1000
  console.log(`seeded ${Object.entries(rows).map(([t, n]) => `${n} ${t}`).join(', ')} in ${seedSeconds.toFixed(1)} s`)
  return await withClient(url, async (client) => {
    // The members with the most organizations (a realistic spread: the seed skews ownership).
    const { rows: memberRows } = await client.query<{ id: string; email: string }>(`
      SELECT u.id, u.email FROM users u JOIN organizations o ON o.assigned_user_id = u.id AND NOT o.is_deleted
      WHERE u.role = 'member' AND u.is_active GROUP BY u.id, u.email ORDER BY count(*) DESC, u.id LIMIT $1`, [opts.members])
    const { rows: [adminRow] } = await client.query<{ id: string; email: string }>("SELECT id, email FROM users WHERE role = 'admin' AND is_active ORDER BY created_at LIMIT 1")
    if (adminRow === undefined || memberRows.length < opts.members) throw new Error(`the seed made ${memberRows.length} members with organizations and ${adminRow === undefined ? 'no' : 'an'} admin; ${opts.members} members are needed`)
    const members = memberRows.map((r): User => ({ id: r.id, email: r.email, role: 'member', token: sign(r.id) }))
    return { name, url, organizations: rows.organizations ?? opts.organizations, users: rows.users ?? 0, members, admin: { id: adminRow.id, email: adminRow.email, role: 'admin', token: sign(adminRow.id) }, seedSeconds }
  })
}

interface MemberData { orgs: string[]; contacts: string[]; opportunities: string[]; spec: ListSpec }

async function loadMemberData (pool: pg.Pool, member: User): Promise<MemberData> {
  const { rows: orgs } = await pool.query<{ id: string }>('SELECT id FROM organizations WHERE assigned_user_id = $1 AND NOT is_deleted ORDER BY id', [member.id])
  const { rows: contacts } = await pool.query<{ id: string }>(`
    SELECT c.id FROM contacts c JOIN organizations o ON o.id = c.organization_id
    WHERE o.assigned_user_id = $1 AND NOT o.is_deleted AND NOT c.is_deleted ORDER BY md5(c.id::text) LIMIT 2000`, [member.id])
  const { rows: opportunities } = await pool.query<{ id: string }>(`
    SELECT p.id FROM opportunities p JOIN organizations o ON o.id = p.organization_id
    WHERE o.assigned_user_id = $1 AND NOT o.is_deleted ORDER BY md5(p.id::text) LIMIT 2000`, [member.id])
  return { orgs: orgs.map((r) => r.id), contacts: contacts.map((r) => r.id), opportunities: opportunities.map((r) => r.id), spec: await loadListSpec(pool, member.id) }
}

/**
 * Workers round-robin over the users (admin first). Each seeded organization
 * is written by exactly one worker that can see it: one of its owner's
 * workers or an admin worker, in turn.
 */
function makeWorkers (opts: SoakOptions, admin: User, members: User[], data: Map<string, MemberData>): Worker[] {
  const users = [admin, ...members]
  const workers: Worker[] = []
  for (let i = 0; i < opts.connections; i++) {
    const user = users[i % users.length]!
    const own = user.role === 'member' ? data.get(user.id)! : undefined
    const all = [...data.values()]
    workers.push({
      index: i,
      user,
      random: prng(1000 + i),
      writable: [],
      readable: own?.orgs ?? all.flatMap((d) => d.orgs),
      contacts: own?.contacts ?? all.flatMap((d) => d.contacts),
      opportunities: own?.opportunities ?? all.flatMap((d) => d.opportunities),
      createdOrgs: [],
      createdContacts: [],
      createdOpps: [],
      counter: 0
    })
  }
  const adminWorkers = workers.filter((w) => w.user.role === 'admin')
  for (const member of members) {
    const candidates = [...workers.filter((w) => w.user.id === member.id), ...adminWorkers]
    if (candidates.length === 0) continue
    data.get(member.id)!.orgs.forEach((orgId, i) => candidates[i % candidates.length]!.writable.push(orgId))
  }
  return workers
}

// -------------------------------------------------------- the server

const GC_PRELOAD = `'use strict'
// Soak harness: a full GC on SIGWINCH (close-with-grace ignores it), then one line of figures on stderr.
process.on('SIGWINCH', () => {
  if (typeof global.gc !== 'function') return
  const started = process.hrtime.bigint()
  global.gc()
  const gcMs = Number(process.hrtime.bigint() - started) / 1e6
  const m = process.memoryUsage()
  process.stderr.write('SOAK_GC ' + JSON.stringify({ at: Date.now(), gcMs, heapUsed: m.heapUsed, heapTotal: m.heapTotal, rss: m.rss, external: m.external, arrayBuffers: m.arrayBuffers }) + '\\n')
})
`

interface GcReading { at: number; gcMs: number; heapUsed: number; heapTotal: number; rss: number; external: number; arrayBuffers: number }

interface Service {
  child: ChildProcess
  base: URL
  env: Record<string, string>
  output: () => string
  warnings: string[]
  nextGc: () => Promise<GcReading>
}

async function startService (opts: SoakOptions, databaseUrl: string, secret: string, prefix: string, preload: string): Promise<Service> {
  const port = await freePort()
  // The periodic refresh is part of a real instance's life: every minute here, so a soak sees several.
  const env = serviceEnv({ port, databaseUrl, redisUrl: opts.redisUrl, prefix, secret, dashboardRefreshMs: 60_000 })
  const entry = opts.server === 'ts' ? path.join(ROOT, 'server.ts') : path.join(ROOT, 'dist', 'server.js')
  if (!fs.existsSync(entry)) throw new Error(`${entry} does not exist (run npm run build, or drop --skip-build)`)
  const inherited = { ...process.env }
  for (const key of Object.keys(inherited)) if (/^(DATABASE_|REDIS_|CACHE_|JWT_|PORT$|HOST$|METRICS_PORT$|NODE_OPTIONS$)/.test(key)) delete inherited[key]
  const child = track(spawn(process.execPath, ['--expose-gc', '-r', preload, ...nodeArgs(entry)], { cwd: ROOT, env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }))
  let output = ''
  const warnings: string[] = []
  let waiting: Array<(r: GcReading) => void> = []
  const onLine = (line: string): void => {
    if (line.startsWith('SOAK_GC ')) {
      const reading = JSON.parse(line.slice(8)) as GcReading
      const resolvers = waiting
      waiting = []
      for (const resolve of resolvers) resolve(reading)
      return
    }
    if (line.trim() === '') return
    output = (output + line + '\n').slice(-200_000)
    if (/"level":(40|50|60)/.test(line) || !line.startsWith('{')) { if (warnings.length < 200) warnings.push(line.slice(0, 1000)) }
  }
  for (const stream of [child.stdout!, child.stderr!]) {
    let partial = ''
    stream.on('data', (c: Buffer) => {
      const lines = (partial + c.toString()).split('\n')
      partial = lines.pop()!
      lines.forEach(onLine)
    })
  }
  const base = new URL(`http://127.0.0.1:${port}`)
  const deadline = Date.now() + 120_000
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the service exited during start-up (${child.exitCode ?? child.signalCode}):\n${output.slice(-4000)}`)
    const status = await plainGet(`${base.origin}/ready`).catch(() => 0)
    if (status === 200) break
    if (Date.now() > deadline) throw new Error(`the service was not ready after 120 s:\n${output.slice(-4000)}`)
    await sleep(100)
  }
  const nextGc = async (): Promise<GcReading> => await new Promise<GcReading>((resolve, reject) => {
    const timer = setTimeout(() => { waiting = waiting.filter((r) => r !== done); reject(new Error('no answer to the forced GC within 10 s')) }, 10_000)
    const done = (r: GcReading): void => { clearTimeout(timer); resolve(r) }
    waiting.push(done)
    child.kill('SIGWINCH')
  })
  return { child, base, env, output: () => output, warnings, nextGc }
}

/** SIGTERM; SIGKILL if still running after `graceMs`. Resolves with the exit code (null when killed by a signal). */
async function stopChild (child: ChildProcess, graceMs: number): Promise<{ code: number | null; signal: string | null; ms: number }> {
  const started = performance.now()
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode, ms: 0 }
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  try {
    const [code, signal] = await exited
    return { code, signal, ms: performance.now() - started }
  } finally {
    clearTimeout(timer)
  }
}

// ------------------------------------------------------------ memory

interface MemorySample { atS: number; rss: number; heapUsed: number; heapTotal: number; external: number; source: 'runtime' | 'forced-gc' }

interface RuntimeAnswer {
  memory: { current: { rss: number; heapUsed: number; heapTotal: number; external: number }; heapLimit: number; warnings: number }
  db: Record<string, number>
  cache: Record<string, unknown>
  pools: Record<string, unknown>
  pressure: Record<string, unknown>
}

async function readRuntime (client: HttpClient, admin: User): Promise<RuntimeAnswer> {
  const answer = await client.request('GET', '/api/v1/admin/runtime', admin.token)
  if (answer.status !== 200) throw new Error(`GET /api/v1/admin/runtime answered ${answer.status}: ${safeText(answer).slice(0, 300)}`)
  return decode(answer) as RuntimeAnswer
}

interface Window { fromS: number; toS: number }

function floorOf (samples: MemorySample[], window: Window, key: 'heapUsed' | 'rss'): number | undefined {
  const inside = samples.filter((s) => s.atS >= window.fromS && s.atS <= window.toS)
  return inside.length === 0 ? undefined : Math.min(...inside.map((s) => s[key]))
}

/** Least-squares slope, in units per minute, of (seconds, value) points. */
function slopePerMinute (points: Array<[number, number]>): number | undefined {
  if (points.length < 2) return undefined
  const n = points.length
  const mx = points.reduce((s, [x]) => s + x, 0) / n
  const my = points.reduce((s, [, y]) => s + y, 0) / n
  let num = 0
  let den = 0
  for (const [x, y] of points) { num += (x - mx) * (y - my); den += (x - mx) ** 2 }
  return den === 0 ? undefined : (num / den) * 60
}

// --------------------------------------------------------------- main

interface MinuteRow { minute: number; fromS: number; toS: number; requests: number; reqPerSec: number; reads: number; writes: number; failures: number; latencyMs: LatencyStats; heapFloor?: number; rssAtEnd?: number }

function summarize (b: Bucket, seconds: number): { requests: number; reqPerSec: number; reads: number; writes: number; failures: number; latencyMs: LatencyStats } {
  return { requests: b.requests, reqPerSec: seconds > 0 ? b.requests / seconds : 0, reads: b.reads, writes: b.writes, failures: b.failures, latencyMs: latencyStats(b.latencies) }
}

let aborted: string | undefined

async function main (): Promise<number> {
  let opts: SoakOptions
  try {
    opts = parseSoakArgs(process.argv.slice(2))
  } catch (err) {
    return usageExitCode(err, 'soak', USAGE)
  }
  const startedAt = new Date()
  const t0 = performance.now()
  const at = (): string => `[${((performance.now() - t0) / 1000).toFixed(1)} s]`
  const windowS = Math.min(60, (opts.durationS - opts.warmupS) / 2)
  const sampleMs = Math.round(Math.min(2000, Math.max(200, windowS * 100)))
  const baseline: Window = { fromS: opts.warmupS, toS: opts.warmupS + windowS }
  const final: Window = { fromS: opts.durationS - windowS, toS: opts.durationS }
  // A forced GC in the middle of each judged window, and every minute between them.
  const gcAtS: number[] = []
  const firstGc = baseline.fromS + windowS / 2
  const lastGc = final.fromS + windowS / 2
  const step = Math.max(windowS, 60)
  gcAtS.push(firstGc)
  for (let t = firstGc + step; t < lastGc - step / 2; t += step) gcAtS.push(t)
  if (lastGc > firstGc) gcAtS.push(lastGc)

  console.log(`crm soak: ${opts.minutes} min (${opts.durationS.toFixed(0)} s, warm-up ${opts.warmupS.toFixed(0)} s), ${opts.connections} connections, ` +
    `${opts.users} users (${opts.members} members + admin), ${opts.organizations} organizations, server ${opts.server === 'dist' ? 'dist/server.js' : 'server.ts (ts-node)'}`)
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  console.log(`heap rule: floor (min heapUsed, forced GC included) of [${baseline.fromS.toFixed(0)}, ${baseline.toS.toFixed(0)}] s vs [${final.fromS.toFixed(0)}, ${final.toS.toFixed(0)}] s; fail above +${opts.maxHeapGrowthPct} %`)

  const secret = randomBytes(32).toString('hex')
  const signer = lazy.createSigner({ key: secret, algorithm: 'HS256', expiresIn: (opts.durationS + 3600) * 1000 })
  const sign = (sub: string): string => signer({ sub })
  const dbName = `crm_soak_${process.pid}_${Date.now().toString(36)}`
  const prefix = `crm:soak:${process.pid}-${Date.now().toString(36)}:`
  const preload = path.join(os.tmpdir(), `crm-soak-gc-${process.pid}.js`)
  fs.writeFileSync(preload, GC_PRELOAD)

  const problems: string[] = []
  let dataset: Dataset | undefined
  let service: Service | undefined
  let client: HttpClient | undefined
  let recorder: Recorder | undefined
  let pool: pg.Pool | undefined
  const samples: MemorySample[] = []
  const gcReadings: Array<GcReading & { atS: number }> = []
  let startSample: MemorySample | undefined
  let runtimeAtEnd: RuntimeAnswer | undefined
  let shutdown: { code: number | null; signal: string | null; ms: number } | undefined
  let loadSeconds = 0
  let samplerErrors = 0
  let createdDb = false
  let stopLoad = (): void => {}
  try {
    if (opts.server === 'dist' && !opts.skipBuild) {
      console.log('npm run build…')
      await run(NPM, ['run', 'build'])
    }
    createdDb = true
    dataset = await prepareDatabase(opts, dbName, sign)
    pool = new lazy.pg.Pool({ connectionString: dataset.url, max: 4 })
    const data = new Map<string, MemberData>()
    for (const member of dataset.members) data.set(member.id, await loadMemberData(pool, member))
    const { rows: [{ n: orgTotal }] } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM organizations WHERE NOT is_deleted')
    await pool.end()
    pool = undefined
    console.log(`${at()} users: admin ${dataset.admin.email}; members ${dataset.members.map((m) => `${m.email} (${data.get(m.id)!.orgs.length} orgs)`).join(', ')}`)

    service = await startService(opts, dataset.url, secret, prefix, preload)
    console.log(`${at()} service: pid ${service.child.pid} on ${service.base.origin}, Redis key prefix ${prefix}`)
    client = new HttpClient(service.base, opts.connections + 2)
    const admin = dataset.admin
    const first = await readRuntime(client, admin)
    startSample = { atS: 0, ...first.memory.current, source: 'runtime' }
    // The idle server's live heap, for reference (not a judged window).
    const idle = await service.nextGc()
    gcReadings.push({ ...idle, atS: 0 })
    console.log(`start: heapUsed ${mb(startSample.heapUsed)} MB (${mb(idle.heapUsed)} MB after a forced GC), rss ${mb(startSample.rss)} MB (heap limit ${mb(first.memory.heapLimit)} MB)`)

    const workers = makeWorkers(opts, admin, dataset.members, data)
    const loadStart = performance.now()
    recorder = new Recorder(loadStart, Math.max(0, Math.ceil(opts.durationS / 60) - 1))
    const ctx: Context = {
      http: client,
      recorder,
      specs: new Map([...data].map(([id, d]) => [id, d.spec])),
      members: dataset.members,
      orgTotal,
      stopAt: loadStart + opts.durationS * 1000,
      stopped: false
    }
    stopLoad = () => { ctx.stopped = true }
    const svc = service
    const rec = recorder
    const http1 = client
    svc.child.once('exit', (code, signal) => { if (!ctx.stopped) { aborted = `the service exited during the run (${code ?? signal})`; ctx.stopped = true } })

    // Memory sampler and forced GCs, alongside the load.
    const sampler = (async () => {
      let nextGc = 0
      let lastMinuteShown = -1
      while (!ctx.stopped && performance.now() < ctx.stopAt) {
        const atS = rec.elapsedS()
        if (nextGc < gcAtS.length && atS >= gcAtS[nextGc]!) {
          nextGc++
          try {
            const r = await svc.nextGc()
            const s = rec.elapsedS()
            gcReadings.push({ ...r, atS: s })
            samples.push({ atS: s, rss: r.rss, heapUsed: r.heapUsed, heapTotal: r.heapTotal, external: r.external, source: 'forced-gc' })
          } catch (err) {
            samplerErrors++
            problems.push(`forced GC at ${atS.toFixed(0)} s: ${(err as Error).message}`)
          }
        }
        try {
          const r = await readRuntime(http1, admin)
          samples.push({ atS: rec.elapsedS(), ...r.memory.current, source: 'runtime' })
        } catch (err) {
          samplerErrors++
          rec.fail({ atS: rec.elapsedS(), op: 'memory-sample', method: 'GET', path: '/api/v1/admin/runtime', error: (err as Error).message })
        }
        const minute = Math.floor(rec.elapsedS() / 60)
        if (minute > lastMinuteShown && minute >= 1) {
          lastMinuteShown = minute
          const b = rec.minutes[minute - 1]
          const last = samples[samples.length - 1]
          if (b !== undefined) {
            const l = latencyStats(b.latencies)
            console.log(`  minute ${minute}: ${b.requests} requests (${(b.requests / 60).toFixed(0)}/s), p50 ${ms(l.p50)} ms, p99 ${ms(l.p99)} ms, ${b.failures} failures; heapUsed ${mb(last?.heapUsed)} MB, rss ${mb(last?.rss)} MB`)
          }
        }
        const wait = Math.min(sampleMs, ctx.stopAt - performance.now(), nextGc < gcAtS.length ? (gcAtS[nextGc]! - rec.elapsedS()) * 1000 : Infinity)
        if (wait > 0) await sleep(wait)
      }
    })()
    console.log(`${at()} load: ${workers.length} workers (${workers.filter((w) => w.user.role === 'admin').length} as the admin), ${OP_TABLE.length} operations, ` +
      `${OP_TABLE.filter((o) => o.kind === 'read').reduce((s, o) => s + o.weight, 0)} % reads by weight; memory every ${sampleMs} ms, forced GC at ${gcAtS.map((s) => s.toFixed(0)).join(', ')} s`)
    const onSignal = (signal: string): void => { aborted = `interrupted by ${signal}`; ctx.stopped = true }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    await Promise.all([...workers.map(async (w) => await drive(ctx, w)), sampler])
    loadSeconds = (performance.now() - loadStart) / 1000
    ctx.stopped = true
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
    if (aborted === undefined) {
      runtimeAtEnd = await readRuntime(client, admin).catch((err: unknown) => { problems.push(`final runtime read: ${(err as Error).message}`); return undefined })
      if (runtimeAtEnd !== undefined) samples.push({ atS: rec.elapsedS(), ...runtimeAtEnd.memory.current, source: 'runtime' })
    }
  } catch (err) {
    problems.push(`harness: ${(err as Error).stack ?? String(err)}`)
  } finally {
    stopLoad()
    client?.close()
    if (service !== undefined) {
      shutdown = await stopChild(service.child, 20_000)
      if (shutdown.code !== 0) problems.push(`the service exited with ${shutdown.code ?? shutdown.signal} after SIGTERM (expected 0)`)
    }
    fs.rmSync(preload, { force: true })
    await pool?.end().catch(() => undefined)
    if (createdDb) {
      await withClient(opts.adminUrl, async (c) => {
        await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [dbName])
        await c.query(`DROP DATABASE IF EXISTS "${dbName}"`)
      }).then(() => console.log(`dropped database ${dbName}`), (err: unknown) => problems.push(`could not drop database ${dbName}: ${(err as Error).message}`))
    }
    await removeRedisKeys(opts.redisUrl, prefix)
  }
  if (aborted !== undefined) problems.push(aborted)

  // ---- the verdict
  const rec = recorder
  const heapBase = floorOf(samples, baseline, 'heapUsed')
  const heapEnd = floorOf(samples, final, 'heapUsed')
  const rssBase = floorOf(samples, baseline, 'rss')
  const rssEnd = floorOf(samples, final, 'rss')
  const growthPct = heapBase !== undefined && heapEnd !== undefined ? (heapEnd / heapBase - 1) * 100 : undefined
  const rssGrowthPct = rssBase !== undefined && rssEnd !== undefined ? (rssEnd / rssBase - 1) * 100 : undefined
  const loadSamples = samples.filter((s) => s.atS <= opts.durationS)
  const peakHeap = loadSamples.length > 0 ? Math.max(...loadSamples.map((s) => s.heapUsed)) : undefined
  const peakRss = loadSamples.length > 0 ? Math.max(...loadSamples.map((s) => s.rss)) : undefined
  const judgedGc = gcReadings.filter((g) => g.atS >= opts.warmupS)
  const liveHeapSlope = slopePerMinute(judgedGc.map((g) => [g.atS, g.heapUsed]))
  if (rec !== undefined && rec.failureCount > 0) problems.push(`${rec.failureCount} request(s) failed`)
  if (problems.length === 0 && (heapBase === undefined || heapEnd === undefined)) problems.push('no memory sample in a judged window')
  if (growthPct !== undefined && growthPct > opts.maxHeapGrowthPct) problems.push(`heap floor grew ${growthPct.toFixed(1)} % after the warm-up (limit ${opts.maxHeapGrowthPct} %)`)
  const pass = problems.length === 0

  const minutes: MinuteRow[] = (rec?.minutes ?? []).map((b, i, all) => {
    const fromS = i * 60
    const toS = i === all.length - 1 ? Math.max(loadSeconds, fromS + 0.001) : (i + 1) * 60
    const inMinute = samples.filter((s) => s.atS >= fromS && s.atS < toS + 1e-9)
    return {
      minute: i + 1,
      fromS,
      toS,
      ...summarize(b, toS - fromS),
      heapFloor: inMinute.length > 0 ? Math.min(...inMinute.map((s) => s.heapUsed)) : undefined,
      rssAtEnd: inMinute.length > 0 ? inMinute[inMinute.length - 1]!.rss : undefined
    }
  })
  const total = rec === undefined ? undefined : summarize(rec.total, loadSeconds)
  const memory = {
    rule: `min heapUsed (runtime samples every ${sampleMs} ms and a forced full GC) over [${baseline.fromS.toFixed(1)}, ${baseline.toS.toFixed(1)}] s vs [${final.fromS.toFixed(1)}, ${final.toS.toFixed(1)}] s; fail above +${opts.maxHeapGrowthPct} %`,
    windows: { baseline, final },
    heapUsed: { start: startSample?.heapUsed, afterWarmup: heapBase, end: heapEnd, peak: peakHeap, growthPct },
    rss: { start: startSample?.rss, afterWarmup: rssBase, end: rssEnd, peak: peakRss, growthPct: rssGrowthPct },
    liveHeapAfterForcedGc: { readings: gcReadings, slopeBytesPerMinute: liveHeapSlope },
    samples
  }

  // ---- the report
  const out: string[] = ['', `soak ${pass ? 'PASSED' : 'FAILED'} — ${opts.minutes} min, ${opts.connections} connections, ${opts.users} users, ${dataset?.organizations ?? opts.organizations} organizations`]
  if (minutes.length > 0) {
    out.push('', 'minute  requests   req/s   p50 ms   p99 ms  failures  heap floor MB  rss MB')
    for (const m of minutes) {
      out.push(`${String(m.minute).padStart(6)}  ${String(m.requests).padStart(8)}  ${m.reqPerSec.toFixed(1).padStart(6)}  ${ms(m.latencyMs.p50).padStart(7)}  ${ms(m.latencyMs.p99).padStart(7)}  ${String(m.failures).padStart(8)}  ${mb(m.heapFloor).padStart(13)}  ${mb(m.rssAtEnd).padStart(6)}`)
    }
  }
  if (total !== undefined && rec !== undefined) {
    out.push('', `requests: ${total.requests} in ${loadSeconds.toFixed(1)} s = ${total.reqPerSec.toFixed(1)} req/s; reads ${total.reads} (${(total.reads / Math.max(1, total.requests) * 100).toFixed(1)} %), writes ${total.writes}`)
    out.push(`latency: p50 ${ms(total.latencyMs.p50)} ms, p90 ${ms(total.latencyMs.p90)} ms, p99 ${ms(total.latencyMs.p99)} ms, max ${ms(total.latencyMs.max)} ms`)
    out.push(`failures: ${rec.failureCount}; 412 retried: ${rec.preconditionRetries}; statuses ${JSON.stringify(Object.fromEntries([...rec.statuses].sort((a, b) => a[0] - b[0])))}; X-Cache ${JSON.stringify(rec.xCache)}`)
    for (const f of rec.failures.slice(0, 5)) out.push(`  at ${f.atS.toFixed(1)} s ${f.op}: ${f.method} ${f.path} → ${f.status ?? f.error ?? '?'} ${f.body ?? ''}`)
  }
  out.push('', 'memory (MB)      start   after warm-up   end     peak    growth')
  out.push(`  heapUsed     ${mb(startSample?.heapUsed).padStart(7)}   ${mb(heapBase).padStart(13)}   ${mb(heapEnd).padStart(5)}   ${mb(peakHeap).padStart(6)}   ${pct(growthPct)}`)
  out.push(`  rss          ${mb(startSample?.rss).padStart(7)}   ${mb(rssBase).padStart(13)}   ${mb(rssEnd).padStart(5)}   ${mb(peakRss).padStart(6)}   ${pct(rssGrowthPct)} (not judged)`)
  if (gcReadings.length > 0) {
    out.push(`  live heap after forced GC: ${gcReadings.map((g) => `${g.atS.toFixed(0)} s ${mb(g.heapUsed)}`).join(', ')}` +
      (liveHeapSlope === undefined || judgedGc.length < 3 ? '' : `; slope after the warm-up ${(liveHeapSlope / MB).toFixed(2)} MB/min`))
  }
  out.push(`  ${memory.rule}`)
  if (shutdown !== undefined) out.push(`shutdown: SIGTERM → exit ${shutdown.code ?? shutdown.signal} in ${shutdown.ms.toFixed(0)} ms`)
  if (service !== undefined && service.warnings.length > 0) out.push(`the service logged ${service.warnings.length} warning/error lines; first: ${service.warnings[0]!.slice(0, 300)}`)
  out.push(pass ? 'verdict: PASS' : `verdict: FAIL — ${problems.map((p) => p.split('\n')[0]).join('; ')}`)
  console.log(out.join('\n'))
  for (const p of problems.filter((p) => p.startsWith('harness:'))) console.error(p)

  const file = path.join(opts.resultsDir, `soak-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`)
  fs.mkdirSync(opts.resultsDir, { recursive: true })
  fs.writeFileSync(file, JSON.stringify({
    tool: 'crm-soak',
    version: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    pass,
    problems,
    options: { ...opts, adminUrl: redact(opts.adminUrl) },
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, totalMemBytes: os.totalmem(), node: process.version, loadavgAtEnd: os.loadavg() },
    dataset: dataset === undefined ? undefined : { database: dataset.name, organizations: dataset.organizations, users: dataset.users, members: dataset.members.map((m) => m.email), admin: dataset.admin.email, seedSeconds: dataset.seedSeconds },
    server: service === undefined ? undefined : { entry: opts.server === 'dist' ? 'dist/server.js' : 'server.ts (ts-node transpile-only)', nodeFlags: ['--expose-gc', '-r <gc preload: gc() on SIGWINCH>'], env: { ...service.env, DATABASE_URL: redact(service.env.DATABASE_URL ?? ''), JWT_SECRET: '(random per run)' }, shutdown, warnings: service.warnings.slice(0, 50) },
    mix: OP_TABLE.map((o) => ({ op: o.name, kind: o.kind, weight: o.weight })),
    load: total === undefined || rec === undefined
      ? undefined
      : {
          durationS: loadSeconds,
          warmupS: opts.warmupS,
          ...total,
          failureCount: rec.failureCount,
          failures: rec.failures,
          preconditionRetries: rec.preconditionRetries,
          samplerErrors,
          statuses: Object.fromEntries(rec.statuses),
          xCache: rec.xCache,
          byOperation: Object.fromEntries([...rec.ops].sort().map(([op, b]) => [op, summarize(b, loadSeconds)]))
        },
    minutes,
    memory,
    serviceRuntimeAtEnd: runtimeAtEnd === undefined ? undefined : { db: runtimeAtEnd.db, cache: runtimeAtEnd.cache, pools: runtimeAtEnd.pools, pressure: runtimeAtEnd.pressure, memoryWarnings: runtimeAtEnd.memory.warnings }
  }, null, 2))
  console.log(`written ${path.relative(process.cwd(), file)}`)
  return pass ? 0 : 1
}

/** The run's cache entries and counters (entries would expire; counters would not). SCAN, never KEYS. */

main().then((code) => { process.exitCode = code }, (err: unknown) => {
  process.stderr.write(`soak: failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  for (const child of children) child.kill('SIGTERM')
  process.exitCode = 1
})
