// The response cache (contract §4) against real Redis servers and
// PostgreSQL: HIT/MISS/BYPASS, per-user keys, ETag/304, read-your-writes
// across two instances for every kind of write, single flight, Redis
// outages (killed and hung), the in-process fallback, and the number of
// Redis round trips per request.
import zlib from 'node:zlib'
import t from 'tap'
import pg from 'pg'
import type { FastifyInstance } from 'fastify'
import { redisClient } from '../../../scripts/lib/redis-client'
import { RedisKeys } from '../../../src/lib/redis-keys'
import { as, createUsers, type TestUser } from '../../helpers/api'
import { buildTestApp } from '../../helpers/app'
import { createTestDatabase } from '../../helpers/database'
import { startTestRedis } from '../../helpers/redis-server'
import { until } from '../../helpers/wait'

const API = '/api/v1'

t.test('hits, misses, per-user keys, cache headers and conditional GET', async (t) => {
  const db = await createTestDatabase('cache_basic')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url)
  const [admin, alice, bob] = await createUsers(app, db.url, ['admin', 'member', 'member']) as [TestUser, TestUser, TestUser]
  await as(app, alice, { method: 'POST', url: `${API}/organizations`, payload: { name: 'Alice Co' } })
  await as(app, bob, { method: 'POST', url: `${API}/organizations`, payload: { name: 'Bob Co' } })

  const url = `${API}/organizations?limit=10`
  const first = await as(app, alice, { method: 'GET', url })
  t.equal(first.statusCode, 200)
  t.equal(first.headers['x-cache'], 'MISS')
  t.equal(first.headers['cache-control'], 'private, no-cache', 'private: never in a shared cache; no-cache: revalidate before reuse')
  t.match(first.headers.etag, /^"[\w-]+"$/)
  const second = await as(app, alice, { method: 'GET', url })
  t.equal(second.headers['x-cache'], 'HIT')
  t.equal(second.body, first.body, 'the same body')
  t.equal(second.headers.etag, first.headers.etag)
  t.equal(second.headers['cache-control'], 'private, no-cache')
  t.match(second.headers['content-type'], /^application\/json; charset=utf-8/)

  // Same URL, another user: their own entry, never Alice's.
  const bobs = await as(app, bob, { method: 'GET', url })
  t.equal(bobs.headers['x-cache'], 'MISS', 'keys include the user')
  t.same(bobs.json().data.map((o: { name: string }) => o.name), ['Bob Co'])
  t.same((await as(app, bob, { method: 'GET', url })).json().data.map((o: { name: string }) => o.name), ['Bob Co'], 'and the hit is Bob\'s')
  const admins = await as(app, admin, { method: 'GET', url })
  t.equal(admins.headers['x-cache'], 'MISS')
  t.same(admins.json().data.map((o: { name: string }) => o.name).sort(), ['Alice Co', 'Bob Co'])

  // Conditional GET, on a hit and on a miss.
  const notModified = await as(app, alice, { method: 'GET', url, headers: { 'if-none-match': first.headers.etag as string } })
  t.equal(notModified.statusCode, 304)
  t.equal(notModified.body, '')
  t.equal(notModified.headers.etag, first.headers.etag)
  const weak = await as(app, alice, { method: 'GET', url, headers: { 'if-none-match': `W/${first.headers.etag as string}` } })
  t.equal(weak.statusCode, 304, 'If-None-Match compares weakly')
  const other = await as(app, alice, { method: 'GET', url, headers: { 'if-none-match': '"something-else"' } })
  t.equal(other.statusCode, 200)
  const freshUrl = `${API}/organizations?limit=11`
  const missEtag = (await as(app, alice, { method: 'GET', url: freshUrl })).headers.etag as string
  await app.responseCache.invalidate({ owners: [alice.id] })
  const conditionalMiss = await as(app, alice, { method: 'GET', url: freshUrl, headers: { 'if-none-match': missEtag } })
  t.equal(conditionalMiss.headers['x-cache'], 'MISS')
  t.equal(conditionalMiss.statusCode, 304, 'unchanged data after an invalidation: still 304')

  // Only 200s are stored.
  const missing = `${API}/organizations/00000000-0000-4000-8000-000000000000`
  t.equal((await as(app, alice, { method: 'GET', url: missing })).statusCode, 404)
  const again = await as(app, alice, { method: 'GET', url: missing })
  t.equal(again.statusCode, 404)
  t.equal(again.headers['x-cache'], 'MISS', 'a 404 is not stored')
  t.equal(again.headers['cache-control'], 'no-store')

  // Writes and live figures are never stored.
  const write = await as(app, alice, { method: 'POST', url: `${API}/organizations`, payload: { name: 'Another' } })
  t.equal(write.headers['cache-control'], 'no-store')
  t.equal(write.headers['x-cache'], undefined)
  const runtime = await as(app, admin, { method: 'GET', url: `${API}/admin/runtime` })
  t.equal(runtime.headers['x-cache'], undefined)
  t.equal(runtime.headers['cache-control'], 'no-store')
  t.equal((await as(app, admin, { method: 'GET', url: `${API}/admin/runtime` })).headers['x-cache'], undefined)
  t.equal((await app.inject({ method: 'GET', url: '/health' })).headers['cache-control'], undefined, 'outside /api/v1: untouched')
})

