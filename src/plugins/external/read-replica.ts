// Read replica (contract §8, DATABASE_READ_URL): app.readReplica.prisma is
// the client the services read through. Inside a GET under /api/v1 that the
// router sent to the replica it resolves to the replica's Prisma client,
// everywhere else (writes, authentication, timers) to the primary's.
//
// - preHandler (root level, so it runs after the response cache's lookup: a
//   hit never gets here): replica when the probe says it is up, not lagging,
//   and it has replayed the last write recorded for the generation the
//   request's cache key hangs on (one Redis GET); otherwise primary.
// - each GET handler is wrapped (onRoute): a routed read whose replica
//   connection is refused or cut runs again on the primary.
// - onSend of a 2xx write, before the response cache's onSend bumps the
//   generations: the primary's WAL position is raised for each generation
//   the write touches (the writer's own too).
// Why that keeps read-your-writes and keeps stale answers out of the cache:
// docs/read-replica.md.
import { AsyncLocalStorage } from 'node:async_hooks'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Counter } from 'prom-client'
import type { PrismaClient } from '../../../generated/prisma/client'
import { Database } from '../../lib/database'
import {
  INSERT_LSN_SQL, lastRecordEnd, MemoryWriteLsnStore, parseLsn, RedisWriteLsnStore, ReplicaProbe,
  type ReplicaStatus, type WriteLsnStore
} from '../../lib/read-replica'
import { isDatabaseUnavailable, isTimeout } from './errors'
import { requestLogger } from './request-log'

type ReadTarget = 'primary' | 'replica'

declare module 'fastify' {
  interface FastifyInstance {
    readReplica: {
      /** The client services read and write through (routes reads of replica-bound requests). */
      prisma: PrismaClient
      status: () => ReplicaStatus
      /** Records the primary's current WAL position as the last write of these cache generations. */
      recordWrite: (generations: readonly string[]) => Promise<void>
    }
  }
  interface FastifyRequest {
    /** Where this GET's database reads went (null: not a routed read). */
    readTarget: ReadTarget | null
  }
}

/**
 * A PrismaClient that forwards every property to the client `pick` names at
 * the time of the access, so services keep one client and need not know.
 */
function routedClient (primary: PrismaClient, replica: PrismaClient, pick: () => ReadTarget | undefined): PrismaClient {
  return new Proxy(primary, {
    get (_target, property) {
      const client = pick() === 'replica' ? replica : primary
      const value: unknown = Reflect.get(client, property, client)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(client) : value
    }
  })
}

/** The generation a GET's cache entry hangs on (as in plugins/app/response-cache.ts). */
function readGeneration (request: FastifyRequest): string | undefined {
  const caller = request.caller
  if (request.method !== 'GET' || caller == null) return undefined
  const mode = request.routeOptions.config.cache ?? 'owner'
  if (mode === false) return undefined
  return mode === 'dashboard' ? 'dash' : caller.role === 'admin' ? 'all' : `u:${caller.id.toLowerCase()}`
}

