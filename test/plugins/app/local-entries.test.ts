// In-process copies of Redis cache entries (lib/local-entries.ts): a repeated
// hit is answered from the instance's copy only while the lookup script
// confirms the copy's full key is the current one and Redis still holds it.
// Never after a write on another instance, an expired or deleted entry, or
// an epoch reset; the rate limit is counted on every such hit. And lookups
// issued together share one socket write to Redis.
import zlib from 'node:zlib'
import t from 'tap'
import { redisClient } from '../../../scripts/lib/redis-client'
import { RedisKeys } from '../../../src/lib/redis-keys'
import { as, createUsers, type TestUser } from '../../helpers/api'
import { buildTestApp, REDIS_URL } from '../../helpers/app'
import { createTestDatabase } from '../../helpers/database'
import { startTestRedis } from '../../helpers/redis-server'

const API = '/api/v1'

t.test('a copy is served only while its key is current and Redis holds the entry', async (t) => {
  const db = await createTestDatabase('cache_local')
  t.teardown(db.drop)
  const one = await buildTestApp(t, db.url, { RATE_LIMIT_MAX: '1000' })
  const two = await buildTestApp(t, db.url, { RATE_LIMIT_MAX: '1000' })
  const [alice, admin] = await createUsers(one, db.url, ['member', 'admin']) as [TestUser, TestUser]
  // A list over the 1 KiB compression threshold, so its br bytes are stored beside it.
  for (let i = 0; i < 12; i++) await as(one, alice, { method: 'POST', url: `${API}/organizations`, payload: { name: `Local ${i} ${'z'.repeat(60)}` } })
  const served = (): number => two.responseCache.stats().local!.served
  const url = `${API}/organizations?limit=50`
  const get = async (encoding?: string): Promise<Awaited<ReturnType<typeof as>>> =>
    await as(two, alice, { method: 'GET', url, headers: encoding === undefined ? {} : { 'accept-encoding': encoding } })

  t.equal((await get()).headers['x-cache'], 'MISS')
  const fromRedis = await get()
  t.equal(fromRedis.headers['x-cache'], 'HIT')
  t.equal(served(), 0, 'the first hit carries the bytes from Redis')
  const local = await get()
  t.equal(local.headers['x-cache'], 'HIT')
  t.equal(served(), 1, 'the next one is answered from the copy')
  t.equal(local.body, fromRedis.body, 'the same body')
  t.equal(local.headers.etag, fromRedis.headers.etag)
  t.equal(Number(local.headers['x-ratelimit-remaining']), Number(fromRedis.headers['x-ratelimit-remaining']) - 1, 'the rate limit counted it')

  // Coded bytes: their own copy, under the coded key.
  for (let i = 0; i < 3; i++) await get('br') // compressed once, stored, then read from Redis
  const before = served()
  const coded = await get('br')
  t.equal(coded.headers['x-cache'], 'HIT')
  t.equal(coded.headers['content-encoding'], 'br')
  t.equal(served(), before + 1, 'a br hit from the copy')
  t.equal(zlib.brotliDecompressSync(coded.rawPayload).toString('utf8'), fromRedis.body, 'the br copy decodes to the identity body')

  // A write on the other instance: the key two builds changes at once.
  await as(one, alice, { method: 'POST', url: `${API}/organizations`, payload: { name: 'Written elsewhere' } })
  const afterWrite = served()
  const fresh = await get()
  t.not(fresh.headers['x-cache'], 'HIT', 'never the copy after another instance\'s write')
  t.ok(fresh.json().data.some((o: { name: string }) => o.name === 'Written elsewhere'), 'the write is visible')
  t.equal(served(), afterWrite)
  await get()
  t.equal((await get()).json().data.length, 13, 'the new entry is copied in turn')
  t.equal(served(), afterWrite + 1)

  // The entry gone from Redis (expired, evicted, deleted): the copy is not served.
  const redis = redisClient(REDIS_URL)
  t.teardown(() => redis.disconnect())
  const prefix = two.config.redisKeyPrefix
  // The current entry's key, as the lookup script builds it (docs/response-cache.md "Keys and generations").
  const keys = new RedisKeys(prefix)
  const epoch = await redis.get(keys.epoch()) ?? '0'
  const key = `${keys.entryPrefix(alice.id)}${epoch}:${await redis.get(keys.generation(`u:${alice.id}`)) ?? '0'}:${url}`
  t.equal(await redis.del(key), 1, 'the current entry deleted')
  const afterDelete = served()
  t.equal((await get()).headers['x-cache'], 'MISS', 'Redis no longer holds the entry: a miss, not the copy')
  t.equal(served(), afterDelete)

  // The miss stored the entry again under the same key (same counters), on
  // the same connection before the next lookup: the copy is current again.
  await get()
  await get()
  t.equal(served(), afterDelete + 2)

  // An epoch reset (every entry unreachable) as well.
  await redis.incr(keys.epoch())
  t.equal((await get()).headers['x-cache'], 'MISS', 'after an epoch reset: a miss')
  t.equal(served(), afterDelete + 2)

  const runtime = (await as(two, admin, { method: 'GET', url: `${API}/admin/runtime` })).json().cache.local
  t.match(runtime, { entries: Number, bytes: Number, maxBytes: 33554432, served: afterDelete + 2 }, 'admin runtime reports the copies')
  t.ok(runtime.bytes > 0 && runtime.bytes <= runtime.maxBytes)
})

