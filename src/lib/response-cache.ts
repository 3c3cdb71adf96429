// Storage for the response cache (plugins/response-cache.ts): Redis shared
// by every instance, or an in-process LRU when REDIS_URL is unset.
//
// Invalidation by generations, never by deleting keys: every entry's key
// embeds the current value of one generation counter (per owner for a
// member's views, one for the admins' global views, one for the dashboard),
// plus an epoch. A write bumps the counters of what it touched before its
// response is sent; from then on every reader builds keys with the new
// values, so older entries are unreachable (they expire by TTL). No KEYS, no
// SCAN: invalidation costs O(counters touched), whatever the number of keys.
import { createHash } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type Redis from 'ioredis'

export interface CachedResponse {
  etag: string
  contentType: string
  /** The serialized body: a string when just rendered, bytes when read back from Redis (sent as they are, no re-encoding). */
  payload: string | Buffer
}

export interface CacheLookup {
  /** The entry's key under the current generations: where a miss is stored. */
  key: string
  entry?: CachedResponse
}

export interface CacheBackend {
  readonly name: 'redis' | 'memory'
  /** One round trip: reads the generation (and epoch) and the entry. Throws when the store fails. */
  lookup (generation: string, suffix: string): Promise<CacheLookup>
  store (key: string, entry: CachedResponse): Promise<void>
  /** One round trip: increments the named generations. */
  bump (generations: string[]): Promise<void>
  /** False while entries cannot be trusted or reached (lookups then bypass the cache). */
  usable (): boolean
}

export function encode (entry: CachedResponse): string | Buffer {
  const head = `${entry.etag}\n${entry.contentType}\n`
  return typeof entry.payload === 'string' ? head + entry.payload : Buffer.concat([Buffer.from(head, 'latin1'), entry.payload])
}

export function decode (value: string): CachedResponse {
  const first = value.indexOf('\n')
  const second = value.indexOf('\n', first + 1)
  return { etag: value.slice(0, first), contentType: value.slice(first + 1, second), payload: value.slice(second + 1) }
}

/**
 * decode() over the raw bytes: the body stays a slice of the reply's buffer,
 * so a hit is neither decoded from UTF-8 into a string nor encoded back when
 * written to the socket (at 15 KB a page, those two were the largest costs
 * of a hit).
 */
export function decodeBytes (value: Buffer): CachedResponse {
  const first = value.indexOf(10)
  const second = value.indexOf(10, first + 1)
  return { etag: value.toString('latin1', 0, first), contentType: value.toString('latin1', first + 1, second), payload: value.subarray(second + 1) }
}

/** A strong ETag over the serialized body. */
export function payloadEtag (payload: string): string {
  return `"${createHash('sha1').update(payload).digest('base64url')}"`
}

// KEYS[1] epoch, KEYS[2] generation; ARGV[1] entry key prefix, ARGV[2] suffix. Returns { key, value }.
// The entry key is derived inside the script so the lookup is one round
// trip (a single Redis, not a cluster: the entry key is not declared).
const LOOKUP_SCRIPT = `
local epoch = redis.call('GET', KEYS[1]) or '0'
local gen = redis.call('GET', KEYS[2]) or '0'
local key = ARGV[1] .. epoch .. ':' .. gen .. ':' .. ARGV[2]
return { key, redis.call('GET', key) }
`

type LookupCommand = (epochKey: string, generationKey: string, entryPrefix: string, suffix: string) => Promise<[Buffer, Buffer | null]>

/**
 * The epoch counter under REDIS_KEY_PREFIX `prefix`: part of every entry's
 * key, so one INCR of it makes every entry unreachable for every instance.
 * Exported for tools that change the data behind the service's back (npm run db:seed).
 */
export function epochKey (prefix: string): string {
  return `${prefix}g:epoch`
}

export class RedisCacheBackend implements CacheBackend {
  readonly name = 'redis' as const
  /**
   * Set when an invalidation may have been lost (a bump failed, or the
   * connection dropped: Redis may have restarted from an older snapshot).
   * The next lookup first bumps the epoch, which empties the whole cache
   * for every instance, and bypasses the cache until that succeeds.
   */
  private epochStale = false

  /** @param prefix REDIS_KEY_PREFIX: generations are `<prefix>g:<name>`, entries `<prefix>r:<epoch>:<generation>:<user>:<url>`. */
  constructor (private readonly redis: Redis, private readonly ttlSeconds: number, private readonly prefix: string) {
    redis.defineCommand('crmCacheLookup', { numberOfKeys: 2, lua: LOOKUP_SCRIPT })
    redis.on('close', () => { this.epochStale = true })
  }

  usable (): boolean {
    return this.redis.status === 'ready'
  }

  async lookup (generation: string, suffix: string): Promise<CacheLookup> {
    if (this.epochStale) {
      await this.redis.incr(epochKey(this.prefix))
      this.epochStale = false
    }
    // The Buffer variant ioredis defines beside every custom command: replies as bytes.
    const lookup = (this.redis as unknown as { crmCacheLookupBuffer: LookupCommand }).crmCacheLookupBuffer
    const [key, value] = await lookup.call(this.redis, epochKey(this.prefix), `${this.prefix}g:${generation}`, `${this.prefix}r:`, suffix)
    return value === null ? { key: key.toString() } : { key: key.toString(), entry: decodeBytes(value) }
  }

  async store (key: string, entry: CachedResponse): Promise<void> {
    await this.redis.set(key, encode(entry), 'EX', this.ttlSeconds)
  }

  async bump (generations: string[]): Promise<void> {
    const pipeline = this.redis.pipeline()
    for (const generation of generations) pipeline.incr(`${this.prefix}g:${generation}`)
    try {
      const results = await pipeline.exec()
      const failed = results?.find(([err]) => err !== null)
      if (results === null || failed !== undefined) throw failed?.[0] ?? new Error('redis pipeline failed')
    } catch (err) {
      this.epochStale = true
      throw err
    }
  }
}

export class MemoryCacheBackend implements CacheBackend {
  readonly name = 'memory' as const
  private readonly entries: LRUCache<string, CachedResponse>
  private readonly generations = new Map<string, number>()

  constructor (ttlSeconds: number, maxEntries: number) {
    this.entries = new LRUCache({ max: maxEntries, ttl: ttlSeconds * 1000 })
  }

  usable (): boolean {
    return true
  }

  async lookup (generation: string, suffix: string): Promise<CacheLookup> {
    const key = `${this.generations.get(generation) ?? 0}:${suffix}`
    const entry = this.entries.get(key)
    return entry === undefined ? { key } : { key, entry }
  }

  async store (key: string, entry: CachedResponse): Promise<void> {
    this.entries.set(key, entry)
  }

  async bump (generations: string[]): Promise<void> {
    for (const generation of generations) this.generations.set(generation, (this.generations.get(generation) ?? 0) + 1)
  }
}
