// One soak run: build, scratch database, server, the load with the memory
// sampler beside it, then everything taken down again, whatever failed. It
// records what it saw; report.ts judges it.
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { createSigner } from 'fast-jwt'
import pg from 'pg'
import { stopChild, type ChildExit } from '../lib/child-processes'
import { withClient } from '../lib/postgres'
import { removeRedisKeys } from '../lib/redis-keys'
import { buildService } from '../lib/service'
import { loadMemberData, prepareDatabase, type Dataset } from './dataset'
import { mb } from './format'
import { HttpClient } from './http-client'
import { readRuntime, sampleMemory, type HeapPlan, type MemoryRecord, type MemorySample, type RuntimeAnswer } from './memory'
import { drive, OP_TABLE } from './operations'
import type { SoakOptions } from './options'
import { Recorder } from './recorder'
import { GC_PRELOAD, startService, type Service } from './service'
import { makeWorkers, type Context, type MemberData } from './workers'

export interface SoakRun extends MemoryRecord {
  startedAt: Date
  /** Why the load stopped early: the service died, or the harness was interrupted. */
  aborted?: string
  dataset?: Dataset
  service?: Service
  recorder?: Recorder
  /** The server's memory before the load. */
  startSample?: MemorySample
  runtimeAtEnd?: RuntimeAnswer
  shutdown?: ChildExit
  loadSeconds: number
}

export async function runSoak (opts: SoakOptions, plan: HeapPlan): Promise<SoakRun> {
  const run: SoakRun = { startedAt: new Date(), problems: [], samples: [], gcReadings: [], samplerErrors: 0, loadSeconds: 0 }
  const t0 = performance.now()
  const at = (): string => `[${((performance.now() - t0) / 1000).toFixed(1)} s]`
  const { baseline, final } = plan
  console.log(`crm soak: ${opts.minutes} min (${opts.durationS.toFixed(0)} s, warm-up ${opts.warmupS.toFixed(0)} s), ${opts.connections} connections, ` +
    `${opts.users} users (${opts.members} members + admin), ${opts.organizations} organizations, server ${opts.server === 'dist' ? 'dist/src/server.js' : 'server.ts (ts-node)'}`)
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  console.log(`heap rule: floor (min heapUsed, forced GC included) of [${baseline.fromS.toFixed(0)}, ${baseline.toS.toFixed(0)}] s vs [${final.fromS.toFixed(0)}, ${final.toS.toFixed(0)}] s; fail above +${opts.maxHeapGrowthPct} %`)

  const secret = randomBytes(32).toString('hex')
  const signer = createSigner({ key: secret, algorithm: 'HS256', expiresIn: (opts.durationS + 3600) * 1000 })
  const sign = (sub: string): string => signer({ sub })
  const dbName = `crm_soak_${process.pid}_${Date.now().toString(36)}`
  const prefix = `crm:soak:${process.pid}-${Date.now().toString(36)}:`
  const preload = path.join(os.tmpdir(), `crm-soak-gc-${process.pid}.js`)
  fs.writeFileSync(preload, GC_PRELOAD)

  let client: HttpClient | undefined
  let pool: pg.Pool | undefined
  let createdDb = false
  let stopLoad = (): void => {}
  try {
    if (opts.server === 'dist' && !opts.skipBuild) await buildService()
    createdDb = true
    const dataset = run.dataset = await prepareDatabase(opts, dbName, sign)
    pool = new pg.Pool({ connectionString: dataset.url, max: 4 })
    const data = new Map<string, MemberData>()
    for (const member of dataset.members) data.set(member.id, await loadMemberData(pool, member))
    const { rows: [{ n: orgTotal }] } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM organizations WHERE NOT is_deleted')
    await pool.end()
    pool = undefined
    console.log(`${at()} users: admin ${dataset.admin.email}; members ${dataset.members.map((m) => `${m.email} (${data.get(m.id)!.orgs.length} orgs)`).join(', ')}`)

    const service = run.service = await startService(opts, dataset.url, secret, prefix, preload)
    console.log(`${at()} service: pid ${service.child.pid} on ${service.base.origin}, Redis key prefix ${prefix}`)
    client = new HttpClient(service.base, opts.connections + 2)
    const admin = dataset.admin
    const first = await readRuntime(client, admin)
    const startSample = run.startSample = { atS: 0, ...first.memory.current, source: 'runtime' }
    // The idle server's live heap, for reference (not a judged window).
    const idle = await service.nextGc()
    run.gcReadings.push({ ...idle, atS: 0 })
    console.log(`start: heapUsed ${mb(startSample.heapUsed)} MB (${mb(idle.heapUsed)} MB after a forced GC), rss ${mb(startSample.rss)} MB (heap limit ${mb(first.memory.heapLimit)} MB)`)

    const workers = makeWorkers(opts, admin, dataset.members, data)
    const loadStart = performance.now()
    const recorder = run.recorder = new Recorder(loadStart, Math.max(0, Math.ceil(opts.durationS / 60) - 1))
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
    service.child.once('exit', (code, signal) => { if (!ctx.stopped) { run.aborted = `the service exited during the run (${code ?? signal})`; ctx.stopped = true } })

    const sampler = sampleMemory(ctx, service, admin, plan, run)
    console.log(`${at()} load: ${workers.length} workers (${workers.filter((w) => w.user.role === 'admin').length} as the admin), ${OP_TABLE.length} operations, ` +
      `${OP_TABLE.filter((o) => o.kind === 'read').reduce((s, o) => s + o.weight, 0)} % reads by weight; memory every ${plan.sampleMs} ms, forced GC at ${plan.gcAtS.map((s) => s.toFixed(0)).join(', ')} s`)
    const onSignal = (signal: string): void => { run.aborted = `interrupted by ${signal}`; ctx.stopped = true }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    await Promise.all([...workers.map(async (w) => await drive(ctx, w)), sampler])
    run.loadSeconds = (performance.now() - loadStart) / 1000
    ctx.stopped = true
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
    if (run.aborted === undefined) {
      run.runtimeAtEnd = await readRuntime(client, admin).catch((err: unknown) => { run.problems.push(`final runtime read: ${(err as Error).message}`); return undefined })
      if (run.runtimeAtEnd !== undefined) run.samples.push({ atS: recorder.elapsedS(), ...run.runtimeAtEnd.memory.current, source: 'runtime' })
    }
  } catch (err) {
    run.problems.push(`harness: ${(err as Error).stack ?? String(err)}`)
  } finally {
    stopLoad()
    client?.close()
    if (run.service !== undefined) {
      run.shutdown = await stopChild(run.service.child, 20_000)
      if (run.shutdown.code !== 0) run.problems.push(`the service exited with ${run.shutdown.code ?? run.shutdown.signal} after SIGTERM (expected 0)`)
    }
    fs.rmSync(preload, { force: true })
    await pool?.end().catch(() => undefined)
    if (createdDb) {
      await withClient(opts.adminUrl, async (c) => {
        await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [dbName])
        await c.query(`DROP DATABASE IF EXISTS "${dbName}"`)
      }).then(() => console.log(`dropped database ${dbName}`), (err: unknown) => run.problems.push(`could not drop database ${dbName}: ${(err as Error).message}`))
    }
    await removeRedisKeys(opts.redisUrl, prefix)
  }
  if (run.aborted !== undefined) run.problems.push(run.aborted)
  return run
}
