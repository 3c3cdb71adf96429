// The bench's scenarios: what each one requests, against what, and the notes
// its result carries (see main.ts for the list).
import type autocannon from 'autocannon'
import type pg from 'pg'
import { httpGet } from '../lib/http-get'
import type { ListSpec } from '../lib/list-spec'
import type { Dataset, Member } from './dataset'
import { walkList, type WalkScenarioResult } from './cursor-walk'
import { runDbLatency, type DbLatencyResult } from './db-side'
import { cacheCounter, measureHttp, type RuntimeProbe, type ScenarioResult } from './http-load'
import { listGenerator, listPath } from './list-generator'
import { TITLES, type BenchOptions, type ScenarioKey } from './options'
import { prismaScenario, type PrismaResult } from './prisma-micro'
import { runDbCeiling, type Service } from './servers'

export const CEILING_PATH = '/ceiling'
export const LIST_CACHED_PATH = '/api/v1/organizations'
/** The subject of the interactions the write mix creates, by which cleanup finds them. */
export const WRITE_SUBJECT = 'bench write mix'

export interface Context {
  opts: BenchOptions
  dataset: Dataset
  pool: pg.Pool
  member: Member
  spec: ListSpec
  ids: string[]
  service?: Service
  ceiling?: { base: string; bodyBytes: number }
  auth: Record<string, string>
  /** An admin's token, to read the service's cache counters (admin runtime). */
  adminAuth?: Record<string, string>
  seenListUrls: Set<string>
  /** Counters shared by runs so ids rotate on (and c2's URLs stay unique). */
  counters: { c: number; c2: number; post: number; patch: number }
  writeSnapshot?: Array<{ id: string; annual_revenue: string | null }>
  wrote: boolean
}

/**
 * The service's admin runtime: its cache counters as X-Cache outcomes, for
 * load generators that do not read each answer, and its event-loop delay
 * (under-pressure's mean over its last sample interval).
 */
async function runtimeProbe (ctx: Context): Promise<RuntimeProbe | undefined> {
  if (ctx.service === undefined || ctx.adminAuth === undefined) return undefined
  const answer = await httpGet(`${ctx.service.base}/api/v1/admin/runtime`, ctx.adminAuth).catch(() => undefined)
  if (answer?.status !== 200) return undefined
  type Runtime = { cache: { hits: number, misses: number, bypasses: number }, pressure: { eventLoopDelay?: number } }
  const { cache, pressure } = JSON.parse(answer.body.toString()) as Runtime
  return { counts: { HIT: cache.hits, MISS: cache.misses, BYPASS: cache.bypasses }, eventLoopDelayMs: pressure.eventLoopDelay }
}

