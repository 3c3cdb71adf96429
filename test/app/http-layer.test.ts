// The HTTP layer around every route (contract §2): security and id headers
// on every kind of answer, br/gzip compression over 1 KiB (cached HITs
// included), the per-user rate limit shared by instances through Redis,
// and the 413/415 body errors — against real PostgreSQL and Redis.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import zlib from 'node:zlib'
import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { as, createUsers, type TestUser } from '../helpers/api'
import { buildTestApp } from '../helpers/app'
import { RedisKeys } from '../../src/lib/redis-keys'
import { createTestDatabase, withClient } from '../helpers/database'
import { freePort } from '../helpers/net'
import { checkSocketResponse } from '../helpers/openapi-oracle'
import { until } from '../helpers/wait'

const ORGS = '/api/v1/organizations'
const ME = '/api/v1/users/me'
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

type Headers = Record<string, string | string[] | number | undefined>

/**
 * The headers every answer carries. Returns the request id; with `requestId`
 * the client's id must be echoed, otherwise a generated v4 UUID is expected.
 */
function assertCommonHeaders (t: Test, headers: Headers, what: string, requestId?: string): string {
  t.equal(headers['x-content-type-options'], 'nosniff', `${what}: x-content-type-options`)
  t.equal(headers['x-frame-options'], 'DENY', `${what}: x-frame-options`)
  const time = headers['x-response-time']
  t.match(time, /^\d+(\.\d+)?$/, `${what}: x-response-time is a non-negative decimal (${String(time)})`)
  t.ok(Number(time) >= 0 && Number.isFinite(Number(time)), `${what}: x-response-time is a finite number >= 0`)
  const id = headers['x-request-id']
  if (requestId !== undefined) {
    t.equal(id, requestId, `${what}: the client's x-request-id is echoed`)
  } else {
    t.match(id, UUID_V4, `${what}: a generated x-request-id (UUID)`)
  }
  return String(id)
}

/** The contract's error body, exactly: these four fields and no others (the message may be a pattern). */
function assertErrorBody (t: Test, body: unknown, statusCode: number, error: string, message: string | RegExp, code: string): void {
  t.same(Object.keys(body as object).sort(), ['code', 'error', 'message', 'statusCode'], `${statusCode}: exactly the contract's error fields`)
  const { message: actual, ...rest } = body as { message: unknown }
  t.same(rest, { statusCode, error, code }, `${statusCode}: statusCode, error, code`)
  if (typeof message === 'string') t.equal(actual, message, `${statusCode}: message`)
  else t.match(actual, message, `${statusCode}: message`)
}

function decode (res: LightMyRequestResponse): string {
  const encoding = res.headers['content-encoding']
  if (encoding === 'br') return zlib.brotliDecompressSync(res.rawPayload).toString('utf8')
  if (encoding === 'gzip') return zlib.gunzipSync(res.rawPayload).toString('utf8')
  throw new Error(`unexpected content-encoding ${String(encoding)}`)
}

function varyList (headers: Headers): string[] {
  const vary = headers.vary
  const values = Array.isArray(vary) ? vary : vary === undefined ? [] : [String(vary)]
  return values.flatMap((v) => v.split(',')).map((v) => v.trim().toLowerCase()).filter((v) => v !== '')
}

/** Creates `count` organizations with long names as `user`, so a list of them is well over 1 KiB. */
async function createOrganizations (t: Test, app: FastifyInstance, user: TestUser, count: number, label: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    const res = await as(app, user, {
      method: 'POST',
      url: ORGS,
      payload: { name: `${label} ${i} — a deliberately long organization name for compression tests`, industrySegment: 'Manufacturing and Industrial Equipment', primaryEmail: `contact${i}@example.test` }
    })
    if (res.statusCode !== 201) t.fail(`creating organization ${i}: ${res.statusCode} ${res.body}`)
  }
}

interface RawResponse { statusCode: number, headers: http.IncomingHttpHeaders, body: Buffer }