t.test('read-your-writes across two instances, for every kind of write', async (t) => {
  const db = await createTestDatabase('cache_ryw')
  t.teardown(db.drop)
  const one = await buildTestApp(t, db.url)
  const two = await buildTestApp(t, db.url)
  const [admin, alice, bob] = await createUsers(one, db.url, ['admin', 'member', 'member']) as [TestUser, TestUser, TestUser]

  /** Reads `url` on both instances until both serve it from the cache; returns the body. */
  const warm = async (user: TestUser, url: string): Promise<unknown> => {
    for (const app of [one, two]) await as(app, user, { method: 'GET', url })
    for (const app of [one, two]) {
      const res = await as(app, user, { method: 'GET', url })
      t.equal(res.headers['x-cache'], 'HIT', `warm: ${url}`)
    }
    return (await as(app2(), user, { method: 'GET', url })).json()
  }
  const app2 = (): FastifyInstance => two
  /** After a write on instance one, instance two serves the new state at once. */
  const fresh = async (user: TestUser, url: string): Promise<{ statusCode: number; body: any }> => {
    const res = await as(two, user, { method: 'GET', url })
    t.not(res.headers['x-cache'], 'HIT', `not a stale hit: ${url}`)
    return { statusCode: res.statusCode, body: res.statusCode === 200 ? res.json() : undefined }
  }
  const write = async (user: TestUser, method: 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object): Promise<any> => {
    const res = await as(one, user, { method, url, ...(payload !== undefined ? { payload } : {}) })
    t.ok(res.statusCode >= 200 && res.statusCode < 300, `${method} ${url} → ${res.statusCode}`)
    return res.statusCode === 204 ? undefined : res.json()
  }
  const LIST = `${API}/organizations?limit=50`

  // Organizations: create, update, delete; the owner's list, the org, the admin's global list.
  await warm(alice, LIST)
  await warm(admin, LIST)
  const org = await write(alice, 'POST', `${API}/organizations`, { name: 'Fresh Org' })
  t.ok((await fresh(alice, LIST)).body.data.some((o: { id: string }) => o.id === org.id), 'create: the owner\'s list')
  t.ok((await fresh(admin, LIST)).body.data.some((o: { id: string }) => o.id === org.id), 'create: the admin\'s global list')
  const ORG = `${API}/organizations/${org.id as string}`
  await warm(alice, ORG)
  await warm(admin, ORG)
  await write(alice, 'PATCH', ORG, { name: 'Renamed Org' })
  t.equal((await fresh(alice, ORG)).body.name, 'Renamed Org', 'update: the org')
  t.equal((await fresh(admin, ORG)).body.name, 'Renamed Org', 'update: the admin\'s view')
  t.ok((await fresh(alice, LIST)).body.data.some((o: { name: string }) => o.name === 'Renamed Org'), 'update: the list')

  // An admin's write to a member's organization reaches that member's views.
  await warm(alice, ORG)
  await write(admin, 'PATCH', ORG, { priorityLevel: 'A' })
  t.equal((await fresh(alice, ORG)).body.priorityLevel, 'A', 'admin write → owner\'s view')
  // Reassignment: both the previous and the new owner's views change.
  await warm(bob, LIST)
  await warm(alice, LIST)
  await write(admin, 'PATCH', ORG, { assignedUserId: bob.id })
  t.ok((await fresh(bob, LIST)).body.data.some((o: { id: string }) => o.id === org.id), 'reassign: the new owner sees it')
  t.notOk((await fresh(alice, LIST)).body.data.some((o: { id: string }) => o.id === org.id), 'reassign: the previous owner no longer does')
  t.equal((await fresh(alice, ORG)).statusCode, 404)
  await write(admin, 'PATCH', ORG, { assignedUserId: alice.id })

  // Contacts: create, update, delete; the contact list, the contact, the org's counts.
  const CONTACTS = `${ORG}/contacts`
  await warm(alice, CONTACTS)
  await warm(alice, ORG)
  const contact = await write(alice, 'POST', CONTACTS, { firstName: 'Ada', lastName: 'Lovelace' })
  t.equal((await fresh(alice, CONTACTS)).body.data.length, 1, 'contact create: the list')
  t.equal((await fresh(alice, ORG)).body.contactCount, 1, 'contact create: the organization\'s count')
  const CONTACT = `${API}/contacts/${contact.id as string}`
  await warm(alice, CONTACT)
  await write(alice, 'PATCH', CONTACT, { title: 'Countess' })
  t.equal((await fresh(alice, CONTACT)).body.title, 'Countess', 'contact update')
  await warm(alice, CONTACTS)
  await write(alice, 'DELETE', CONTACT)
  t.equal((await fresh(alice, CONTACT)).statusCode, 404, 'contact delete: the contact')
  t.equal((await fresh(alice, CONTACTS)).body.data.length, 0, 'contact delete: the list')

  // Interactions: create.
  const INTERACTIONS = `${ORG}/interactions`
  await warm(alice, INTERACTIONS)
  await write(alice, 'POST', INTERACTIONS, { type: 'call', subject: 'Hello' })
  t.equal((await fresh(alice, INTERACTIONS)).body.data.length, 1, 'interaction create')

  // Opportunities: create, update.
  const OPPS = `${ORG}/opportunities`
  await warm(alice, OPPS)
  const opp = await write(alice, 'POST', OPPS, { name: 'Deal', value: '100' })
  t.equal((await fresh(alice, OPPS)).body.data.length, 1, 'opportunity create')
  const OPP = `${API}/opportunities/${opp.id as string}`
  await warm(alice, OPP)
  await write(alice, 'PATCH', OPP, { stage: 'negotiation' })
  t.equal((await fresh(alice, OPP)).body.stage, 'negotiation', 'opportunity update')

  // Organization delete.
  await warm(alice, ORG)
  await warm(admin, LIST)
  await write(alice, 'DELETE', ORG)
  t.equal((await fresh(alice, ORG)).statusCode, 404, 'delete: the org')
  t.notOk((await fresh(admin, LIST)).body.data.some((o: { id: string }) => o.id === org.id), 'delete: the admin\'s list')
  t.equal((await fresh(alice, OPP)).statusCode, 404, 'delete: its opportunities')

  // Users: create and update (the user's own /users/me, the admin list).
  const USERS = `${API}/users?limit=200`
  await warm(admin, USERS)
  const created = await write(admin, 'POST', `${API}/users`, { email: 'new.user@example.test', name: 'New User' })
  t.ok((await fresh(admin, USERS)).body.data.some((u: { id: string }) => u.id === created.id), 'user create')
  await warm(alice, `${API}/users/me`)
  await write(admin, 'PATCH', `${API}/users/${alice.id}`, { name: 'Alice Renamed' })
  t.equal((await fresh(alice, `${API}/users/me`)).body.name, 'Alice Renamed', 'user update: their own /users/me')
})

