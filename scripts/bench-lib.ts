// Shared by the benchmark harness (scripts/bench.ts) and its helper processes
// (bench-db-ceiling.ts, bench-ceiling-server.ts): the parameter distribution of
// the cache-busting listing scenario, latency statistics, and how to start a
// TypeScript (or compiled) entry point as a child process.
import path from 'node:path'
import type Redis from 'ioredis'
import type pg from 'pg'

// ------------------------------------------------------------ statistics

export interface LatencyStats {
  count: number
  mean: number
  p50: number
  p90: number
  p99: number
  max: number
}

/** Nearest-rank percentiles of durations in ms (sorts a copy). */
export function latencyStats (values: ArrayLike<number>): LatencyStats {
  const sorted = Float64Array.from(values).sort()
  const n = sorted.length
  if (n === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 }
  const at = (q: number): number => sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!
  let sum = 0
  for (const v of sorted) sum += v
  return { count: n, mean: sum / n, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[n - 1]! }
}

/** Median of numbers (the mean of the middle two for an even count); NaN for none. */
export function median (values: number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (finite.length === 0) return NaN
  const mid = finite.length >> 1
  return finite.length % 2 === 1 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2
}

/** A small deterministic PRNG (mulberry32): the same seed gives the same sequence. */
export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// ------------------------------------------- the listing's parameter mix

export const PRIORITIES = ['A', 'B', 'C', 'D'] as const
export type Priority = typeof PRIORITIES[number]

/** What the generator needs to know about one member's organizations. */
export interface ListSpec {
  memberId: string
  /** Live organizations of the member. */
  total: number
  /** Industry segments present among them. */
  segments: string[]
  /** Substrings (3+ characters) of their names. */
  terms: string[]
  /** Matching rows per `priority|segment|term` ('' = no filter), for offsets within the result. */
  counts: Map<string, number>
}

interface SpecRow { name: string; priority_level: Priority; industry_segment: string | null }

const LIMITS = [10, 20, 25, 50, 50, 50, 100]
const MAX_TERMS = 60

/** Reads the member's organizations once and derives segments, search terms and result sizes. */
export async function loadListSpec (db: pg.Pool | pg.Client, memberId: string): Promise<ListSpec> {
  const { rows } = await db.query<SpecRow>(
    'SELECT name, priority_level::text AS priority_level, industry_segment FROM organizations WHERE assigned_user_id = $1 AND is_deleted = FALSE ORDER BY id',
    [memberId])
  const segments = [...new Set(rows.map((r) => r.industry_segment).filter((s): s is string => s !== null))].sort()
  // Terms: whole words of real names and 3-5 character pieces of them (some
  // lower-cased: the search ignores case), drawn reproducibly.
  const words = [...new Set(rows.flatMap((r) => r.name.split(/\s+/)).filter((w) => /^[A-Za-z]{3,}$/.test(w)))].sort()
  const random = prng(7)
  const terms = new Set<string>()
  for (let attempt = 0; terms.size < Math.min(MAX_TERMS, words.length * 3) && attempt < MAX_TERMS * 20; attempt++) {
    const word = words[Math.floor(random() * words.length)]!
    const kind = random()
    if (kind < 0.35) {
      terms.add(word)
    } else {
      const len = 3 + Math.floor(random() * Math.min(3, word.length - 2))
      const start = Math.floor(random() * (word.length - len + 1))
      const piece = word.slice(start, start + len)
      terms.add(kind < 0.7 ? piece.toLowerCase() : piece)
    }
  }
  const termList = [...terms]
  const lowered = termList.map((t) => t.toLowerCase())
  const counts = new Map<string, number>()
  const bump = (key: string): void => { counts.set(key, (counts.get(key) ?? 0) + 1) }
  for (const row of rows) {
    const name = row.name.toLowerCase()
    const matching = [''].concat(termList.filter((_, i) => name.includes(lowered[i]!)))
    for (const p of ['', row.priority_level]) {
      for (const s of row.industry_segment === null ? [''] : ['', row.industry_segment]) {
        for (const t of matching) bump(`${p}|${s}|${t}`)
      }
    }
  }
  return { memberId, total: rows.length, segments, terms: termList, counts }
}

export interface ListParams {
  priorityLevel?: Priority
  industrySegment?: string
  search?: string
  limit: number
  offset: number
}

/** The query string of a listing request (%20 for spaces, as a browser would send). */
export function listPath (p: ListParams): string {
  const parts = [`limit=${p.limit}`, `offset=${p.offset}`]
  if (p.priorityLevel !== undefined) parts.push(`priorityLevel=${p.priorityLevel}`)
  if (p.industrySegment !== undefined) parts.push(`industrySegment=${encodeURIComponent(p.industrySegment)}`)
  if (p.search !== undefined) parts.push(`search=${encodeURIComponent(p.search)}`)
  return `/api/v1/organizations?${parts.join('&')}`
}