/** One request over a real socket (no keep-alive); the body is read raw, never decoded by the client; checked against the document. */
async function rawRequest (app: FastifyInstance, options: http.RequestOptions, body?: (req: http.ClientRequest) => void): Promise<RawResponse> {
  const port = (app.server.address() as AddressInfo).port
  const res = await new Promise<RawResponse>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, agent: false, ...options }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    // The server may answer (413) and close before the whole body is written:
    // a write error after the response arrived is expected, before it a failure.
    req.on('error', reject)
    req.setTimeout(20_000, () => req.destroy(new Error('request timed out')))
    if (body === undefined) req.end()
    else body(req)
  })
  checkSocketResponse(app, { method: options.method ?? 'GET', url: options.path ?? '/', ...res })
  return res
}

t.test('every kind of answer carries the security, id and timing headers', async (t) => {
  const db = await createTestDatabase('http_headers')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url)
  const [member] = await createUsers(app, db.url, ['member']) as [TestUser]
  const ids: string[] = []

  const created = await as(app, member, { method: 'POST', url: ORGS, payload: { name: 'Header Check Ltd' } })
  t.equal(created.statusCode, 201)
  ids.push(assertCommonHeaders(t, created.headers, '201'))

  const url = `${ORGS}/${created.json().id as string}`
  const miss = await as(app, member, { method: 'GET', url })
  t.equal(miss.statusCode, 200)
  t.equal(miss.headers['x-cache'], 'MISS')
  ids.push(assertCommonHeaders(t, miss.headers, '200 MISS'))
  const hit = await as(app, member, { method: 'GET', url })
  t.equal(hit.statusCode, 200)
  t.equal(hit.headers['x-cache'], 'HIT', 'the same URL again is answered from the cache (preValidation)')
  t.equal(hit.body, miss.body)
  ids.push(assertCommonHeaders(t, hit.headers, '200 HIT'))
  const echoedHit = await as(app, member, { method: 'GET', url, headers: { 'x-request-id': 'abc-123' } })
  t.equal(echoedHit.headers['x-cache'], 'HIT')
  assertCommonHeaders(t, echoedHit.headers, '200 HIT with a client id', 'abc-123')

  const notModified = await as(app, member, { method: 'GET', url, headers: { 'if-none-match': String(miss.headers.etag) } })
  t.equal(notModified.statusCode, 304)
  t.equal(notModified.body, '')
  ids.push(assertCommonHeaders(t, notModified.headers, '304'))

  const invalid = await as(app, member, { method: 'POST', url: ORGS, payload: { industrySegment: 'no name' } })
  t.equal(invalid.statusCode, 400)
  assertErrorBody(t, invalid.json(), 400, 'Bad Request', 'body.name must have required property \'name\'', 'VALIDATION_ERROR')
  ids.push(assertCommonHeaders(t, invalid.headers, '400'))

  const anonymous = await app.inject({ method: 'GET', url: ME })
  t.equal(anonymous.statusCode, 401)
  assertErrorBody(t, anonymous.json(), 401, 'Unauthorized', 'Missing Authorization header (Bearer token)', 'UNAUTHORIZED')
  ids.push(assertCommonHeaders(t, anonymous.headers, '401'))

  const unknown = await app.inject({ method: 'GET', url: '/no/such/route' })
  t.equal(unknown.statusCode, 404)
  assertErrorBody(t, unknown.json(), 404, 'Not Found', 'Route GET /no/such/route not found', 'NOT_FOUND')
  ids.push(assertCommonHeaders(t, unknown.headers, '404 unknown route'))
  const unknownApi = await as(app, member, { method: 'GET', url: '/api/v1/nothing-here' })
  t.equal(unknownApi.statusCode, 404)
  ids.push(assertCommonHeaders(t, unknownApi.headers, '404 unknown route under /api/v1'))

  const health = await app.inject({ method: 'GET', url: '/health' })
  t.equal(health.statusCode, 200)
  ids.push(assertCommonHeaders(t, health.headers, '/health'))
  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 200)
  ids.push(assertCommonHeaders(t, ready.headers, '/ready'))
  const metrics = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(metrics.statusCode, 200)
  t.match(metrics.headers['content-type'], /^text\/plain/)
  ids.push(assertCommonHeaders(t, metrics.headers, '/metrics'))

  for (const [what, res] of [
    ['201', await as(app, member, { method: 'POST', url: ORGS, payload: { name: 'Echo Ltd' }, headers: { 'x-request-id': 'abc-123' } })],
    ['400', await as(app, member, { method: 'POST', url: ORGS, payload: {}, headers: { 'x-request-id': 'abc-123' } })],
    ['401', await app.inject({ method: 'GET', url: ME, headers: { 'x-request-id': 'abc-123' } })],
    ['404', await app.inject({ method: 'GET', url: '/nope', headers: { 'x-request-id': 'abc-123' } })],
    ['/metrics', await app.inject({ method: 'GET', url: '/metrics', headers: { 'x-request-id': 'abc-123' } })]
  ] as const) {
    assertCommonHeaders(t, res.headers, `${what} with a client id`, 'abc-123')
  }

  t.equal(new Set(ids).size, ids.length, `generated request ids are unique (${ids.length} answers)`)
})

