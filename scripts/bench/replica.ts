// npm run bench:replica -- [--duration S] [--users N] [--organizations K] [--samples M]
//
// The read replica's figures (issue 17, "Done when"), standalone: the main
// bench's service runs on one database, this one needs a primary and a
// streaming replica of its own (started with the tests' helper,
// test/helpers/postgres-replica.ts, on spare ports), and the service in this
// process (buildApp + listen) with the shared Redis under a prefix of its own.
//
// 1. mixed: N members, each looping over a fresh list page (a miss), a
//    repeated list page (a hit after the first), a by-id read and, one request
//    in ten, a write (PATCH of one of their organizations); for S seconds.
//    Reported: the share of database reads (cache misses) served by the
//    replica, from db_reads_total{target}, and req/s.
// 2. read right after a write: M times, PATCH then GET the same organization
//    by id, with the replica healthy and with its replay paused; the GET's
//    p50/p99 and where it was served.
// Numbers on a shared machine are noisy: compare the two cases of one run.
import { performance } from 'node:perf_hooks'
import { buildApp } from '../../src/app'
import { loadConfig } from '../../src/lib/config'
import { startPrimaryAndReplica } from '../../test/helpers/postgres-replica'
import { integer, parseOptions, usageExitCode } from '../lib/args'
import { withClient } from '../lib/postgres'
import { removeRedisKeys } from '../lib/redis-keys'

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'

function percentile (values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN
}

const USAGE = 'usage: npm run bench:replica -- [--duration S (10)] [--users N (8)] [--organizations K (50)] [--samples M (200)]'

async function main (): Promise<void> {
  const options = parseOptions(process.argv.slice(2), {
    duration: { type: 'string', default: '10' },
    users: { type: 'string', default: '8' },
    organizations: { type: 'string', default: '50' },
    samples: { type: 'string', default: '200' }
  })
  const durationS = integer('--duration', options.duration, { min: 1, max: 3600 })
  const userCount = integer('--users', options.users, { min: 1, max: 1000 })
  const orgsPerUser = integer('--organizations', options.organizations, { min: 1, max: 100_000 })
  const samples = integer('--samples', options.samples, { min: 1, max: 100_000 })
  const prefix = `crm:bench-replica:${process.pid}:`

  console.log('starting a primary and a streaming replica…')
  const pair = await startPrimaryAndReplica()
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: pair.database.url,
    DATABASE_READ_URL: pair.database.replicaUrl,
    REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    JWT_SECRET: 'bench-secret-that-is-at-least-32-characters',
    RATE_LIMIT_MAX: '100000000',
    DASHBOARD_REFRESH_INTERVAL_MS: '0',
    MAX_EVENT_LOOP_DELAY_MS: '0',
    PORT: '0'
  })
  const app = await buildApp({ config })
  try {
    await app.listen({ port: 0, host: '127.0.0.1' })
    const address = app.server.address()
    const base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/api/v1`

    const users = await withClient(pair.database.url, async (client) => {
      const made: Array<{ token: string, orgs: string[] }> = []
      for (let u = 0; u < userCount; u++) {
        const { rows } = await client.query<{ id: string }>('INSERT INTO users (email, name, role) VALUES ($1, $2, $3) RETURNING id', [`bench${u}@example.test`, `Bench ${u}`, 'member'])
        const id = rows[0]!.id
        const orgs = await client.query<{ id: string }>(
          "INSERT INTO organizations (name, assigned_user_id) SELECT 'Org ' || g, $1 FROM generate_series(1, $2) g RETURNING id", [id, orgsPerUser])
        made.push({ token: `Bearer ${app.signToken(id)}`, orgs: orgs.rows.map((r) => r.id) })
      }
      return made
    })
    await pair.caughtUp()

    const reads = async (): Promise<{ primary: number, replica: number }> => {
      const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
      const count = (target: string): number => Number(new RegExp(`^db_reads_total\\{target="${target}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0)
      return { primary: count('primary'), replica: count('replica') }
    }
    const call = async (token: string, method: string, path: string, body?: unknown): Promise<number> => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: token, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body)
      })
      await res.arrayBuffer()
      return res.status
    }

    // 1. mixed
    const before = await reads()
    const deadline = Date.now() + durationS * 1000
    let requests = 0
    let errors = 0
    let page = 0
    await Promise.all(users.map(async (user, u) => {
      for (let i = 0; Date.now() < deadline; i++) {
        const org = user.orgs[i % user.orgs.length]!
        const kind = i % 10
        const status = kind === 9
          ? await call(user.token, 'PATCH', `/organizations/${org}`, { name: `Org ${u}-${i}` })
          : kind % 3 === 0
            ? await call(user.token, 'GET', `/organizations?limit=${1 + (page++ % 100)}&offset=${Math.floor(page / 100)}`)
            : kind % 3 === 1
              ? await call(user.token, 'GET', '/organizations?limit=20')
              : await call(user.token, 'GET', `/organizations/${org}`)
        requests++
        if (status >= 400) errors++
      }
    }))
    const after = await reads()
    const primary = after.primary - before.primary
    const replica = after.replica - before.replica
    console.log(`mixed (${userCount} members, ${durationS} s, 1 write in 10): ${Math.round(requests / durationS)} req/s, ${errors} errors;` +
      ` database reads: ${replica} replica / ${primary} primary = ${(100 * replica / Math.max(1, primary + replica)).toFixed(1)} % on the replica`)

    // 2. a read right after a write
    const readAfterWrite = async (label: string): Promise<void> => {
      const user = users[0]!
      const times: number[] = []
      const start = await reads()
      for (let i = 0; i < samples; i++) {
        const org = user.orgs[i % user.orgs.length]!
        await call(user.token, 'PATCH', `/organizations/${org}`, { name: `After ${label} ${i}` })
        const t0 = performance.now()
        const status = await call(user.token, 'GET', `/organizations/${org}`)
        times.push(performance.now() - t0)
        if (status !== 200) throw new Error(`read after write answered ${status}`)
      }
      const end = await reads()
      console.log(`read right after a write, replica ${label}: p50 ${percentile(times, 0.5).toFixed(2)} ms, p99 ${percentile(times, 0.99).toFixed(2)} ms` +
        ` (${end.replica - start.replica} from the replica, ${end.primary - start.primary} from the primary)`)
    }
    await readAfterWrite('healthy')
    await pair.replica.query('SELECT pg_wal_replay_pause()')
    await readAfterWrite('paused')
    await pair.replica.query('SELECT pg_wal_replay_resume()')
  } finally {
    await app.close()
    await removeRedisKeys(REDIS_URL, prefix, () => {}, (line) => process.stderr.write(`${line}\n`))
    await pair.dispose()
  }
}

main().catch((err: unknown) => {
  try {
    process.exitCode = usageExitCode(err, 'bench:replica', USAGE)
  } catch {
    console.error(err)
    process.exitCode = 1
  }
})