t.test('the dashboard is as fresh as its last refresh, and a refresh is seen at once', async (t) => {
  const db = await createTestDatabase('cache_dash')
  t.teardown(db.drop)
  const one = await buildTestApp(t, db.url)
  const two = await buildTestApp(t, db.url)
  const [admin, alice] = await createUsers(one, db.url, ['admin', 'member']) as [TestUser, TestUser]
  await as(one, admin, { method: 'POST', url: `${API}/admin/dashboard/refresh` })
  const DASH = `${API}/dashboard`
  t.equal((await as(two, alice, { method: 'GET', url: DASH })).json().totalOrganizations, 0)
  t.equal((await as(two, alice, { method: 'GET', url: DASH })).headers['x-cache'], 'HIT')
  await as(one, alice, { method: 'POST', url: `${API}/organizations`, payload: { name: 'Counted' } })
  const stillCached = await as(two, alice, { method: 'GET', url: DASH })
  t.equal(stillCached.headers['x-cache'], 'HIT', 'an ordinary write does not touch the dashboard (contract: as fresh as its last refresh)')
  t.equal(stillCached.json().totalOrganizations, 0)
  await as(one, admin, { method: 'POST', url: `${API}/admin/dashboard/refresh` })
  const refreshed = await as(two, alice, { method: 'GET', url: DASH })
  t.equal(refreshed.headers['x-cache'], 'MISS', 'a refresh invalidates every instance\'s dashboards')
  t.equal(refreshed.json().totalOrganizations, 1)
})