t.test('a shed request (503 under memory pressure) carries the headers too', async (t) => {
  const db = await createTestDatabase('http_pressure')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url, { MAX_HEAP_USED_BYTES: '1', PRESSURE_SAMPLE_INTERVAL_MS: '20' })
  const [member] = await createUsers(app, db.url, ['member']) as [TestUser]
  await until('the app to report memory pressure', () => app.isUnderPressure())

  const shed = await as(app, member, { method: 'GET', url: ME })
  t.equal(shed.statusCode, 503)
  t.equal(shed.headers['retry-after'], '5')
  assertErrorBody(t, shed.json(), 503, 'Service Unavailable', 'The service is overloaded; retry shortly', 'OVERLOADED')
  const first = assertCommonHeaders(t, shed.headers, '503 shed')
  const echoed = await app.inject({ method: 'POST', url: ORGS, payload: { name: 'x' }, headers: { 'x-request-id': 'abc-123' } })
  t.equal(echoed.statusCode, 503)
  assertCommonHeaders(t, echoed.headers, '503 shed with a client id', 'abc-123')

  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503)
  t.equal(ready.headers['retry-after'], '5')
  t.same(ready.json(), { status: 'unavailable', database: 'up', cache: 'up', replica: 'off', overloaded: true })
  const second = assertCommonHeaders(t, ready.headers, '503 /ready')
  t.not(first, second, 'a new id per request')

  const health = await app.inject({ method: 'GET', url: '/health' })
  t.equal(health.statusCode, 200, '/health is never shed')
  assertCommonHeaders(t, health.headers, '/health under pressure')
})

