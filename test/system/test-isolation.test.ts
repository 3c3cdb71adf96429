// What a test file leaves in the shared Redis: nothing. Cache generations
// have no TTL, so keys a file does not remove pile up run after run
// (helpers/app.ts, closeOnTeardown). They stay while any app of the file is
// still open, which relies on them.
import t from 'tap'
import { redisClient } from '../../scripts/lib/redis-client'
import { RedisKeys } from '../../src/lib/redis-keys'
import { as, createUsers, type TestUser } from '../helpers/api'
import { buildTestApp, REDIS_URL } from '../helpers/app'
import { createTestDatabase } from '../helpers/database'

const PREFIX = `crm:test:${process.pid}:`

/** Every key under this process' prefix, by SCAN (never KEYS on a shared server). */
async function keysUnderPrefix (): Promise<string[]> {
  const redis = redisClient(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await redis.connect()
    const keys: string[] = []
    let cursor = '0'
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000)
      cursor = next
      keys.push(...batch)
    } while (cursor !== '0')
    return keys.sort()
  } finally {
    redis.disconnect()
  }
}

t.test('test apps remove their keys from the shared Redis once the last of them closes', async (t) => {
  const db = await createTestDatabase('isolation')
  t.teardown(db.drop)
  t.same(await keysUnderPrefix(), [], `nothing under ${PREFIX} before`)

  await t.test('an app open for the whole subtest', async (t) => {
    const outer = await buildTestApp(t, db.url)
    const [alice] = await createUsers(outer, db.url, ['member']) as [TestUser]

    await t.test('a second app, closed first', async (t) => {
      const inner = await buildTestApp(t, db.url)
      t.equal((await as(inner, alice, { method: 'POST', url: '/api/v1/organizations', payload: { name: 'Leaves keys' } })).statusCode, 201)
      t.equal((await as(inner, alice, { method: 'GET', url: '/api/v1/organizations' })).headers['x-cache'], 'MISS')
    })
    const kept = await keysUnderPrefix()
    t.ok(kept.some((key) => key.startsWith(new RedisKeys(PREFIX).generation(''))), 'the write\'s cache generations are still there for the app that is open')
    const cached = await as(outer, alice, { method: 'GET', url: '/api/v1/organizations' })
    t.equal(cached.headers['x-cache'], 'HIT', 'and the open app still answers from the entry the closed one cached')
    t.same(cached.json().data.map((o: { name: string }) => o.name), ['Leaves keys'])
  })

  t.same(await keysUnderPrefix(), [], 'after the last app closed: no key left under the prefix')
})
