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
//
// Each entry holds the identity body; the bytes of a content coding (br,
// gzip) are stored beside it, under the entry's key + "\n" + coding (a URL
// holds no newline), when an answer first needed them. A hit asking for a
// coding reads those bytes and compresses nothing.
import { createHash } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { Coding } from './compression'
import type { LocalEntries } from './local-entries'
import { COUNTED_LOOKUP_LUA, type RateWindow } from './rate-limit'
import { RedisKeys, type RedisClient } from './redis-keys'

export interface CachedResponse {
  etag: string
  contentType: string
  /** The serialized body: a string when just rendered, bytes when read back from Redis (sent as they are, no re-encoding). */
  payload: string | Buffer
  /** The content coding of payload; absent for identity. */
  coding?: Coding
}

export interface CacheLookup {
  /** The entry's key under the current generations: where a miss is stored. */
  key: string
  /** The representation in the coding asked for when stored, else the identity one. */
  entry?: CachedResponse
}

/** The per-user rate limit counted in the lookup's round trip. */
export interface RateQuery { key: string, windowMs: number }

export interface CacheBackend {
  readonly name: 'redis' | 'memory'
  /**
   * One round trip: counts the request for `rate` (when given, Redis only:
   * `rate` in the answer says it was counted) and, unless that exceeds
   * `max`, reads the generation (and epoch) and `caller`'s entry for
   * `url`, in `coding` when stored so. Throws when the store fails.
   */
  lookup (generation: string, caller: string, url: string, coding?: Coding, rate?: RateQuery & { max: number }): Promise<CacheLookup & { rate?: RateWindow }>
  /** The identity representation, and the coded one an answer already made. */
  store (key: string, entry: CachedResponse, coded?: CachedResponse): Promise<void>
  /** A coding's bytes for an entry stored without them. */
  storeCoded (key: string, coded: CachedResponse): Promise<void>
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

// KEYS[1] epoch, KEYS[2] generation, KEYS[3] rate-limit counter; ARGV[1]
// the caller's entry key prefix, ARGV[2] url, ARGV[3] coding ('' for
// identity), ARGV[4] rate window in ms ('0': not counted), ARGV[5] rate max,
// ARGV[6] the full key of the caller's in-process copy ('' for none:
// local-entries.ts).
// Returns { count, ttl } past the limit, else { count, ttl, key, value, coded }
// with coded 2 (and value '') when the caller's copy is the current entry.
// The entry key is derived inside the script so the lookup, rate limit
// included, is one round trip. A single Redis only: the keys are in two
// slots (redis-keys.ts), and a cluster reads them in two scripts at once
// (response-cache-cluster.ts).
const LOOKUP_SCRIPT = `${COUNTED_LOOKUP_LUA}
local epoch = redis.call('GET', KEYS[1]) or '0'
local gen = redis.call('GET', KEYS[2]) or '0'
local key = ARGV[1] .. epoch .. ':' .. gen .. ':' .. ARGV[2]
if ARGV[3] ~= '' then
  local ckey = key .. '\\n' .. ARGV[3]
  if ARGV[6] == ckey and redis.call('EXISTS', ckey) == 1 then return { count, ttl, key, '', 2 } end
  local coded = redis.call('GET', ckey)
  if coded then return { count, ttl, key, coded, 1 } end
end
if ARGV[6] == key and redis.call('EXISTS', key) == 1 then return { count, ttl, key, '', 2 } end
return { count, ttl, key, redis.call('GET', key), 0 }
`

/**
 * The epoch's next value: above the current one and at least Redis' clock in
 * microseconds. A Redis that lost the epoch (restarted empty, or a replica
 * promoted without its last writes) may still sit beside entries made under
 * older values (on a cluster the entries live on other masters); a value
 * from the clock is one no earlier epoch had. Lua numbers are doubles: exact
 * up to 2^53 µs (year 2255). Sets the script's local `epoch`.
 */
export const EPOCH_NEXT_LUA = `
  local now = redis.call('TIME')
  epoch = string.format('%d', math.max(tonumber(redis.call('GET', KEYS[1]) or '0') + 1, tonumber(now[1]) * 1000000 + tonumber(now[2])))
  redis.call('SET', KEYS[1], epoch)
`
// Into the local `epoch` (Redis forbids globals in scripts).
const EPOCH_BUMP_SCRIPT = `local epoch
${EPOCH_NEXT_LUA}
return epoch`

type LookupReply = [number, number] | [number, number, Buffer, Buffer | null, number]
type LookupCommand = (epochKey: string, generationKey: string, rateKey: string,
  entryPrefix: string, url: string, coding: string, windowMs: number, max: number, held: string) => Promise<LookupReply>

/** Where a coding's bytes of the entry at `key` live. */
export function codedKey (key: string, coding: Coding): string {
  return `${key}\n${coding}`
}

export class RedisCacheBackend implements CacheBackend {
  readonly name = 'redis' as const
  /**
   * Set when an invalidation may have been lost (a bump failed, or the
   * connection dropped: Redis may have restarted from an older snapshot).
   * The next lookup first bumps the epoch, which empties the whole cache
   * for every instance, and bypasses the cache until that succeeds.
   */
  protected epochStale = false
  protected readonly keys: RedisKeys
  /** The socket corked until the end of this event-loop turn (see lookup), if any. */
  private corked: { uncork: () => void } | undefined