t.test('single flight: concurrent misses of one key share one database query', async (t) => {
  const db = await createTestDatabase('cache_flight')
  t.teardown(db.drop)
  for (const env of [{}, { REDIS_URL: undefined }]) {
    const app = await buildTestApp(t, db.url, env)
    const [member] = await createUsers(app, db.url, ['member'])
    await as(app, member!, { method: 'GET', url: `${API}/users/me` }) // the caller is now cached
    const url = `${API}/organizations?limit=7`
    // The first miss's query waits behind a table lock until the other nine
    // have looked up and missed: on a loaded machine (or a Redis Cluster, whose lookups
    // are not sent in one batch) a lookup could otherwise come back after
    // that query had finished, which is a miss of its own, not a shared one.
    const locker = new pg.Client({ connectionString: db.url })
    await locker.connect()
    t.teardown(async () => await locker.end())
    await locker.query('BEGIN')
    await locker.query('LOCK TABLE organizations IN ACCESS EXCLUSIVE MODE')
    const { coalesced: coalescedBefore, misses: missesBefore } = app.responseCache.stats()
    const before = app.db.metrics().queryCount
    const pending = Promise.all(Array.from({ length: 10 }, async () => await as(app, member!, { method: 'GET', url })))
    await until('all ten to have missed', async () => app.responseCache.stats().misses - missesBefore === 10)
    await locker.query('COMMIT')
    const answers = await pending
    t.same(answers.map((a) => a.statusCode), Array(10).fill(200))
    t.equal(new Set(answers.map((a) => a.body)).size, 1, 'all got the same body')
    t.equal(app.db.metrics().queryCount - before, 1, `${app.responseCache.backend}: ten concurrent misses, one query`)
    t.equal(answers.filter((a) => a.headers['x-cache'] === 'MISS').length, 10, 'all were misses (nine shared the first one\'s answer)')
    t.equal(app.responseCache.stats().coalesced - coalescedBefore, 9)
    t.equal(app.responseCache.stats().inFlight, 0, 'nothing left waiting')
  }
})