export async function scenario (ctx: Context, key: ScenarioKey): Promise<ScenarioResult | PrismaResult | DbLatencyResult | WalkScenarioResult> {
  const { opts, ids } = ctx
  const service = ctx.service
  const base = service?.base ?? ''
  // The service's GETs carry the Accept-Encoding a browser sends (--accept-encoding).
  const headers = opts.acceptEncoding === undefined ? ctx.auth : { ...ctx.auth, 'accept-encoding': opts.acceptEncoding }
  const counts = async (): Promise<RuntimeProbe | undefined> => await runtimeProbe(ctx)
  const encoding = opts.acceptEncoding === undefined ? 'no Accept-Encoding (uncompressed)' : `Accept-Encoding: ${opts.acceptEncoding}`
  switch (key) {
    case 'http-ceiling': {
      const ceiling = ctx.ceiling!
      const r = await measureHttp(opts, key, () => ({ spec: { base: ceiling.base, requests: [{ method: 'GET', path: CEILING_PATH }] } }))
      r.notes.push(`body ${ceiling.bodyBytes} bytes, uncompressed, no plugins`)
      return r
    }
    case 'a': {
      // Prime the entry so even the warm-up hits.
      await httpGet(`${base}${LIST_CACHED_PATH}`, headers)
      const r = await measureHttp(opts, key, () => {
        const x = cacheCounter()
        return { spec: { base, headers, requests: [{ method: 'GET', path: LIST_CACHED_PATH, onResponse: x.onResponse }] }, xCache: x.counter }
      }, counts)
      r.notes.push(`GET ${LIST_CACHED_PATH}, ${encoding}`)
      return r
    }
    case 'b': {
      const generator = listGenerator(ctx.spec, 1000 + ctx.seenListUrls.size, ctx.seenListUrls)
      const r = await measureHttp(opts, key, () => {
        const x = cacheCounter()
        const setupRequest = (req: autocannon.Request): autocannon.Request => ({ ...req, path: listPath(generator.next()) })
        return { spec: { base, headers, requests: [{ method: 'GET', setupRequest, onResponse: x.onResponse }] }, xCache: x.counter }
      }, counts)
      const hits = r.xCache?.HIT ?? 0
      if (hits > 0) r.notes.push(`WARNING: ${hits} cache HITs — every request should miss (harness bug)`)
      if (generator.fallbacks > 0) r.notes.push(`${generator.fallbacks} of ${generator.drawn} requests fell back to an empty page past the end to stay unique`)
      r.notes.push('offset/limit/priorityLevel/industrySegment/search drawn per request; every URL unique in this bench')
      return r
    }
    case 'c': {
      const r = await measureHttp(opts, key, () => {
        const x = cacheCounter()
        const setupRequest = (req: autocannon.Request): autocannon.Request => ({ ...req, path: `/api/v1/organizations/${ids[ctx.counters.c++ % ids.length]!}` })
        return { spec: { base, headers, requests: [{ method: 'GET', setupRequest, onResponse: x.onResponse }] }, xCache: x.counter }
      }, counts)
      r.notes.push(`${ids.length} ids rotated: the first request of an id misses, later ones hit (until a write)`)
      return r
    }
    case 'c2': {
      const r = await measureHttp(opts, key, () => {
        const x = cacheCounter()
        const setupRequest = (req: autocannon.Request): autocannon.Request => {
          const n = ctx.counters.c2++
          return { ...req, path: `/api/v1/organizations/${ids[n % ids.length]!}?bust=${n}` }
        }
        return { spec: { base, headers, requests: [{ method: 'GET', setupRequest, onResponse: x.onResponse }] }, xCache: x.counter }
      }, counts)
      r.notes.push('a unique ?bust=n per request (the cache key is the full URL): every request reads the database')
      return r
    }
    case 'd': {
      await httpGet(`${base}/api/v1/dashboard`, headers)
      const r = await measureHttp(opts, key, () => {
        const x = cacheCounter()
        return { spec: { base, headers, requests: [{ method: 'GET', path: '/api/v1/dashboard', onResponse: x.onResponse }] }, xCache: x.counter }
      }, counts)
      r.notes.push(`GET /api/v1/dashboard (cached until the next dashboard refresh), ${encoding}`)
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
      const r = await measureHttp(opts, key, () => {
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
        return { spec: { base, headers: ctx.auth, requests }, xCache: x.counter }
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
          'the service\'s statement for (b), built by its organizationPageQuery',
          ...(res.firstError === undefined ? [] : [`first error: ${res.firstError}`])
        ]
      }
    }
    case 'db-latency': {
      const res = await runDbLatency({ mode: 'latency', databaseUrl: opts.databaseUrl, memberId: ctx.member.id, calls: opts.dbCalls, explainSamples: Math.min(100, opts.dbCalls), seed: 3000 + ctx.seenListUrls.size })
      const notes = ['the (b) parameter mix, every call a new page; one connection, after 20 unmeasured calls']
      if (res.fallbacks > 0) notes.push(`${res.fallbacks} calls fell back to an empty page past the end to stay unique`)
      return { key, title: TITLES[key], connections: res.connections, calls: res.calls, statements: res.statements, notes }
    }
    case 'f': {
      // The median member's whole list, and the admin's (every organization), as far as --walk-pages goes.
      const limit = 200
      const walks = [
        await walkList(base, `/api/v1/organizations?limit=${limit}`, headers, `member (${ctx.member.organizations} organizations)`, { maxPages: opts.walkPages, edge: 10 }),
        await walkList(base, `/api/v1/organizations?limit=${limit}`, ctx.adminAuth ?? headers, 'admin (every organization)', { maxPages: opts.walkPages, edge: 10 })
      ]
      const notes = ['one client, keep-alive, following page.nextCursor; every page a cache miss (a new URL)']
      return { key, title: TITLES[key], limit, walks, notes }
    }
    case 'prisma':
      return await prismaScenario(ctx)
  }
}