  /**
   * @param prefix REDIS_KEY_PREFIX; the key layout is redis-keys.ts.
   * @param local in-process copies of entries read, so a repeated hit carries no bytes back (absent: none).
   */
  constructor (protected readonly redis: RedisClient, private readonly ttlSeconds: number, prefix: string, readonly local?: LocalEntries) {
    this.keys = new RedisKeys(prefix)
    redis.defineCommand('crmCacheLookup', { numberOfKeys: 3, lua: LOOKUP_SCRIPT })
    redis.defineCommand('crmEpochBump', { numberOfKeys: 1, lua: EPOCH_BUMP_SCRIPT })
    redis.on('close', () => { this.epochStale = true })
  }

  usable (): boolean {
    return this.redis.status === 'ready'
  }

  /** Bumps the epoch first when an invalidation may have been lost (see epochStale). */
  protected async resetIfStale (): Promise<void> {
    if (!this.epochStale) return
    await (this.redis as unknown as { crmEpochBump: (key: string) => Promise<unknown> }).crmEpochBump(this.keys.epoch())
    this.epochStale = false
  }

  async lookup (generation: string, caller: string, url: string, coding?: Coding,
    rate?: RateQuery & { max: number }): Promise<CacheLookup & { rate?: RateWindow }> {
    await this.resetIfStale()
    this.corkThisTurn()
    // The Buffer variant ioredis defines beside every custom command: replies as bytes.
    const lookup = (this.redis as unknown as { crmCacheLookupBuffer: LookupCommand }).crmCacheLookupBuffer
    const held = this.local?.held(generation, `${caller}:${url}`, coding)
    const reply = await lookup.call(this.redis, this.keys.epoch(), this.keys.generation(generation), rate?.key ?? this.keys.rate(caller),
      this.keys.entryPrefix(caller), url, coding ?? '', rate?.windowMs ?? 0, rate?.max ?? 0, held?.key ?? '')
    const counted = rate === undefined ? undefined : { current: reply[0], ttlMs: reply[1] }
    if (reply.length === 2) return { key: '', rate: counted }
    const [, , keyBytes, value, coded] = reply
    const key = keyBytes.toString()
    if (coded === 2 && held !== undefined) {
      this.local!.served++
      return { key, entry: held.entry, rate: counted }
    }
    if (value === null) return { key, rate: counted }
    const entry = decodeBytes(value)
    if (coded === 1) entry.coding = coding
    this.local?.remember(generation, `${caller}:${url}`, coding, coded === 1 ? codedKey(key, coding!) : key, entry)
    return { key, entry, rate: counted }
  }

  /**
   * Lookups issued in one event-loop turn (every request parsed in it) leave
   * in one socket write: the connection is corked until setImmediate. Each
   * write to Redis cost a wake-up of Redis and kernel work (a tenth of a
   * hit's CPU); batched, those are shared. Each command keeps its own
   * timeout, and nothing waits longer than the rest of the turn.
   */
  private corkThisTurn (): void {
    // A single Redis' socket; a cluster client has one per node, and is not corked.
    const stream = (this.redis as { stream?: { cork: () => void, uncork: () => void } }).stream
    if (this.corked !== undefined || stream === undefined) return
    stream.cork()
    this.corked = stream
    setImmediate(() => {
      this.corked = undefined
      stream.uncork()
    })
  }

  async store (key: string, entry: CachedResponse, coded?: CachedResponse): Promise<void> {
    if (coded?.coding === undefined) {
      await this.redis.set(key, encode(entry), 'EX', this.ttlSeconds)
      return
    }
    // One round trip for both.
    const results = await this.redis.pipeline()
      .set(key, encode(entry), 'EX', this.ttlSeconds)
      .set(codedKey(key, coded.coding), encode(coded), 'EX', this.ttlSeconds)
      .exec()
    const failed = results?.find(([err]) => err !== null)?.[0]
    if (failed != null) throw failed
  }

  async storeCoded (key: string, coded: CachedResponse): Promise<void> {
    if (coded.coding === undefined) return
    await this.redis.set(codedKey(key, coded.coding), encode(coded), 'EX', this.ttlSeconds)
  }

  async bump (generations: string[]): Promise<void> {
    const pipeline = this.redis.pipeline()
    for (const generation of generations) pipeline.incr(this.keys.generation(generation))
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
  private readonly entries: LRUCache<string, CachedResponse & { codings?: Map<Coding, CachedResponse> }>
  private readonly generations = new Map<string, number>()

  constructor (ttlSeconds: number, maxEntries: number) {
    this.entries = new LRUCache({ max: maxEntries, ttl: ttlSeconds * 1000 })
  }

  usable (): boolean {
    return true
  }

  /** Never counts `rate` (the rate limit counts in process itself without Redis). */
  async lookup (generation: string, caller: string, url: string, coding?: Coding): Promise<CacheLookup> {
    const key = `${this.generations.get(generation) ?? 0}:${caller}:${url}`
    const stored = this.entries.get(key)
    if (stored === undefined) return { key }
    const entry = (coding === undefined ? undefined : stored.codings?.get(coding)) ?? stored
    return { key, entry }
  }

  async store (key: string, entry: CachedResponse, coded?: CachedResponse): Promise<void> {
    this.entries.set(key, coded?.coding === undefined ? { ...entry } : { ...entry, codings: new Map([[coded.coding, coded]]) })
  }

  async storeCoded (key: string, coded: CachedResponse): Promise<void> {
    const stored = this.entries.get(key)
    if (stored === undefined || coded.coding === undefined) return
    stored.codings ??= new Map()
    stored.codings.set(coded.coding, coded)
  }

  async bump (generations: string[]): Promise<void> {
    for (const generation of generations) this.generations.set(generation, (this.generations.get(generation) ?? 0) + 1)
  }
}