t.test('compression: br and gzip over 1 KiB, opt-out, threshold, cached HITs', async (t) => {
  const db = await createTestDatabase('http_compress')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url)
  const [member] = await createUsers(app, db.url, ['member']) as [TestUser]
  await createOrganizations(t, app, member, 20, 'Compressible')

  let variant = 0
  /** A URL nobody asked for yet: its first GET is a MISS. */
  const freshListUrl = (): string => `${ORGS}?limit=${200 - variant++}`

  for (const encoding of ['br', 'gzip'] as const) {
    t.test(`accept-encoding: ${encoding}`, async (t) => {
      const url = freshListUrl()
      const miss = await as(app, member, { method: 'GET', url, headers: { 'accept-encoding': encoding } })
      t.equal(miss.statusCode, 200)
      t.equal(miss.headers['x-cache'], 'MISS')
      t.equal(miss.headers['content-encoding'], encoding)
      t.ok(varyList(miss.headers).includes('accept-encoding'), `vary names accept-encoding (${String(miss.headers.vary)})`)
      t.equal(Number(miss.headers['content-length']), miss.rawPayload.length, 'content-length is the compressed size')
      t.match(miss.headers['content-type'], /^application\/json; charset=utf-8/)
      assertCommonHeaders(t, miss.headers, `${encoding} MISS`)

      const plain = await as(app, member, { method: 'GET', url })
      t.equal(plain.statusCode, 200)
      t.equal(plain.headers['content-encoding'], undefined, 'no accept-encoding: not compressed')
      t.ok(plain.rawPayload.length > 1024, `the body is over 1 KiB (${plain.rawPayload.length} bytes)`)
      t.equal(plain.json().data.length, 20)
      t.ok(miss.rawPayload.length < plain.rawPayload.length, 'the compressed body is smaller')
      t.equal(decode(miss), plain.body, 'decompresses to the uncompressed JSON body')

      const hit = await as(app, member, { method: 'GET', url, headers: { 'accept-encoding': encoding } })
      t.equal(hit.statusCode, 200)
      t.equal(hit.headers['x-cache'], 'HIT')
      t.equal(hit.headers['content-encoding'], encoding, 'a cached HIT is compressed too')
      t.ok(varyList(hit.headers).includes('accept-encoding'), 'vary on the HIT as well')
      t.equal(Number(hit.headers['content-length']), hit.rawPayload.length)
      t.equal(decode(hit), plain.body, 'the HIT decompresses to the same body')
      assertCommonHeaders(t, hit.headers, `${encoding} HIT`)
    })
  }

  t.test('accept-encoding: br, gzip picks one of them; refusals (q=0) are honoured', async (t) => {
    const url = freshListUrl()
    const plain = await as(app, member, { method: 'GET', url })
    t.equal(plain.statusCode, 200)
    const both = await as(app, member, { method: 'GET', url, headers: { 'accept-encoding': 'br, gzip' } })
    t.ok(['br', 'gzip'].includes(String(both.headers['content-encoding'])), `picked ${String(both.headers['content-encoding'])}`)
    t.equal(decode(both), plain.body)
    const noBr = await as(app, member, { method: 'GET', url, headers: { 'accept-encoding': 'br;q=0, gzip' } })
    t.equal(noBr.headers['content-encoding'], 'gzip')
    t.equal(decode(noBr), plain.body)
    const identity = await as(app, member, { method: 'GET', url, headers: { 'accept-encoding': 'identity' } })
    t.equal(identity.headers['content-encoding'], undefined)
    t.equal(identity.body, plain.body)
  })

  t.test('x-no-compression turns it off, MISS and HIT alike', async (t) => {
    const url = freshListUrl()
    const optOutMiss = await as(app, member, { method: 'GET', url, headers: { 'accept-encoding': 'br, gzip', 'x-no-compression': '1' } })
    t.equal(optOutMiss.statusCode, 200)
    t.equal(optOutMiss.headers['x-cache'], 'MISS')
    t.equal(optOutMiss.headers['content-encoding'], undefined)
    const optOutHit = await as(app, member, { method: 'GET', url, headers: { 'accept-encoding': 'br, gzip', 'x-no-compression': '1' } })
    t.equal(optOutHit.headers['x-cache'], 'HIT')
    t.equal(optOutHit.headers['content-encoding'], undefined)
    const plain = await as(app, member, { method: 'GET', url })
    t.ok(plain.rawPayload.length > 1024)
    t.equal(optOutMiss.body, plain.body, 'the plain JSON body')
    t.equal(optOutHit.body, plain.body)
    t.equal(optOutMiss.json().data.length, 20)
    assertCommonHeaders(t, optOutHit.headers, 'x-no-compression')
  })

  t.test('an answer under 1 KiB is not compressed', async (t) => {
    for (let i = 0; i < 2; i++) {
      const me = await as(app, member, { method: 'GET', url: ME, headers: { 'accept-encoding': 'br, gzip' } })
      t.equal(me.statusCode, 200)
      t.equal(me.headers['x-cache'], i === 0 ? 'MISS' : 'HIT')
      t.ok(me.rawPayload.length < 1024, `small (${me.rawPayload.length} bytes)`)
      t.equal(me.headers['content-encoding'], undefined)
      t.match(me.json(), { id: member.id, email: member.email, role: 'member' })
    }
    // A small error answer is not compressed either.
    const unknown = await as(app, member, { method: 'GET', url: `${ORGS}/00000000-0000-4000-8000-000000000000`, headers: { 'accept-encoding': 'br' } })
    t.equal(unknown.statusCode, 404)
    t.equal(unknown.headers['content-encoding'], undefined)
    t.equal(unknown.json().code, 'NOT_FOUND')
  })

  t.test('over a real socket: br bytes on the wire decode to the JSON body', async (t) => {
    await app.listen({ port: 0, host: '127.0.0.1' })
    const url = freshListUrl()
    const headers = { ...member.headers, connection: 'close' }
    const compressed = await rawRequest(app, { method: 'GET', path: url, headers: { ...headers, 'accept-encoding': 'br' } })
    t.equal(compressed.statusCode, 200)
    t.equal(compressed.headers['content-encoding'], 'br')
    t.equal(compressed.headers['x-cache'], 'MISS')
    t.ok(varyList(compressed.headers).includes('accept-encoding'))
    t.equal(Number(compressed.headers['content-length']), compressed.body.length, 'content-length matches the bytes sent')
    assertCommonHeaders(t, compressed.headers, 'socket br')
    const plain = await rawRequest(app, { method: 'GET', path: url, headers })
    t.equal(plain.statusCode, 200)
    t.equal(plain.headers['content-encoding'], undefined)
    t.equal(zlib.brotliDecompressSync(compressed.body).toString('utf8'), plain.body.toString('utf8'))
    t.equal(JSON.parse(plain.body.toString('utf8')).data.length, 20)
  })
})

