import fp from 'fastify-plugin'
import fastifyRedis, { type FastifyRedis } from '@fastify/redis'
import Redis, { Cluster } from 'ioredis'
import type { AppConfig } from '../../lib/config'
import type { RedisClient } from '../../lib/redis-keys'

declare module 'fastify' {
  interface FastifyInstance {
    /** 'up' when the response cache can be used right now. */
    cacheStatus (): Promise<'up' | 'down'>
    /** True when REDIS_URL or REDIS_CLUSTER_NODES is set (redisClient is then the client); otherwise the cache is in process. */
    hasRedis: boolean
    /**
     * The client, typed as what it is: app.redis (@fastify/redis) is the
     * same object, but typed as a single Redis even when it is a cluster.
     */
    redisClient: RedisClient
  }
}

const STARTUP_WAIT_MS = 1000

/**
 * The Redis connection behind the response cache and the rate limit, as
 * app.redis (@fastify/redis). Redis is optional at every moment: the client
 * never queues commands while disconnected (they fail at once and callers
 * fall back to the database), every command times out after
 * REDIS_COMMAND_TIMEOUT_MS, it reconnects in the background, and start-up
 * waits at most a second for it.
 */
function createClient (config: AppConfig): RedisClient | undefined {
  const timeout = config.redisCommandTimeoutMs
  const options = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: Math.max(timeout, 1000),
    commandTimeout: timeout
  }
  const retry = (attempt: number): number => Math.min(attempt * 100, 2000)
  if (config.redisUrl !== undefined) return new Redis(config.redisUrl, { ...options, retryStrategy: retry })
  if (config.redisClusterNodes === undefined) return undefined
  return new Cluster(config.redisClusterNodes, {
    enableOfflineQueue: false,
    clusterRetryStrategy: retry,
    // Reads of the generations must come from masters: a replica may lag
    // behind an INCR that a write's answer already waited for.
    scaleReads: 'master',
    redisOptions: options
  })
}

export default fp(async (app) => {
  const created = createClient(app.config)
  app.decorate('hasRedis', created !== undefined)
  if (created === undefined) {
    app.decorate<RedisClient>('redisClient', null as unknown as RedisClient)
    app.decorate('cacheStatus', async () => 'up' as const)
    return
  }
  const client: RedisClient = created
  app.decorate<RedisClient>('redisClient', client)
  let lastError = ''
  client.on('error', (err: Error) => {
    if (err.message !== lastError) app.log.warn({ err: { message: err.message } }, 'redis unavailable; serving from the database')
    lastError = err.message
  })
  client.on('ready', () => { lastError = '' })

  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => done(false), STARTUP_WAIT_MS)
    const onReady = (): void => done(true)
    client.once('ready', onReady)
    function done (ok: boolean): void {
      clearTimeout(timer)
      client.off('ready', onReady)
      resolve(ok || client.status === 'ready')
    }
  })
  if (ready) {
    // @fastify/redis decorates app.redis and quits the client on close.
    await app.register(fastifyRedis, { client, closeClient: true })
  } else {
    // @fastify/redis would hold start-up until Redis answers; the service
    // must start without it, so the same client is decorated directly.
    app.decorate('redis', client as unknown as FastifyRedis)
    app.addHook('onClose', async () => { client.disconnect() })
  }

  app.decorate('cacheStatus', async () => {
    if (client.status !== 'ready') return 'down' as const
    try {
      await client.ping()
      return 'up' as const
    } catch {
      return 'down' as const
    }
  })
}, { name: 'redis', dependencies: ['config'] })