export default fp(async (app) => {
  const reads = new Counter({
    name: 'db_reads_total',
    help: 'API reads (cache misses) by the database they were sent to',
    labelNames: ['target'] as const,
    registers: [app.metrics.registry]
  })
  app.decorateRequest('readTarget', null)
  const { url, maxLagMs } = app.config.readReplica
  if (url === undefined) {
    app.decorate('readReplica', { prisma: app.db.prisma, status: () => 'off' as const, recordWrite: async () => {} })
    return
  }

  // No connections opened at start: the replica may be down, reads then go to the primary.
  const replica = new Database({ ...app.config.database, url, poolMin: 0 }, app.log)
  replica.currentLogger = requestLogger
  // Longer than any lag at which the replica is still used: an expired position is one any usable replica has passed.
  const ttlMs = Math.max(60_000, maxLagMs * 10)
  const store: WriteLsnStore = app.hasRedis
    ? new RedisWriteLsnStore(app.redisClient, app.config.redisKeyPrefix, ttlMs)
    : new MemoryWriteLsnStore(ttlMs)
  const probe = new ReplicaProbe(url, app.config.database.ssl, app.db.pool, maxLagMs, app.log)
  replica.pool.on('error', () => { probe.markDown('replica connection failed') })
  // After a write whose position could not be recorded, this instance reads
  // from the primary until any usable replica must have replayed it.
  let primaryOnlyUntil = 0
  const context = new AsyncLocalStorage<ReadTarget>()

  const recordWrite = async (generations: readonly string[]): Promise<void> => {
    try {
      const { rows } = await app.db.pool.query<{ lsn: string }>(INSERT_LSN_SQL)
      await store.raise(generations, lastRecordEnd(parseLsn(rows[0]!.lsn)))
    } catch (err) {
      primaryOnlyUntil = Date.now() + ttlMs
      app.log.warn({ err: { message: (err as Error).message } }, 'could not record the write position; this instance reads from the primary for a while')
    }
  }

  const chooseTarget = async (generation: string): Promise<ReadTarget> => {
    if (probe.status() !== 'up' || Date.now() < primaryOnlyUntil) return 'primary'
    try {
      return await probe.hasReplayed(await store.get(generation)) ? 'replica' : 'primary'
    } catch {
      return 'primary' // Redis unreachable: no way to know the last write, the primary has it
    }
  }

  // Callback style: the handler runs inside context.run, where the routed client reads it.
  app.addHook('preHandler', (request, _reply, done) => {
    const generation = readGeneration(request)
    if (generation === undefined) {
      done()
      return
    }
    void chooseTarget(generation).then((target) => {
      request.readTarget = target
      reads.inc({ target })
      context.run(target, done)
    })
  })

  app.addHook('onSend', async (request, reply, payload) => {
    const caller = request.caller
    if (request.method === 'GET' || request.method === 'HEAD' || caller == null) return payload
    if (reply.statusCode < 200 || reply.statusCode >= 300) return payload
    const owners = (request.changes ?? []).flatMap((change) => change.owners)
    const generations = ['all', `u:${caller.id}`, ...owners.map((id) => `u:${id}`)].map((g) => g.toLowerCase())
    if (request.routeOptions.config.invalidatesDashboard === true) generations.push('dash')
    await recordWrite(generations)
    return payload
  })

  // A replica that died since the last probe: a read routed to it whose
  // connection was refused or cut runs again, once, on the primary (a GET
  // only reads, so running it twice changes nothing), and the next reads go
  // to the primary at once. Not after a timeout: the caller has waited once
  // already, and a fast 503 beats a second wait (the probe notices a hung
  // replica within a second).
  app.addHook('onRoute', (route) => {
    if (![route.method].flat().includes('GET')) return
    const handler = route.handler
    route.handler = async function (this: FastifyInstance, request, reply) {
      try {
        return await handler.call(this, request, reply)
      } catch (err) {
        if (request.readTarget !== 'replica' || !isDatabaseUnavailable(err) || isTimeout(err) || reply.sent) throw err
        probe.markDown('a read on the replica lost its connection')
        request.readTarget = 'primary'
        reads.inc({ target: 'primary' })
        return await context.run('primary', async () => await handler.call(this, request, reply))
      }
    }
  })
  app.addHook('onResponse', async (request, reply) => {
    if (request.readTarget === 'replica' && reply.statusCode === 503) probe.markDown('a read on the replica answered 503')
  })

  app.decorate('readReplica', {
    prisma: routedClient(app.db.prisma, replica.prisma, () => context.getStore()),
    status: () => probe.status(),
    recordWrite
  })
  await probe.start()
  app.addHook('onClose', async () => {
    await probe.stop()
    await replica.close()
  })
}, { name: 'read-replica', dependencies: ['config', 'db', 'errors', 'metrics', 'redis'] })