t.test('rate limit: per user, shared by two instances through Redis', async (t) => {
  const db = await createTestDatabase('http_ratelimit')
  t.teardown(db.drop)
  const a = await buildTestApp(t, db.url, { RATE_LIMIT_MAX: '5' })
  const b = await buildTestApp(t, db.url, { RATE_LIMIT_MAX: '5' })
  t.equal(a.hasRedis && b.hasRedis, true)
  const [limited, other, cachedUser] = await createUsers(a, db.url, ['member', 'member', 'member']) as [TestUser, TestUser, TestUser]
  // The apps' own client: the shared Redis, or the cluster when redis-cluster.test.ts runs this file.
  // The counters go with the rest of the file's keys when the last app closes (helpers/app.ts).
  const redis = a.redisClient
  const rateKey = new RedisKeys(a.config.redisKeyPrefix).rate(limited.id)
  const apps = [a, b]

  t.test('alternating instances: exactly the first 5 pass, then 429 with Retry-After', async (t) => {
    for (let i = 0; i < 8; i++) {
      const res = await as(apps[i % 2]!, limited, { method: 'GET', url: `${ME}?n=${i}` })
      assertCommonHeaders(t, res.headers, `request ${i}`)
      t.equal(res.headers['x-ratelimit-limit'], '5', `request ${i}: x-ratelimit-limit`)
      t.match(res.headers['x-ratelimit-reset'], /^\d+$/, `request ${i}: x-ratelimit-reset in seconds`)
      if (i < 5) {
        t.equal(res.statusCode, 200, `request ${i} (instance ${i % 2}) passes`)
        t.equal(res.json().id, limited.id)
        t.equal(res.headers['x-ratelimit-remaining'], String(4 - i), `request ${i}: remaining counts the other instance's requests too`)
        t.equal(res.headers['retry-after'], undefined)
      } else {
        t.equal(res.statusCode, 429, `request ${i} (instance ${i % 2}) is limited`)
        t.equal(res.headers['x-ratelimit-remaining'], '0')
        const retryAfter = res.headers['retry-after']
        t.match(retryAfter, /^[1-9]\d*$/, `retry-after is a positive integer of seconds (${String(retryAfter)})`)
        t.ok(Number(retryAfter) <= 60, 'within the one-minute window')
        assertErrorBody(t, res.json(), 429, 'Too Many Requests', /at most 5 requests per minute/, 'RATE_LIMITED')
        t.equal(res.headers['x-cache'], undefined, 'never reaches the cache')
      }
    }
    t.equal(await redis.get(rateKey), '8', 'one counter in Redis, counted by both instances')
    const ttl = await redis.pttl(rateKey)
    t.ok(ttl > 0 && ttl <= 60_000, `the counter expires with the window (${ttl} ms)`)
  })

  t.test('another user is not affected', async (t) => {
    for (const app of apps) {
      const res = await as(app, other, { method: 'GET', url: ME })
      t.equal(res.statusCode, 200)
      t.equal(res.json().id, other.id)
    }
    t.equal((await as(a, other, { method: 'GET', url: ME })).headers['x-ratelimit-remaining'], '2')
  })

  t.test('cached HITs count too', async (t) => {
    const outcomes: string[] = []
    for (let i = 0; i < 5; i++) {
      const res = await as(a, cachedUser, { method: 'GET', url: ME })
      t.equal(res.statusCode, 200, `request ${i}`)
      outcomes.push(String(res.headers['x-cache']))
    }
    t.same(outcomes, ['MISS', 'HIT', 'HIT', 'HIT', 'HIT'], 'the same URL is served from the cache after the first time')
    for (const app of apps) {
      const limitedHit = await as(app, cachedUser, { method: 'GET', url: ME })
      t.equal(limitedHit.statusCode, 429, 'the 6th, which the cache could answer, is limited')
      t.equal(limitedHit.json().code, 'RATE_LIMITED')
    }
  })

  t.test('/health is never rate limited', async (t) => {
    for (let i = 0; i < 8; i++) {
      const res = await apps[i % 2]!.inject({ method: 'GET', url: '/health', headers: limited.headers })
      t.equal(res.statusCode, 200, `/health ${i}`)
      t.equal(res.headers['x-ratelimit-limit'], undefined)
    }
  })
})

