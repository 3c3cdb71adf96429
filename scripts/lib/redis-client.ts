import Redis, { type RedisOptions } from 'ioredis'

/**
 * An ioredis client that always has an 'error' listener. Without one, ioredis
 * prints "[ioredis] Unhandled error event: …" to stderr for every failed
 * (re)connection attempt, e.g. each ECONNREFUSED while a test's own Redis is
 * starting or stopped, although the commands and connect() that fail reject
 * on their own. The errors go to `onError` (by default nowhere): connect()
 * rejects with only "Connection is closed.", so a caller that wants the cause
 * (ECONNREFUSED, …) keeps it from there.
 */
export function redisClient (url: string, options: RedisOptions = {}, onError: (err: Error) => void = () => {}): Redis {
  const client = new Redis(url, options)
  client.on('error', onError)
  return client
}