t.test('CACHE_LOCAL_MAX_BYTES=0: no copies, every hit reads the bytes', async (t) => {
  const db = await createTestDatabase('cache_local_off')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url, { CACHE_LOCAL_MAX_BYTES: '0' })
  const [admin] = await createUsers(app, db.url, ['admin']) as [TestUser]
  for (let i = 0; i < 3; i++) t.equal((await as(app, admin, { method: 'GET', url: `${API}/users/me` })).statusCode, 200)
  t.equal(app.responseCache.stats().local, undefined)
  t.equal(app.responseCache.stats().hits, 2, 'hits all the same, their bytes read from Redis')
  const runtime = await as(app, admin, { method: 'GET', url: `${API}/admin/runtime` })
  t.equal(runtime.statusCode, 200)
  t.equal(runtime.json().cache.local, undefined)
})

t.test('concurrent lookups share socket writes: Redis reads fewer times than it answers', async (t) => {
  const db = await createTestDatabase('cache_corked')
  t.teardown(db.drop)
  const redis = await startTestRedis() // of its own: nobody else's reads in its counters
  t.teardown(redis.stop)
  const app = await buildTestApp(t, db.url, { REDIS_URL: redis.url, RATE_LIMIT_MAX: '1000' })
  const [alice] = await createUsers(app, db.url, ['member']) as [TestUser]
  const url = `${API}/users/me`
  for (let i = 0; i < 3; i++) await as(app, alice, { method: 'GET', url }) // cached caller, entry and copy
  const stats = redisClient(redis.url)
  t.teardown(() => stats.disconnect())
  const reads = async (): Promise<number> => Number(/total_reads_processed:(\d+)/.exec(await stats.info('stats'))![1])
  const before = await reads()
  const answers = await Promise.all(Array.from({ length: 20 }, async () => await as(app, alice, { method: 'GET', url })))
  const after = await reads()
  t.same(answers.map((a) => a.headers['x-cache']), Array(20).fill('HIT'))
  t.same(new Set(answers.map((a) => a.headers['x-ratelimit-remaining'])).size, 20, 'each counted on its own by the one script')
  // 20 lookups; the INFO call itself is a read too. One write per event-loop turn, not per lookup.
  t.ok(after - before - 1 < 10, `20 hits, ${after - before - 1} socket reads by Redis`)
})