t.test('Redis killed: BYPASS without errors, then recovery; hung: lost invalidations reset the cache', async (t) => {
  const db = await createTestDatabase('cache_outage')
  t.teardown(db.drop)
  const redis = await startTestRedis()
  t.teardown(redis.stop)
  const app = await buildTestApp(t, db.url, { REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '200' })
  const [alice] = await createUsers(app, db.url, ['member']) as [TestUser]
  const url = `${API}/organizations`
  await as(app, alice, { method: 'POST', url, payload: { name: 'Before' } })
  await as(app, alice, { method: 'GET', url })
  t.equal((await as(app, alice, { method: 'GET', url })).headers['x-cache'], 'HIT')

  await redis.kill()
  await until('the client to notice', async () => (await app.cacheStatus()) === 'down')
  for (let i = 0; i < 5; i++) {
    const res = await as(app, alice, { method: 'GET', url })
    t.equal(res.statusCode, 200, 'served from the database')
    t.equal(res.headers['x-cache'], 'BYPASS')
  }
  const during = await as(app, alice, { method: 'POST', url, payload: { name: 'During' } })
  t.equal(during.statusCode, 201, 'writes work without Redis')
  t.equal((await as(app, alice, { method: 'GET', url })).json().data.length, 2)
  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 200, 'a cache outage does not make the service unready')
  t.equal(ready.json().cache, 'down')

  await redis.restart()
  await until('the cache to be used again', async () => (await as(app, alice, { method: 'GET', url })).headers['x-cache'] === 'HIT')
  t.equal((await as(app, alice, { method: 'GET', url })).json().data.length, 2, 'recovered, with the write made during the outage')
  t.equal((await app.inject({ method: 'GET', url: '/ready' })).json().cache, 'up')

  // Hung Redis (keeps its data): a write whose invalidation cannot be
  // recorded must not let the old entry be served once Redis answers again.
  const stale = await as(app, alice, { method: 'GET', url })
  t.equal(stale.headers['x-cache'], 'HIT')
  redis.pause()
  const hungWrite = await as(app, alice, { method: 'POST', url, payload: { name: 'While hung' } })
  t.equal(hungWrite.statusCode, 201, 'the write answers after at most the command timeout')
  const hungRead = await as(app, alice, { method: 'GET', url })
  t.equal(hungRead.statusCode, 200)
  t.equal(hungRead.headers['x-cache'], 'BYPASS')
  t.equal(hungRead.json().data.length, 3)
  redis.resume()
  await until('Redis to answer again', async () => (await app.cacheStatus()) === 'up')
  const after = await as(app, alice, { method: 'GET', url })
  t.equal(after.statusCode, 200)
  t.not(after.headers['x-cache'], 'HIT', 'the entry from before the lost invalidation is not served')
  t.equal(after.json().data.length, 3, 'the write made while Redis hung is visible')
})

t.test('without REDIS_URL: an in-process cache with the same behaviour', async (t) => {
  const db = await createTestDatabase('cache_memory')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url, { REDIS_URL: undefined })
  t.equal(app.responseCache.backend, 'memory')
  const [alice, bob] = await createUsers(app, db.url, ['member', 'member']) as [TestUser, TestUser]
  const url = `${API}/organizations`
  t.equal((await as(app, alice, { method: 'GET', url })).headers['x-cache'], 'MISS')
  t.equal((await as(app, alice, { method: 'GET', url })).headers['x-cache'], 'HIT')
  t.equal((await as(app, bob, { method: 'GET', url })).headers['x-cache'], 'MISS')
  await as(app, alice, { method: 'POST', url, payload: { name: 'In memory' } })
  const after = await as(app, alice, { method: 'GET', url })
  t.equal(after.headers['x-cache'], 'MISS')
  t.equal(after.json().data[0].name, 'In memory')
  t.equal((await as(app, bob, { method: 'GET', url })).headers['x-cache'], 'HIT', 'another member\'s entry survives Alice\'s write')
})