t.test('rate limit without Redis: per instance', async (t) => {
  const db = await createTestDatabase('http_ratelimit_local')
  t.teardown(db.drop)
  const a = await buildTestApp(t, db.url, { RATE_LIMIT_MAX: '5', REDIS_URL: undefined })
  const b = await buildTestApp(t, db.url, { RATE_LIMIT_MAX: '5', REDIS_URL: undefined })
  t.equal(a.hasRedis, false)
  const [member] = await createUsers(a, db.url, ['member']) as [TestUser]
  for (let i = 0; i < 5; i++) {
    const res = await as(a, member, { method: 'GET', url: `${ME}?n=${i}` })
    t.equal(res.statusCode, 200, `request ${i}`)
    t.equal(res.headers['x-ratelimit-remaining'], String(4 - i))
  }
  const limited = await as(a, member, { method: 'GET', url: `${ME}?n=5` })
  t.equal(limited.statusCode, 429)
  t.match(limited.headers['retry-after'], /^[1-9]\d*$/)
  assertErrorBody(t, limited.json(), 429, 'Too Many Requests', /at most 5 requests per minute/, 'RATE_LIMITED')
  assertCommonHeaders(t, limited.headers, '429 without Redis')
  const elsewhere = await as(b, member, { method: 'GET', url: ME })
  t.equal(elsewhere.statusCode, 200, 'another instance keeps its own count')
  t.equal(elsewhere.headers['x-ratelimit-remaining'], '4')
})

