// The per-user rate limit's counters (plugins/app/rate-limit.ts): a fixed
// window per user, in Redis so every instance shares it, or in process
// without REDIS_URL. The Redis counting is one Lua fragment, run on its own
// for requests the response cache does not answer, and inside the cache's
// lookup script for cached GETs, so a hit costs one round trip in all.
import { LRUCache } from 'lru-cache'
import { RedisKeys, type RedisClient } from './redis-keys'

export interface RateWindow {
  /** Requests counted in the current window, this one included. */
  current: number
  /** Until the window resets. */
  ttlMs: number
}

export interface RateCounter {
  /** Counts one request of `key`; throws when the store fails. */
  count (key: string, windowMs: number): Promise<RateWindow>
}

/**
 * Counts KEYS[3] in a window of ARGV[4] ms into the locals `count` and
 * `ttl`: the first request of a window starts it, later ones keep its end
 * (as @fastify/rate-limit did: requests past the limit still count, and do
 * not extend the window).
 */
export const RATE_COUNT_LUA = `
  count = redis.call('INCR', KEYS[3])
  if count == 1 then
    redis.call('PEXPIRE', KEYS[3], ARGV[4])
    ttl = tonumber(ARGV[4])
  else
    ttl = redis.call('PTTL', KEYS[3])
    if ttl < 0 then
      redis.call('PEXPIRE', KEYS[3], ARGV[4])
      ttl = tonumber(ARGV[4])
    end
  end
`

/**
 * Counts the request into `count` and `ttl` (unless ARGV[4] is '0') and
 * returns { count, ttl } past ARGV[5]: the start of every lookup script,
 * single Redis or cluster, which then reads the entry.
 */
export const COUNTED_LOOKUP_LUA = `
local count, ttl = 0, 0
if ARGV[4] ~= '0' then
${RATE_COUNT_LUA}
  if count > tonumber(ARGV[5]) then return { count, ttl } end
end
`

// The same positions as the lookup script, so the fragment is shared as is.
const COUNT_SCRIPT = `
local count, ttl = 0, 0
${RATE_COUNT_LUA}
return { count, ttl }
`

type CountCommand = (unused1: string, unused2: string, key: string, a1: string, a2: string, a3: string, windowMs: number) => Promise<[number, number]>

export class RedisRateCounter implements RateCounter {
  private readonly keys: RedisKeys

  /** @param prefix REDIS_KEY_PREFIX; the key layout is redis-keys.ts. */
  constructor (private readonly redis: RedisClient, prefix: string) {
    this.keys = new RedisKeys(prefix)
    redis.defineCommand('crmRateCount', { numberOfKeys: 3, lua: COUNT_SCRIPT })
  }

  /** The Redis key counting `id`'s requests (in the slot of `id`'s cache entries). */
  keyOf (id: string): string {
    return this.keys.rate(id)
  }

  async count (id: string, windowMs: number): Promise<RateWindow> {
    const key = this.keyOf(id)
    const command = (this.redis as unknown as { crmRateCount: CountCommand }).crmRateCount
    // KEYS[1], KEYS[2] and ARGV[1..3] are the lookup script's; unused here (the key itself for KEYS, so all keys are one slot).
    const [current, ttlMs] = await command.call(this.redis, key, key, key, '', '', '', windowMs)
    return { current, ttlMs }
  }
}

export class MemoryRateCounter implements RateCounter {
  private readonly windows: LRUCache<string, { count: number, resetAt: number }>

  constructor (maxKeys: number) {
    this.windows = new LRUCache({ max: maxKeys })
  }

  async count (id: string, windowMs: number): Promise<RateWindow> {
    const now = Date.now()
    let window = this.windows.get(id)
    if (window === undefined || window.resetAt <= now) {
      window = { count: 0, resetAt: now + windowMs }
      this.windows.set(id, window)
    }
    window.count++
    return { current: window.count, ttlMs: window.resetAt - now }
  }
}
