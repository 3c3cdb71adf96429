// Command-line options of the benchmark (scripts/bench.ts), apart so they can
// be parsed (and tested) without loading the harness.
import path from 'node:path'
import { parseArgs } from 'node:util'
import { PROJECT_ROOT } from '../lib/paths'

export const USAGE = `usage: npm run bench -- [options]
  --organizations N     data set size (default 100000; the seed makes max(3, N/2000) members)
  --duration S          seconds per scenario (default 10)
  --warmup S            unmeasured seconds before each scenario (default 1; 0 = none)
  --connections C       concurrent connections / database workers (default 32)
  --runs R              repeat the whole set R times and report medians (default 1)
  --only LIST           comma-separated: a,b,c,c2,d,e,http-ceiling,db-ceiling,ceilings,prisma,all (default all)
  --database-url URL    default postgresql://root@127.0.0.1:5432/crm_bench_<N> (created when missing)
  --redis-url URL       default redis://127.0.0.1:6379
  --reseed              seed again even when the database already holds this size
  --server dist|ts      run dist/server.js after npm run build (default) or server.ts through ts-node
  --skip-build          with --server dist: use the existing dist/ as is
  --prisma-iterations N calls per variant and mode in the prisma micro-scenario (default 2000)
  --results-dir DIR     where the JSON goes (default bench/results)
  --check               exit 3 when a target is missed`

/** In the order they run: each ceiling just before the scenarios measured against it. */
export const SCENARIOS = ['http-ceiling', 'a', 'c', 'c2', 'd', 'db-ceiling', 'b', 'e', 'prisma'] as const
export type ScenarioKey = typeof SCENARIOS[number]

const ALIASES: Record<string, readonly ScenarioKey[]> = {
  all: SCENARIOS,
  ceilings: ['http-ceiling', 'db-ceiling'],
  http: ['http-ceiling'],
  db: ['db-ceiling']
}

export interface BenchOptions {
  organizations: number
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
  resultsDir: string
  check: boolean
}

export class UsageError extends Error {}

function integer (name: string, value: string, min: number, max: number): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`)
  return n
}

function scenarioList (value: string): ScenarioKey[] {
  const wanted = new Set<ScenarioKey>()
  for (const raw of value.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '')) {
    const keys = ALIASES[raw] ?? ((SCENARIOS as readonly string[]).includes(raw) ? [raw as ScenarioKey] : undefined)
    if (keys === undefined) throw new UsageError(`--only: unknown scenario ${JSON.stringify(raw)} (a, b, c, c2, d, e, http-ceiling, db-ceiling, ceilings, prisma, all)`)
    keys.forEach((k) => wanted.add(k))
  }
  if (wanted.size === 0) throw new UsageError('--only names no scenario')
  return SCENARIOS.filter((s) => wanted.has(s))
}

export function parseBenchArgs (argv: string[]): BenchOptions {
  let values
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        organizations: { type: 'string', default: '100000' },
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
        'results-dir': { type: 'string', default: path.join(PROJECT_ROOT, 'bench', 'results') },
        check: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false }
      },
      strict: true,
      allowPositionals: false
    }))
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (values.help) throw new UsageError('')
  const organizations = integer('organizations', values.organizations, 1, 100_000_000)
  if (values.server !== 'dist' && values.server !== 'ts') throw new UsageError(`--server must be dist or ts, got ${JSON.stringify(values.server)}`)
  const databaseUrl = values['database-url'] ?? `postgresql://root@127.0.0.1:5432/crm_bench_${organizations}`
  if (!/^postgres(ql)?:\/\//.test(databaseUrl)) throw new UsageError('--database-url must be a postgres:// or postgresql:// URL')
  if (!/^rediss?:\/\//.test(values['redis-url'])) throw new UsageError('--redis-url must be a redis:// or rediss:// URL')
  return {
    organizations,
    durationS: integer('duration', values.duration, 1, 3600),
    warmupS: integer('warmup', values.warmup, 0, 600),
    connections: integer('connections', values.connections, 1, 1000),
    runs: integer('runs', values.runs, 1, 100),
    only: scenarioList(values.only),
    databaseUrl,
    redisUrl: values['redis-url'],
    reseed: values.reseed,
    server: values.server,
    skipBuild: values['skip-build'],
    prismaIterations: integer('prisma-iterations', values['prisma-iterations'], 10, 10_000_000),
    resultsDir: path.resolve(values['results-dir']),
    check: values.check
  }
}