/** The SQL parameters the service binds for these query parameters (it asks for limit + 1 rows). */
export function listSqlParams (memberId: string, p: ListParams): [string, string | null, string | null, string | null, number, number] {
  return [memberId, p.industrySegment ?? null, p.priorityLevel ?? null, p.search ?? null, p.limit + 1, p.offset]
}

/** The SQL of the listing, exactly as services/organizations.ts sends it. */
export const LIST_SQL = 'SELECT * FROM get_organizations_optimized($1::uuid, $2::varchar, $3::priority_level, $4::varchar, $5::integer, $6::integer)'

export interface ListGenerator {
  next (): ListParams
  /** Draws that had to fall back to an offset past the end to stay unique. */
  readonly fallbacks: number
  readonly drawn: number
}

/**
 * Every call returns a combination never returned before (by this generator):
 * half the requests filter by priority, a third by segment, a third search;
 * limits mostly 50; the offset lies within the matching rows so most pages
 * are full. `seen` may be shared so several runs never repeat a URL.
 */
export function listGenerator (spec: ListSpec, seed: number, seen = new Set<string>()): ListGenerator {
  const random = prng(seed)
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!
  let fallbacks = 0
  let drawn = 0
  const draw = (): ListParams => {
    const priorityLevel = random() < 0.5 ? pick(PRIORITIES) : undefined
    const industrySegment = spec.segments.length > 0 && random() < 0.35 ? pick(spec.segments) : undefined
    const search = spec.terms.length > 0 && random() < 0.35 ? pick(spec.terms) : undefined
    const matching = spec.counts.get(`${priorityLevel ?? ''}|${industrySegment ?? ''}|${search ?? ''}`) ?? 0
    return { priorityLevel, industrySegment, search, limit: pick(LIMITS), offset: Math.floor(random() * Math.max(1, matching)) }
  }
  return {
    next () {
      drawn++
      for (let attempt = 0; attempt < 50; attempt++) {
        const params = draw()
        const key = listPath(params)
        if (!seen.has(key)) {
          seen.add(key)
          return params
        }
      }
      // A small data set ran out of distinct pages: an (empty) page past the end is still new.
      fallbacks++
      const params = { ...draw(), offset: spec.total + seen.size }
      seen.add(listPath(params))
      return params
    },
    get fallbacks () { return fallbacks },
    get drawn () { return drawn }
  }
}

// ------------------------------------------------------ child processes

/**
 * node arguments that run `entry`: a compiled .js directly, a .ts through
 * ts-node (transpile only). The .ts form goes through -e so the CommonJS
 * loader handles it even when a test runner injects ESM loaders.
 */
export function nodeArgs (entry: string, args: string[] = []): string[] {
  if (!entry.endsWith('.ts')) return [entry, ...args]
  return ['-r', 'ts-node/register/transpile-only', '-e', `require(${JSON.stringify(entry)})`, '--', entry, ...args]
}

/** A sibling script of this file: .ts when running from the sources, .js when compiled. */
export function sibling (name: string): string {
  return path.join(__dirname, `${name}${path.extname(__filename)}`)
}

export { freePort } from './lib/free-port'

/**
 * The environment the bench and the soak start the service with: production
 * mode on loopback, its own database, Redis key prefix and secret, quiet logs,
 * a rate limit out of reach and no migrations (the harness applied them).
 */
export function serviceEnv (options: { port: number; databaseUrl: string; redisUrl: string; prefix: string; secret: string; dashboardRefreshMs: number }): Record<string, string> {
  return {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(options.port),
    DATABASE_URL: options.databaseUrl,
    REDIS_URL: options.redisUrl,
    REDIS_KEY_PREFIX: options.prefix,
    JWT_SECRET: options.secret,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_MAX: '1000000000',
    MIGRATE_ON_START: 'false',
    DASHBOARD_REFRESH_INTERVAL_MS: String(options.dashboardRefreshMs)
  }
}

/**
 * Deletes a run's Redis keys (cache entries would expire; generation and
 * rate-limit counters would not). SCAN is fine here: a one-off cleanup, never
 * on the service's request path. ioredis is loaded here only, when needed.
 */
export async function removeRedisKeys (url: string, prefix: string): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const RedisClient = require('ioredis') as typeof Redis
  const redis = new RedisClient(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await redis.connect()
    let cursor = '0'
    let removed = 0
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) removed += await redis.unlink(...keys)
    } while (cursor !== '0')
    console.log(`removed ${removed} Redis keys under ${prefix}`)
  } catch (err) {
    console.log(`could not remove the Redis keys under ${prefix}: ${(err as Error).message}`)
  } finally {
    redis.disconnect()
  }
}