t.test('Redis round trips: a hit 1 (rate limit included), a miss adds 1 SET pipeline off the answer path, a write 1 + rate limit 1', async (t) => {
  const db = await createTestDatabase('cache_rtt')
  t.teardown(db.drop)
  const redis = await startTestRedis()
  t.teardown(redis.stop)
  const app = await buildTestApp(t, db.url, { REDIS_URL: redis.url, RATE_LIMIT_MAX: '1000' })
  const [alice] = await createUsers(app, db.url, ['member']) as [TestUser]
  await as(app, alice, { method: 'GET', url: `${API}/users/me` })
  // Enough organizations for a list over the 1 KiB compression threshold.
  for (let i = 0; i < 12; i++) await as(app, alice, { method: 'POST', url: `${API}/organizations`, payload: { name: `Counted ${i} ${'x'.repeat(60)}` } })

  const base = redisClient(redis.url)
  const monitor = await base.monitor()
  monitor.on('error', () => {}) // a connection of its own: without a listener ioredis prints each failed reconnect
  t.teardown(() => { monitor.disconnect(); base.disconnect() })
  const commands: string[][] = []
  // Commands a client sent (one round trip each, or one per pipeline); commands run inside scripts have source "lua".
  monitor.on('monitor', (_time: string, args: string[], source: string) => { if (source !== 'lua') commands.push(args) })
  const record = async (fn: () => Promise<unknown>): Promise<string[][]> => {
    await new Promise((resolve) => setTimeout(resolve, 100))
    commands.length = 0
    await fn()
    await new Promise((resolve) => setTimeout(resolve, 100)) // MONITOR lines arrive asynchronously
    return commands.filter((c) => c[0]!.toLowerCase() !== 'ping').slice()
  }
  const names = (cs: string[][]): string[] => cs.map((c) => c[0]!.toLowerCase())
  const scripts = (cs: string[][]): string[] => names(cs).filter((c) => c === 'evalsha' || c === 'eval')
  const rateKey = new RedisKeys(app.config.redisKeyPrefix).rate(alice.id)
  const countOf = async (): Promise<number> => Number(await base.get(rateKey))

  const url = `${API}/organizations?limit=20`
  const br = { 'accept-encoding': 'gzip, deflate, br' }
  const before = await countOf()
  let missAnswer: Awaited<ReturnType<typeof as>> | undefined
  const miss = await record(async () => { missAnswer = await as(app, alice, { method: 'GET', url, headers: br }) })
  t.equal(missAnswer!.headers['x-cache'], 'MISS')
  t.equal(missAnswer!.headers['content-encoding'], 'br')
  let hitAnswer: Awaited<ReturnType<typeof as>> | undefined
  const hit = await record(async () => { hitAnswer = await as(app, alice, { method: 'GET', url, headers: br }) })
  t.equal(hitAnswer!.headers['x-cache'], 'HIT')
  t.equal(hitAnswer!.headers['content-encoding'], 'br')
  t.equal(hitAnswer!.headers['x-ratelimit-remaining'], String(1000 - before - 2), 'the hit was counted by the rate limit')
  t.equal(await countOf(), before + 2, 'the counter in Redis holds the miss and the hit')
  const write = await record(async () => await as(app, alice, { method: 'POST', url: `${API}/organizations`, payload: { name: 'Counted' } }))
  t.comment(`miss: ${names(miss).join(' ')} | hit: ${names(hit).join(' ')} | write: ${names(write).join(' ')}`)
  t.same(names(hit).filter((c) => c !== 'evalsha' && c !== 'eval'), [], 'a hit runs scripts only')
  t.equal(scripts(hit).length, 1, 'a hit: one script, which counts the rate limit and reads the entry: one round trip')
  t.ok(hit[0]!.includes(rateKey), 'the hit\'s one script names the rate-limit counter')
  t.equal(scripts(miss).length, 1, 'a miss: the same one script')
  t.same(names(miss).filter((c) => c !== 'evalsha' && c !== 'eval'), ['set', 'set'], 'a miss adds one pipeline (not awaited): the body and its br bytes')
  t.same(names(write).filter((c) => c !== 'evalsha' && c !== 'eval'), ['incr', 'incr'], 'a write: one pipeline bumping the global and the owner\'s generation')
  t.equal(scripts(write).length, 1, 'plus the rate limit')
})

