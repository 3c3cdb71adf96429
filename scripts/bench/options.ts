// Command-line options of the benchmark (scripts/bench/main.ts) and the
// scenarios they name, apart so they can be parsed (and tested) without
// loading the harness.
import path from 'node:path'
import { PROJECT_ROOT } from '../../src/lib/paths'
import { integer, oneOf, parseOptions, urlWithScheme, UsageError } from '../lib/args'
import { SEED_LAYOUTS, type SeedLayout } from '../seed/statements'

export const USAGE = `usage: npm run bench -- [options]
  --organizations N     data set size (default 100000; the seed makes max(3, N/2000) members)
  --layout L            live (default: children in time order, not vacuumed) or clustered (db:seed --layout)
  --duration S          seconds per scenario (default 10)
  --warmup S            unmeasured seconds before each scenario (default 1; 0 = none)
  --connections C       concurrent connections / database workers (default 32)
  --runs R              repeat the whole set R times and report medians (default 1)
  --only LIST           comma-separated: a,b,c,c2,d,e,f,http-ceiling,db-ceiling,db-latency,ceilings,db-side,prisma,all (default all)
  --database-url URL    default postgresql://root@127.0.0.1:5432/crm_bench_live_<N> (crm_bench_<N> for clustered; created when missing)
  --redis-url URL       default redis://127.0.0.1:6379
  --reseed              seed again even when the database already holds this size
  --server dist|ts      run dist/src/server.js after npm run build (default) or server.ts through ts-node
  --skip-build          with --server dist: use the existing dist/ as is
  --prisma-iterations N calls per variant and mode in the prisma micro-scenario (default 2000)
  --db-calls N          sequential calls per statement and variant in db-latency (default 1000)
  --walk-pages N        at most N pages per walk in (f) (default 2000; limit 200 per page)
  --results-dir DIR     where the JSON goes (default bench/results)
  --check               exit 3 when a target is missed
  --accept-encoding V   Accept-Encoding of the service's GETs (default "gzip, deflate, br"; none = no header)
  --tool auto|wrk|autocannon  load generator: wrk when installed (default auto), else autocannon
  --profile             also write a CPU profile of the service (node --cpu-prof) during one scenario and print its top entries
  --profile-scenario K  the scenario profiled (default d)
  --pooler              also run (c) and (c2) each run on a second service behind a PgBouncer (transaction mode) and compare`

/** In the order they run: each ceiling just before the scenarios measured against it. */
export const SCENARIOS = ['http-ceiling', 'a', 'c', 'c2', 'd', 'db-ceiling', 'db-latency', 'b', 'f', 'e', 'prisma'] as const
export type ScenarioKey = typeof SCENARIOS[number]

/** The scenarios measured over HTTP against the service (or the bare HTTP ceiling). */
export const HTTP_SCENARIOS: ReadonlySet<ScenarioKey> = new Set(['http-ceiling', 'a', 'b', 'c', 'c2', 'd', 'e', 'f'])

export const TITLES: Record<ScenarioKey, string> = {
  'http-ceiling': 'HTTP ceiling: bare Fastify, (a)\'s body',
  a: 'list, cached (same URL)',
  b: 'list, cache-busting (all MISS)',
  c: 'org by id, rotating ids',
  c2: 'org by id, cache-busting',
  d: 'dashboard',
  e: 'write mix (POST interaction / PATCH org)',
  f: 'cursor walk: a whole list page by page',
  'db-ceiling': 'DB ceiling: (b)\'s SQL, raw pg loop',
  'db-latency': 'DB single client: latency and planning share',
  prisma: 'Prisma overhead (in process)'
}

/** The ceiling each scenario's throughput is divided by. */
export const CEILING_OF: Partial<Record<ScenarioKey, 'http-ceiling' | 'db-ceiling'>> = {
  a: 'http-ceiling', c: 'http-ceiling', c2: 'http-ceiling', d: 'http-ceiling', e: 'http-ceiling', b: 'db-ceiling'
}

const ALIASES: Record<string, readonly ScenarioKey[]> = {
  all: SCENARIOS,
  ceilings: ['http-ceiling', 'db-ceiling'],
  http: ['http-ceiling'],
  db: ['db-ceiling'],
  'db-side': ['db-ceiling', 'db-latency']
}

