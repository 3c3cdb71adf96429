// A seed replaces the data behind a running service's back, so the answers
// it has cached describe rows that are gone. With Redis, one INCR of the
// response cache's epoch (lib/response-cache.ts) makes every cached entry
// unreachable for every instance; the in-process cache (no REDIS_URL) lives
// in the service's memory, which this process cannot reach.
import Redis, { Cluster } from 'ioredis'
import type { AppConfig } from '../../src/lib/config'
import { RedisKeys } from '../../src/lib/redis-keys'
import { redactUrl } from '../lib/urls'

// A one-off command after a seed of seconds or minutes: it can wait for a slow Redis.
const REDIS_TIMEOUT_MS = 5000

export type CacheInvalidation =
  | { outcome: 'bumped'; key: string; epoch: number }
  | { outcome: 'unreachable'; url: string; reason: string }
  | { outcome: 'in-process' }

/** Bumps the epoch under the service's REDIS_KEY_PREFIX. Never throws: an unreachable Redis is an outcome. */
export async function bumpCacheEpoch (config: Pick<AppConfig, 'redisUrl' | 'redisClusterNodes' | 'redisKeyPrefix'>): Promise<CacheInvalidation> {
  const nodes = config.redisClusterNodes
  if (config.redisUrl === undefined && nodes === undefined) return { outcome: 'in-process' }
  const options = {
    lazyConnect: true,
    connectTimeout: REDIS_TIMEOUT_MS,
    commandTimeout: REDIS_TIMEOUT_MS,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null
  }
  const where = config.redisUrl === undefined ? nodes!.map(({ host, port }) => `${host}:${port}`).join(',') : redactUrl(config.redisUrl)
  const redis = config.redisUrl === undefined
    ? new Cluster(nodes!, { lazyConnect: true, enableOfflineQueue: false, clusterRetryStrategy: () => null, redisOptions: options })
    : new Redis(config.redisUrl, options)
  // connect() then rejects with only "Connection is closed."; the cause (e.g. ECONNREFUSED) comes as an 'error' event.
  let cause: string | undefined
  redis.on('error', (err: Error) => { cause ??= err.message })
  try {
    await redis.connect()
    const key = new RedisKeys(config.redisKeyPrefix).epoch()
    return { outcome: 'bumped', key, epoch: await redis.incr(key) }
  } catch (err) {
    return { outcome: 'unreachable', url: where, reason: cause ?? (err as Error).message }
  } finally {
    redis.disconnect()
  }
}

/** What to tell the person who ran the seed; `warning` lines go to stderr. */
export function describeInvalidation (result: CacheInvalidation, ttlSeconds: number): { warning: boolean; line: string } {
  const stale = `may answer from the data before this seed for up to ${ttlSeconds} s (CACHE_TTL_SECONDS)`
  switch (result.outcome) {
    case 'bumped':
      return { warning: false, line: `cache: bumped ${result.key} to ${result.epoch}: every service instance using this Redis answers from the new data` }
    case 'unreachable':
      return { warning: true, line: `warning: could not reach Redis at ${result.url} (${result.reason}) to invalidate the response cache: a running service ${stale}` }
    case 'in-process':
      return { warning: false, line: `cache: REDIS_URL is not set, so a running service keeps its cache in its own memory, which this process cannot reach: restart it, or it ${stale}` }
  }
}
