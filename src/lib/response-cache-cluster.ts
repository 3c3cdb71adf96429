// The Redis response cache on a Redis Cluster (REDIS_CLUSTER_NODES). The
// single-Redis lookup script reads the epoch and a generation (slot `{g}`)
// and the caller's rate counter and entry (slot `{u:<id>}`) at once; a
// cluster refuses a script across slots. So a lookup sends two commands at
// the same time, one per slot, and still waits one round trip:
//
// 1. A script reading the epoch and the generation, on `{g}`: the values the
//    entry's key is built from, read fresh on every lookup (from the master:
//    a replica may lag).
// 2. A script on `{u:<id>}` that counts the rate limit and reads the entry
//    under the key built from the values this instance saw last for that
//    generation (a guess).
//
// If (1) returns the guessed values, (2) read the right key: the lookup is
// what the single script would have returned, as if it had run at the moment
// of (1). Otherwise (a write bumped the generation since) a third command
// reads the entry under the key (1) gives, without counting again. Nothing is
// ever served from a key that (1) did not confirm, so read-your-writes is
// exactly that of the single script (docs/response-cache.md).
import { LRUCache } from 'lru-cache'
import type { Cluster } from 'ioredis'
import type { Coding } from './compression'
import { COUNTED_LOOKUP_LUA, type RateWindow } from './rate-limit'
import { codedKey, decodeBytes, EPOCH_NEXT_LUA, RedisCacheBackend, type CacheLookup, type RateQuery } from './response-cache'

// KEYS[1] the entry, KEYS[2] its coded bytes (KEYS[1] again for identity),
// KEYS[3] the rate counter: one slot. ARGV[3] coding ('' for identity),
// ARGV[4] rate window in ms ('0': not counted), ARGV[5] rate max (the
// positions COUNTED_LOOKUP_LUA and the single-Redis script use).
// Returns { count, ttl } past the limit, else { count, ttl, value, coded }.
const READ_SCRIPT = `${COUNTED_LOOKUP_LUA}
if ARGV[3] ~= '' then
  local coded = redis.call('GET', KEYS[2])
  if coded then return { count, ttl, coded, 1 } end
end
return { count, ttl, redis.call('GET', KEYS[1]), 0 }
`

// KEYS[1] the epoch, KEYS[2] a generation (slot {g}). A missing epoch means
// a new cluster, or a {g} master that came back empty while entries made
// under its old values live on: it starts again from the clock, not from 0.
const GENERATION_SCRIPT = `
local epoch = redis.call('GET', KEYS[1])
if not epoch then
${EPOCH_NEXT_LUA}
end
return { epoch, redis.call('GET', KEYS[2]) or '0' }
`

type GenerationCommand = (epochKey: string, generationKey: string) => Promise<[string, string]>
type ReadReply = [number, number] | [number, number, Buffer | null, number]
type ReadCommand = (entryKey: string, codedKey: string, rateKey: string,
  unused1: string, unused2: string, coding: string, windowMs: number, max: number) => Promise<ReadReply>

/** Generations whose last seen values are kept for the guess: enough for every active user of an instance. */
const REMEMBERED_GENERATIONS = 50_000

export class RedisClusterCacheBackend extends RedisCacheBackend {
  /** Per generation, `<epoch>:<value>` as this instance last read it. */
  private readonly lastSeen = new LRUCache<string, string>({ max: REMEMBERED_GENERATIONS })
  /** Lookups whose guess was wrong (a write came between): admin runtime. */
  guessesMissed = 0

  constructor (cluster: Cluster, ttlSeconds: number, prefix: string) {
    super(cluster, ttlSeconds, prefix)
    cluster.defineCommand('crmCacheRead', { numberOfKeys: 3, lua: READ_SCRIPT })
    cluster.defineCommand('crmCacheGeneration', { numberOfKeys: 2, lua: GENERATION_SCRIPT })
    // A master lost (failed over to a replica that may lack its last
    // writes): its generations may have gone back, like a restarted Redis.
    cluster.on('-node', () => { this.epochStale = true })
  }

  override async lookup (generation: string, caller: string, url: string, coding?: Coding,
    rate?: RateQuery & { max: number }): Promise<CacheLookup & { rate?: RateWindow }> {
    await this.resetIfStale()
    const guess = this.lastSeen.get(generation) ?? '0:0'
    const [values, first] = await Promise.all([
      (this.redis as unknown as { crmCacheGeneration: GenerationCommand }).crmCacheGeneration(this.keys.epoch(), this.keys.generation(generation)),
      this.read(this.entryKey(caller, guess, url), caller, coding, rate)
    ])
    const current = `${values[0]}:${values[1]}`
    this.lastSeen.set(generation, current)
    const counted = rate === undefined ? undefined : { current: first[0], ttlMs: first[1] }
    if (first.length === 2) return { key: '', rate: counted }
    const key = this.entryKey(caller, current, url)
    let reply: ReadReply = first
    if (current !== guess) {
      this.guessesMissed++
      reply = await this.read(key, caller, coding)
    }
    const [, , value, coded] = reply as [number, number, Buffer | null, number]
    if (value === null) return { key, rate: counted }
    const entry = decodeBytes(value)
    if (coded === 1) entry.coding = coding
    return { key, entry, rate: counted }
  }

  private entryKey (caller: string, values: string, url: string): string {
    return `${this.keys.entryPrefix(caller)}${values}:${url}`
  }

  private async read (key: string, caller: string, coding?: Coding, rate?: RateQuery & { max: number }): Promise<ReadReply> {
    const read = (this.redis as unknown as { crmCacheReadBuffer: ReadCommand }).crmCacheReadBuffer
    return await read.call(this.redis, key, coding === undefined ? key : codedKey(key, coding), rate?.key ?? this.keys.rate(caller),
      '', '', coding ?? '', rate?.windowMs ?? 0, rate?.max ?? 0)
  }
}