export interface BenchOptions {
  organizations: number
  layout: SeedLayout
  durationS: number
  warmupS: number
  connections: number
  runs: number
  only: ScenarioKey[]
  databaseUrl: string
  redisUrl: string
  reseed: boolean
  server: 'dist' | 'ts'
  skipBuild: boolean
  prismaIterations: number
  dbCalls: number
  walkPages: number
  resultsDir: string
  check: boolean
  acceptEncoding?: string
  tool: 'auto' | 'wrk' | 'autocannon'
  profile?: ScenarioKey
  /** Also (c) and (c2) through a PgBouncer in transaction mode, each run. */
  pooler: boolean
}

function scenarioList (value: string): ScenarioKey[] {
  const wanted = new Set<ScenarioKey>()
  for (const raw of value.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '')) {
    const keys = ALIASES[raw] ?? ((SCENARIOS as readonly string[]).includes(raw) ? [raw as ScenarioKey] : undefined)
    if (keys === undefined) throw new UsageError(`--only: unknown scenario ${JSON.stringify(raw)} (a, b, c, c2, d, e, f, http-ceiling, db-ceiling, db-latency, ceilings, db-side, prisma, all)`)
    keys.forEach((k) => wanted.add(k))
  }
  if (wanted.size === 0) throw new UsageError('--only names no scenario')
  return SCENARIOS.filter((s) => wanted.has(s))
}

export function parseBenchArgs (argv: string[]): BenchOptions {
  const values = parseOptions(argv, {
    organizations: { type: 'string', default: '100000' },
    layout: { type: 'string', default: 'live' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '32' },
    runs: { type: 'string', default: '1' },
    only: { type: 'string', default: 'all' },
    'database-url': { type: 'string' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
    reseed: { type: 'boolean', default: false },
    server: { type: 'string', default: 'dist' },
    'skip-build': { type: 'boolean', default: false },
    'prisma-iterations': { type: 'string', default: '2000' },
    'db-calls': { type: 'string', default: '1000' },
    'walk-pages': { type: 'string', default: '2000' },
    'results-dir': { type: 'string', default: path.join(PROJECT_ROOT, 'bench', 'results') },
    check: { type: 'boolean', default: false },
    'accept-encoding': { type: 'string', default: 'gzip, deflate, br' },
    tool: { type: 'string', default: 'auto' },
    profile: { type: 'boolean', default: false },
    'profile-scenario': { type: 'string', default: 'd' },
    pooler: { type: 'boolean', default: false }
  })
  const profiled = oneOf('profile-scenario', values['profile-scenario'], ['a', 'b', 'c', 'c2', 'd', 'e'])
  const organizations = integer('organizations', values.organizations, { min: 1, max: 100_000_000 })
  const server = oneOf('server', values.server, ['dist', 'ts'])
  const layout = oneOf('layout', values.layout, SEED_LAYOUTS)
  const defaultDatabase = layout === 'live' ? `crm_bench_live_${organizations}` : `crm_bench_${organizations}`
  const databaseUrl = urlWithScheme('database-url', values['database-url'] ?? `postgresql://root@127.0.0.1:5432/${defaultDatabase}`, ['postgres', 'postgresql'])
  const redisUrl = urlWithScheme('redis-url', values['redis-url'], ['redis', 'rediss'])
  return {
    organizations,
    layout,
    durationS: integer('duration', values.duration, { min: 1, max: 3600 }),
    warmupS: integer('warmup', values.warmup, { min: 0, max: 600 }),
    connections: integer('connections', values.connections, { min: 1, max: 1000 }),
    runs: integer('runs', values.runs, { min: 1, max: 100 }),
    only: scenarioList(values.only),
    databaseUrl,
    redisUrl,
    reseed: values.reseed,
    server,
    skipBuild: values['skip-build'],
    prismaIterations: integer('prisma-iterations', values['prisma-iterations'], { min: 10, max: 10_000_000 }),
    dbCalls: integer('db-calls', values['db-calls'], { min: 10, max: 1_000_000 }),
    walkPages: integer('walk-pages', values['walk-pages'], { min: 2, max: 1_000_000 }),
    resultsDir: path.resolve(values['results-dir']),
    check: values.check,
    acceptEncoding: values['accept-encoding'] === 'none' ? undefined : values['accept-encoding'],
    tool: oneOf('tool', values.tool, ['auto', 'wrk', 'autocannon']),
    ...(values.profile ? { profile: profiled } : {}),
    pooler: values.pooler
  }
}
