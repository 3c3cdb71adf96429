// Command-line options of the soak (scripts/soak/main.ts), apart so a bad
// command line is answered before anything heavy is loaded.
import path from 'node:path'
import { PROJECT_ROOT } from '../../src/lib/paths'
import { decimal, integer, oneOf, parseOptions, urlWithScheme, UsageError } from '../lib/args'
import { seededMembers } from '../seed/statements'

export const USAGE = `usage: npm run soak -- [options]
  --minutes M            load duration, warm-up included (default 10; fractions allowed, e.g. 0.5)
  --warmup-seconds S     first part of the run that is not judged (default min(60, 10 % of the run))
  --connections N        concurrent requests in flight (default 16)
  --users U              distinct users sending them: U-1 members and one admin (default 5, at least 2)
  --organizations N      seed size (default max(5000, 2000 × (U-1)); the seed makes max(3, N/2000) members)
  --database-url URL     PostgreSQL server to create (and drop) the scratch database on, as an admin
                         connection (default postgresql://root@127.0.0.1:5432/test)
  --redis-url URL        default redis://127.0.0.1:6379
  --server dist|ts       node dist/src/server.js after npm run build (default), or server.ts through ts-node
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
    'results-dir': { type: 'string', default: path.join(PROJECT_ROOT, 'bench', 'results') }
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
