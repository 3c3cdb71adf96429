// Which store the response cache uses: a Redis Cluster, one Redis, or (no
// Redis configured) the in-process LRU. Apart from response-cache.ts so the
// cluster variant, which extends the single-Redis one, imports it without a cycle.
import type { Cluster } from 'ioredis'
import type { AppConfig } from './config'
import type { RedisClient } from './redis-keys'
import { MemoryCacheBackend, RedisCacheBackend, type CacheBackend } from './response-cache'
import { RedisClusterCacheBackend } from './response-cache-cluster'

export function createCacheBackend (config: AppConfig, redis: RedisClient | undefined): CacheBackend {
  if (redis === undefined) return new MemoryCacheBackend(config.cacheTtlSeconds, config.cacheMaxEntries)
  return config.redisClusterNodes !== undefined
    ? new RedisClusterCacheBackend(redis as Cluster, config.cacheTtlSeconds, config.redisKeyPrefix)
    : new RedisCacheBackend(redis, config.cacheTtlSeconds, config.redisKeyPrefix)
}
