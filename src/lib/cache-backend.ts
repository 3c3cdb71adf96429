// Which store the response cache uses: a Redis Cluster, one Redis, or (no
// Redis configured) the in-process LRU. Apart from response-cache.ts so the
// cluster variant, which extends the single-Redis one, imports it without a cycle.
import type { Cluster } from 'ioredis'
import type { AppConfig } from './config'
import { LocalEntries } from './local-entries'
import type { RedisClient } from './redis-keys'
import { MemoryCacheBackend, RedisCacheBackend, type CacheBackend } from './response-cache'
import { RedisClusterCacheBackend } from './response-cache-cluster'

/**
 * With one Redis, also the in-process copies of entries (local-entries.ts,
 * CACHE_LOCAL_MAX_BYTES); a cluster's lookup reads the body every time.
 */
export function createCacheBackend (config: AppConfig, redis: RedisClient | undefined): { backend: CacheBackend, local?: LocalEntries } {
  const ttl = config.cacheTtlSeconds
  if (redis === undefined) return { backend: new MemoryCacheBackend(ttl, config.cacheMaxEntries) }
  if (config.redisClusterNodes !== undefined) return { backend: new RedisClusterCacheBackend(redis as Cluster, ttl, config.redisKeyPrefix) }
  const local = config.cacheLocalMaxBytes > 0 ? new LocalEntries(config.cacheLocalMaxBytes, ttl) : undefined
  return { backend: new RedisCacheBackend(redis, ttl, config.redisKeyPrefix, local), local }
}
