// npm run bench -- [--organizations N] [--duration S] [--connections C] [--runs R]
//                  [--only a,b,ceilings,...] [--database-url URL] [--reseed] ...
//
// The performance harness. It prepares a database seeded by `npm run db:seed`
// at the chosen size (reused when it already holds exactly that seed; pending
// migrations are applied on every run), builds and starts the service as a
// child process (production mode, Redis cache, rate limit out of reach),
// mints a token for the member with the median number of organizations, and
// loads it with wrk when installed, else autocannon, scenario by scenario:
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
// and `db-latency`: one connection, 1,000 sequential listings each for
// get_organizations_optimized called directly and for (b)'s statement
// (unnamed and prepared), with the planning share from EXPLAIN (ANALYZE).
//
// plus `prisma`: in this process, the org-by-id read (and the auth user
// lookup) through Prisma's ORM, $queryRaw and raw pg, sequential and concurrent.
//
// It prints req/s, p50, p99, errors, non-2xx and each scenario's ratio to its
// ceiling, checks the issue's targets, and writes everything as JSON under
// bench/results/. Exit codes: 0 done, 1 failed, 2 bad arguments, 3 a target
// failed (only with --check).
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createSigner } from 'fast-jwt'
import pg from 'pg'
import { usageExitCode } from '../lib/args'
import { killRunningChildren, stopChild } from '../lib/child-processes'
import { httpGet } from '../lib/http-get'
import { loadListSpec } from '../lib/list-spec'
import { removeRedisKeys } from '../lib/redis-keys'
import { buildService } from '../lib/service'
import { redactUrl } from '../lib/urls'
import { pickMember, prepareDatabase } from './dataset'
import { comparePooler, formatPooler, startPooledService, type PooledService, type PoolerRun } from './pooler'
import { HTTP_SCENARIOS, parseBenchArgs, TITLES, USAGE, type BenchOptions } from './options'
import { loadTool } from './http-load'
import { formatProfile, profileScenario, type ProfileSummary } from './profile'
import { applyRatios, evaluateTargets, fmt, fmtInt, isHttp, medians, report, type RunResults } from './report'
import { CEILING_PATH, LIST_CACHED_PATH, scenario, WRITE_SUBJECT, type Context } from './scenarios'
import { startCeilingServer, startService } from './servers'

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
  console.log(`crm bench: ${opts.organizations} organizations (layout ${opts.layout}), ${opts.durationS} s per scenario (+${opts.warmupS} s warm-up), ${opts.connections} connections, ${opts.runs} run(s)`)
  const tool = loadTool(opts)
  console.log(`load generator: ${tool.name === 'wrk' ? `${tool.version} (wrk for GET scenarios, autocannon for the write mix)` : `${tool.version} (in process${opts.tool === 'auto' ? '; wrk is not installed' : ''})`}; DB ceiling: raw pg loop in a child process; scenarios: ${opts.only.join(', ')}`)
  console.log(`machine: ${host.cpus as number} × ${String(host.cpuModel)}, node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`)

  const dataset = await prepareDatabase(opts)
  const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: 4 })
  const prefix = `crm:bench:${process.pid}-${Date.now().toString(36)}:`
  let ctx: Context | undefined
  let ceilingFile: string | undefined
  const services: ChildProcess[] = []
  const runs: RunResults[] = []
  let runtime: unknown
  let profile: ProfileSummary | undefined
  let serverInfo: Record<string, unknown> | undefined
  let pooled: PooledService | undefined
  const poolerRuns: PoolerRun[][] = []
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
      ...(adminRow === undefined ? {} : { adminAuth: { authorization: `Bearer ${sign({ sub: adminRow.id })}` } }),
      seenListUrls: new Set(),
      counters: { c: 0, c2: 0, post: 0, patch: 0 },
      wrote: false
    }

    if (opts.only.some((k) => HTTP_SCENARIOS.has(k))) {
      if (opts.server === 'dist' && !opts.skipBuild) await buildService()
      const service = await startService(opts, secret, prefix)
      services.push(service.child)
      ctx.service = service
      console.log(`service: ${opts.server === 'dist' ? 'node dist/src/server.js' : 'server.ts (ts-node)'} on ${service.base}, Redis key prefix ${prefix}`)
      serverInfo = {
        entry: opts.server === 'dist' ? 'dist/src/server.js' : 'server.ts (ts-node transpile-only)',
        env: { ...service.env, DATABASE_URL: redactUrl(opts.databaseUrl), JWT_SECRET: '(random per run)' },
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

    if (opts.pooler && ctx.service !== undefined) {
      pooled = await startPooledService(ctx, secret, prefix)
      services.push(pooled.service.child)
      console.log(`pooled service: behind PgBouncer on port ${pooled.bouncer.port} (DATABASE_POOLER=transaction), ${pooled.service.base}`)
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
        } else if (result.key === 'f') {
          console.log(result.walks.map((w) => `${w.who}: ${w.pages} pages, ${fmtInt(w.pagesPerSecond)} pages/s`).join('; '))
        } else if (result.key === 'db-latency') {
          console.log(result.statements.map((s) => `${s.statement}: p50 ${fmt(s.unnamed.p50, 3)} ms, planning ${fmt(s.planningShare * 100, 0)} %`).join('; '))
        } else {
          console.log(`${result.variants.length} variants measured`)
        }
        await sleep(300)
      }
      applyRatios(results)
      runs.push(results)
      if (pooled !== undefined) {
        console.log(`run ${i}/${opts.runs} pooler       (c) and (c2), direct then through PgBouncer…`)
        poolerRuns.push(await comparePooler(ctx, pooled.service))
      }
    }

    if (opts.profile !== undefined && ctx.service !== undefined) {
      console.log(`profiling (${opts.profile}) on a second service under node --cpu-prof…`)
      profile = await profileScenario(ctx, opts.profile, secret, prefix, path.join(opts.resultsDir, 'profiles'))
    }

    if (ctx.service !== undefined && adminRow !== undefined) {
      const answer = await httpGet(`${ctx.service.base}/api/v1/admin/runtime`, { authorization: `Bearer ${sign({ sub: adminRow.id })}` }).catch(() => undefined)
      if (answer?.status === 200) runtime = JSON.parse(answer.body.toString()) as unknown
    }
  } finally {
    for (const child of services.reverse()) await stopChild(child, 15_000)
    await pooled?.bouncer.stop()
    if (ceilingFile !== undefined) fs.rmSync(ceilingFile, { force: true })
    if (ctx !== undefined) await cleanup(ctx, prefix).catch((err: unknown) => console.log(`cleanup failed: ${(err as Error).message}`))
    await pool.end()
  }

  const summary = medians(runs)
  const targets = evaluateTargets(summary, opts.organizations)
  console.log(report(summary, targets, opts.runs))
  if (profile !== undefined) console.log(formatProfile(profile, opts.profile!))
  if (poolerRuns.length > 0) console.log(formatPooler(poolerRuns))
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
    loadGenerator: tool.version,
    dbCeilingMethod: 'raw pg loop (node-postgres Pool, child process)',
    machine: { ...host, loadavgAtEnd: os.loadavg() },
    options: { ...opts, databaseUrl: redactUrl(opts.databaseUrl) },
    dataset: { ...dataset, url: redactUrl(dataset.url) },
    member: ctx === undefined ? undefined : { ...ctx.member, idsRotated: ctx.ids.length, listMix: { segments: ctx.spec.segments, terms: ctx.spec.terms } },
    server: serverInfo,
    runs,
    median: summary,
    targets,
    serviceRuntime: runtime,
    ...(profile === undefined ? {} : { profile: { ...profile, scenario: opts.profile } }),
    ...(poolerRuns.length === 0 ? {} : { pooler: poolerRuns }),
    serviceWarnings: warnings.slice(0, 50)
  }, null, 2))
  console.log(`\nwritten ${path.relative(process.cwd(), file)}`)
  return opts.check && targets.some((t) => t.pass === false) ? 3 : 0
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killRunningChildren()
    process.exit(130)
  })
}

main().then((code) => { process.exitCode = code }, (err: unknown) => {
  process.stderr.write(`bench: failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  killRunningChildren()
  process.exitCode = 1
})