t.test('a hit sends the stored bytes of its coding: no compression call', async (t) => {
  const db = await createTestDatabase('cache_codings')
  t.teardown(db.drop)
  // Every zlib entry point @fastify/compress or the cache could use, counted
  // (before the apps are built: @fastify/compress keeps its own references).
  const calls: string[] = []
  for (const name of ['brotliCompress', 'brotliCompressSync', 'gzip', 'gzipSync', 'deflate', 'deflateSync', 'createBrotliCompress', 'createGzip', 'createDeflate'] as const) {
    const descriptor = Object.getOwnPropertyDescriptor(zlib, name)!
    const original = descriptor.value as (...args: unknown[]) => unknown
    Object.defineProperty(zlib, name, { ...descriptor, value: (...args: unknown[]) => { calls.push(name); return original.apply(zlib, args) } })
    t.teardown(() => { Object.defineProperty(zlib, name, descriptor) })
  }
  for (const redisUrl of ['default', undefined]) {
    const app = await buildTestApp(t, db.url, redisUrl === undefined ? { REDIS_URL: undefined } : {})
    const [alice] = await createUsers(app, db.url, ['member']) as [TestUser]
    for (let i = 0; i < 12; i++) await as(app, alice, { method: 'POST', url: `${API}/organizations`, payload: { name: `Coded ${i} ${'y'.repeat(60)}` } })
    const where = `${app.responseCache.backend} backend`
    const url = `${API}/organizations?limit=20`
    const get = async (encoding?: string, more: Record<string, string> = {}): Promise<Awaited<ReturnType<typeof as>>> =>
      await as(app, alice, { method: 'GET', url, headers: { ...(encoding === undefined ? {} : { 'accept-encoding': encoding }), ...more } })
    const plain = await get()
    t.equal(plain.headers['x-cache'], 'MISS', where)
    t.ok(plain.body.length > 1024, `${where}: the body is over the threshold (${plain.body.length} bytes)`)
    for (const [accept, coding] of [['gzip, deflate, br', 'br'], ['gzip', 'gzip']] as const) {
      calls.length = 0
      const first = await get(accept)
      t.equal(first.headers['x-cache'], 'HIT', `${where}: ${coding}, first time`)
      t.equal(first.headers['content-encoding'], coding)
      t.same(calls, [coding === 'br' ? 'brotliCompress' : 'gzip'], `${where}: the first ${coding} answer compresses once, off the event loop`)
      await until('the coded bytes are stored', async () => { calls.length = 0; const again = await get(accept); return again.headers['content-encoding'] === coding && calls.length === 0 })
      calls.length = 0
      const hit = await get(accept)
      t.equal(hit.headers['x-cache'], 'HIT')
      t.equal(hit.headers['content-encoding'], coding)
      t.match(hit.headers.vary, /accept-encoding/i)
      t.equal(hit.headers.etag, plain.headers.etag, 'one ETag for every coding of the representation')
      t.same(calls, [], `${where}: a ${coding} hit makes no compression call`)
      const body = coding === 'br' ? zlib.brotliDecompressSync(hit.rawPayload) : zlib.gunzipSync(hit.rawPayload)
      t.equal(body.toString('utf8'), plain.body, `${where}: the ${coding} bytes decode to the identity body`)
    }
    calls.length = 0
    const optOut = await get('gzip, deflate, br', { 'x-no-compression': '1' })
    t.equal(optOut.headers['x-cache'], 'HIT')
    t.equal(optOut.headers['content-encoding'], undefined, 'x-no-compression: the identity bytes')
    t.equal(optOut.body, plain.body)
    t.same(calls, [])
    const small = await as(app, alice, { method: 'GET', url: `${API}/users/me`, headers: { 'accept-encoding': 'br' } })
    const smallHit = await as(app, alice, { method: 'GET', url: `${API}/users/me`, headers: { 'accept-encoding': 'br' } })
    t.equal(smallHit.headers['x-cache'], 'HIT')
    t.equal(small.headers['content-encoding'], undefined, 'under 1 KiB: never compressed')
    t.equal(smallHit.headers['content-encoding'], undefined)
    const notModified = await get('br', { 'if-none-match': plain.headers.etag as string })
    t.equal(notModified.statusCode, 304)
    t.equal(notModified.headers['content-encoding'], undefined)
  }
})
