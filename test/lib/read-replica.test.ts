// The read replica's building blocks: WAL positions as numbers, and the
// stores of write positions (a real Redis, and the in-process one), which
// must never lower a position: writes record out of order under concurrency.
import t, { type Test } from 'tap'
import Redis from 'ioredis'
import { lastRecordEnd, MemoryWriteLsnStore, parseLsn, RedisWriteLsnStore, type WriteLsnStore } from '../../src/lib/read-replica'
import { RedisKeys } from '../../src/lib/redis-keys'
import { REDIS_URL } from '../helpers/app'
import { removeRedisKeys } from '../../scripts/lib/redis-keys'

t.test('LSNs: "X/Y" is X·2^32 + Y, ordered as PostgreSQL orders them', async (t) => {
  t.equal(parseLsn('0/0'), 0)
  t.equal(parseLsn('16/B374D848'), 0x16B374D848)
  t.equal(parseLsn('FFFF/FFFFFFFF'), 0xFFFF * 2 ** 32 + 0xFFFFFFFF)
  t.ok(parseLsn('1/0') > parseLsn('0/FFFFFFFF'))
  t.throws(() => parseLsn('16-B374D848'), /not an LSN/)
  t.throws(() => parseLsn(''), /not an LSN/)
})

t.test('the end of the last record: a page or segment header after a boundary is not WAL a replica replays', async (t) => {
  t.equal(lastRecordEnd(3 * 8192 + 24), 3 * 8192)
  t.equal(lastRecordEnd(5 * 16 * 1024 * 1024 + 40), 5 * 16 * 1024 * 1024)
  t.equal(lastRecordEnd(3 * 8192 + 100), 3 * 8192 + 100)
  t.equal(lastRecordEnd(3 * 8192), 3 * 8192)
})

async function raisesOnly (t: Test, store: WriteLsnStore): Promise<void> {
  t.equal(await store.get('u:nobody'), 0, 'an unknown generation has position 0')
  await store.raise(['all', 'u:a'], 500)
  await store.raise(['all'], 300) // an earlier write recorded late
  await store.raise(['u:b', 'u:b'], 700)
  t.equal(await store.get('all'), 500)
  t.equal(await store.get('u:a'), 500)
  t.equal(await store.get('u:b'), 700)
  await store.raise(['all'], 900)
  t.equal(await store.get('all'), 900)
}

t.test('in process: positions only grow', async (t) => {
  await raisesOnly(t, new MemoryWriteLsnStore(60_000))
})

t.test('in Redis: positions only grow, and expire', async (t) => {
  const redis = new Redis(REDIS_URL, { lazyConnect: true })
  await redis.connect()
  const prefix = `crm:test:${process.pid}:lsn-store:`
  t.teardown(async () => {
    redis.disconnect()
    await removeRedisKeys(REDIS_URL, prefix, () => {}, (line) => process.stderr.write(`${line}\n`))
  })
  await raisesOnly(t, new RedisWriteLsnStore(redis, prefix, 60_000))
  const ttl = await redis.pttl(new RedisKeys(prefix).writeLsn('all'))
  t.ok(ttl > 0 && ttl <= 60_000, `a TTL is set (${ttl} ms)`)
  // A second store on the same client (a second app in one process) reuses the script.
  t.equal(await new RedisWriteLsnStore(redis, prefix, 60_000).get('u:b'), 700)
})