t.test('rate limit with Redis unreachable: requests are not blocked', async (t) => {
  const db = await createTestDatabase('http_ratelimit_down')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url, { RATE_LIMIT_MAX: '5', REDIS_URL: `redis://127.0.0.1:${await freePort()}` })
  t.equal(app.hasRedis, true)
  const [member] = await createUsers(app, db.url, ['member']) as [TestUser]
  for (let i = 0; i < 8; i++) {
    const res = await as(app, member, { method: 'GET', url: ME })
    t.equal(res.statusCode, 200, `request ${i} passes`)
    t.equal(res.headers['x-cache'], 'BYPASS')
    t.equal(res.json().id, member.id)
  }
})

t.test('413 and 415 answer the contract error with the headers and write nothing', async (t) => {
  const db = await createTestDatabase('http_body')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url)
  const [member] = await createUsers(app, db.url, ['member']) as [TestUser]
  const count = async (name?: string): Promise<number> => await withClient(db.url, async (c) => Number((await c.query<{ n: string }>(
    name === undefined ? 'SELECT count(*) AS n FROM organizations' : 'SELECT count(*) AS n FROM organizations WHERE name = $1', name === undefined ? [] : [name])).rows[0]!.n))

  // Just over 1 MiB, otherwise valid.
  const big = JSON.stringify({ name: 'Too Big Ltd', website: 'https://example.test/' + 'x'.repeat(1024 * 1024) })
  t.ok(Buffer.byteLength(big) > 1024 * 1024)
  const tooLarge = await as(app, member, { method: 'POST', url: ORGS, payload: big, headers: { 'content-type': 'application/json', 'x-request-id': 'abc-123' } })
  t.equal(tooLarge.statusCode, 413)
  assertErrorBody(t, tooLarge.json(), 413, 'Payload Too Large', 'Request body is too large', 'PAYLOAD_TOO_LARGE')
  assertCommonHeaders(t, tooLarge.headers, '413', 'abc-123')

  const justUnder = JSON.stringify({ name: 'Fits Ltd', industrySegment: 'Retail' }) + ' '.repeat(1024 * 1024 - 60)
  t.ok(Buffer.byteLength(justUnder) <= 1024 * 1024)
  const fits = await as(app, member, { method: 'POST', url: ORGS, payload: justUnder, headers: { 'content-type': 'application/json' } })
  t.equal(fits.statusCode, 201, 'a body of just under 1 MiB is accepted (the limit is not lower)')

  const notJson = await as(app, member, { method: 'POST', url: ORGS, payload: '{"name":"Plain Text Ltd"}', headers: { 'content-type': 'text/plain' } })
  t.equal(notJson.statusCode, 415)
  assertErrorBody(t, notJson.json(), 415, 'Unsupported Media Type', 'Unsupported Media Type', 'UNSUPPORTED_MEDIA_TYPE')
  t.match(notJson.headers['content-type'], /^application\/json; charset=utf-8/)
  assertCommonHeaders(t, notJson.headers, '415')

  await app.listen({ port: 0, host: '127.0.0.1' })
  // Chunked: no content-length to refuse up front, the limit applies while reading.
  const chunked = await rawRequest(app, {
    method: 'POST',
    path: ORGS,
    headers: { ...member.headers, 'content-type': 'application/json', 'transfer-encoding': 'chunked', connection: 'close' }
  }, (req) => {
    req.write('{"name":"Chunked Ltd","website":"')
    const chunk = 'y'.repeat(64 * 1024)
    let sent = 0
    const pump = (): void => {
      while (sent < 20) {
        sent++
        if (!req.write(chunk)) { req.once('drain', pump); return }
      }
      req.end('"}')
    }
    pump()
  })
  t.equal(chunked.statusCode, 413, 'a chunked body over 1 MiB: 413')
  assertErrorBody(t, JSON.parse(chunked.body.toString('utf8')), 413, 'Payload Too Large', 'Request body is too large', 'PAYLOAD_TOO_LARGE')
  assertCommonHeaders(t, chunked.headers, '413 chunked')

  t.equal(await count('Too Big Ltd'), 0)
  t.equal(await count('Plain Text Ltd'), 0)
  t.equal(await count('Chunked Ltd'), 0)
  t.equal(await count(), 1, 'only the organization that fitted was written')
})
