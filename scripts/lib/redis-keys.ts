import { redisClient } from './redis-client'

/**
 * Deletes every Redis key under `prefix` (a run's cache entries would expire;
 * its generation and rate-limit counters would not). SCAN is fine here: a
 * one-off cleanup, never on the service's request path. Never throws: a
 * cleanup that fails is reported through `warn` (by default `log`), with the
 * cause. Resolves with the number of keys removed.
 */
export async function removeRedisKeys (
  url: string,
  prefix: string,
  log: (line: string) => void = (line) => console.log(line),
  warn: (line: string) => void = log
): Promise<number> {
  let cause: string | undefined
  const redis = redisClient(url, { lazyConnect: true, maxRetriesPerRequest: 1 }, (err) => { cause ??= err.message })
  let removed = 0
  try {
    await redis.connect()
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) removed += await redis.unlink(...keys)
    } while (cursor !== '0')
    log(`removed ${removed} Redis keys under ${prefix}`)
  } catch (err) {
    warn(`could not remove the Redis keys under ${prefix}: ${cause ?? (err as Error).message}`)
  } finally {
    redis.disconnect()
  }
  return removed
}
