import fp from 'fastify-plugin'
import Redis from 'ioredis'

declare module 'fastify' {
  interface FastifyInstance {
    /** Null when REDIS_URL is not set: the service then caches in process. */
    redis: Redis | null
    /** 'up' when the response cache can be used right now. */
    cacheStatus (): Promise<'up' | 'down'>
  }
}

const PING_TIMEOUT_MS = 250
const STARTUP_WAIT_MS = 1000

/**
 * The Redis connection behind the response cache. Redis is optional at every
 * moment: the client never queues commands while disconnected (they fail at
 * once and the caller falls back to the database), reconnects in the
 * background, and start-up does not wait for it.
 */
export default fp(async (app) => {
  const url = app.config.redisUrl
  if (url === undefined) {
    app.decorate('redis', null)
    app.decorate('cacheStatus', async () => 'up' as const)
    return
  }
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
    commandTimeout: 500,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000)
  })
  let lastError = ''
  redis.on('error', (err: Error) => {
    if (err.message !== lastError) app.log.warn({ err: { message: err.message } }, 'redis unavailable; serving from the database')
    lastError = err.message
  })
  redis.on('ready', () => { lastError = '' })
  app.decorate('redis', redis)
  app.decorate('cacheStatus', async () => {
    if (redis.status !== 'ready') return 'down' as const
    try {
      await Promise.race([
        redis.ping(),
        new Promise((_resolve, reject) => setTimeout(() => reject(new Error('ping timeout')), PING_TIMEOUT_MS).unref())
      ])
      return 'up' as const
    } catch {
      return 'down' as const
    }
  })
  app.addHook('onClose', async () => { redis.disconnect() })
  // Start with the cache when Redis is there, but never wait long for it.
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, STARTUP_WAIT_MS)
    redis.once('ready', done)
    function done (): void {
      clearTimeout(timer)
      redis.off('ready', done)
      resolve()
    }
  })
}, { name: 'redis', dependencies: ['config'] })
