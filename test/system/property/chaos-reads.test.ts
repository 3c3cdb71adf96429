// Property-based bad-input tests (fast-check, through app.inject), property
// 2 of 4: chaos reads. Every GET route (and HEAD) with junk ids, query
// strings (broken escapes, prototype-pollution keys, numbers past 2^53, odd
// dates, LIKE metacharacters, unicode edge cases) and headers (credentials,
// If-None-Match, Accept-Encoding, X-Request-Id) → 2xx/304/4xx, nothing
// written (every table byte-identical), the request id echoed; every answer
// passes the checks of test/helpers/property/requests.ts within a deadline.
// Last, the regressions in URLs and query strings the properties found
// (`since` dates PostgreSQL cannot hold, long path segments, NUL and broken
// escapes in the URL).
//
// The other properties are beside this file (poisoned-writes, chaos-writes,
// model); each file builds its own app and database. fast-check prints the
// seed and the shrunk counterexample of a failure; PROPERTY_SEED=<seed>
// replays it, PROPERTY_RUNS_SCALE multiplies the runs.
import assert from 'node:assert/strict'
import t from 'tap'
import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { tableChecksums } from '../../helpers/checksum'
import { setUpWorld, type Actor } from '../../helpers/property/fixture'
import { encodeLoose, invalidIds } from '../../helpers/property/poison'
import { API, JSON_CT, assertNoPollution, checkAnswer, send, show, statusSummary, type Req } from '../../helpers/property/requests'
import { NUM_RUNS, SEED } from '../../helpers/property/runs'
import { text } from '../../helpers/property/values'

t.test('property-based bad input: chaos reads', async (t) => {
  const { app, client, fx, actors, allIds, started } = await setUpWorld(t, 'property_chaos_reads')

  await t.test('chaos reads: any GET answers 2xx, 304 or a contract 4xx and writes nothing', async (t) => {
    interface GetRoute { path: (id: string) => string; keys: string[]; hasId: boolean; api: boolean }
    const page = ['limit', 'offset']
    const routes: GetRoute[] = [
      { path: () => '/users/me', keys: [], hasId: false, api: true },
      { path: () => '/users', keys: page, hasId: false, api: true },
      { path: () => '/organizations', keys: ['industrySegment', 'priorityLevel', 'search', 'assignedUserId', ...page], hasId: false, api: true },
      { path: (id) => `/organizations/${id}`, keys: [], hasId: true, api: true },
      { path: (id) => `/organizations/${id}/contacts`, keys: page, hasId: true, api: true },
      { path: (id) => `/contacts/${id}`, keys: [], hasId: true, api: true },
      { path: (id) => `/organizations/${id}/interactions`, keys: ['since', ...page], hasId: true, api: true },
      { path: (id) => `/organizations/${id}/opportunities`, keys: ['stage', ...page], hasId: true, api: true },
      { path: (id) => `/opportunities/${id}`, keys: [], hasId: true, api: true },
      { path: () => '/dashboard', keys: [], hasId: false, api: true },
      { path: () => '/admin/runtime', keys: [], hasId: false, api: true },
      { path: () => '/health', keys: [], hasId: false, api: false },
      { path: () => '/ready', keys: [], hasId: false, api: false },
      { path: () => '/metrics', keys: [], hasId: false, api: false }
    ]
    const BROKEN_ESCAPES = ['%', '%zz', '%E0%A4%A', '%ED%A0%80', '%C0%AF', '%00', 'a%00b', '%2e%2e', '%2F', '%252F', '%FF', '%u0041', '%%', '%0A', '%20']
    const queryValue = fc.oneof(
      fc.constantFrom('0', '1', '200', '201', '-1', '-0', '1.5', '1e2', '1e309', 'NaN', 'Infinity', '9007199254740993', '2147483647', '2147483648',
        '99999999999999999999', '0x10', ' 1', '', 'true', 'null', 'A', 'a', 'E', 'closed-won', 'CLOSED-WON', 'closed_won',
        '%', '_', '\\', '%_\\', '--', "'", "'; DROP TABLE organizations; --", '[]', '{}',
        '2024-01-01T00:00:00Z', '2024-06-30T23:59:60Z', '0000-01-01T00:00:00Z', '0000-01-01T00:00:00+01:00', '1000-01-01T00:00:00+23:59',
        '9999-12-31T23:59:59-23:59', '2024-01-01T00:00:00+01', '2024-01-01t00:00:00z', '2024-01-01 00:00:00Z', '2024-02-30T00:00:00Z',
        '+275760-09-13T00:00:00Z', '2024-01-01T00:00:00.1234567890Z', fx.admin.id, fx.m1.id.toUpperCase(), `urn:uuid:${fx.m1.id}`),
      text(300),
      fc.string({ unit: 'binary', maxLength: 20 }),
      fc.nat({ max: 400 }).map((n) => 'x'.repeat(n))
    )
    const queryKey = (route: GetRoute): fc.Arbitrary<string> => fc.oneof(
      { weight: route.keys.length > 0 ? 6 : 0, arbitrary: fc.constantFrom(...(route.keys.length > 0 ? route.keys : ['limit'])) },
      { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', '__proto__[polluted]', 'constructor[prototype][polluted]', 'limit[]', 'search[$ne]', 'foo', '', 'LIMIT', 'a.b') }
    )
    const part = (s: string, raw: boolean): string => raw ? s : encodeLoose(s)
    const idArb = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...allIds) },
      { weight: 1, arbitrary: fc.constantFrom(...allIds).map((id) => id.toUpperCase()) },
      { weight: 1, arbitrary: fc.uuid() },
      { weight: 2, arbitrary: fc.constantFrom(...invalidIds(fx.org.own).map(([raw]) => encodeLoose(raw))) },
      { weight: 1, arbitrary: fc.constantFrom(...BROKEN_ESCAPES) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }).map(encodeLoose) }
    )
    const cred = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom<Actor>('admin', 'm1', 'm2').map((a) => ({ name: a, headers: actors[a].headers })) },
      { weight: 1, arbitrary: fc.constantFrom(...fx.badCreds) }
    )
    const requestArb = fc.constantFrom(...routes).chain((route) => fc.record({
      route: fc.constant(route),
      id: idArb,
      query: fc.array(fc.record({
        key: queryKey(route),
        value: queryValue,
        raw: fc.boolean(),
        broken: fc.option(fc.constantFrom(...BROKEN_ESCAPES), { freq: 8 })
      }), { maxLength: 5 }),
      cred,
      head: fc.nat({ max: 9 }).map((n) => n < 2),
      ifNoneMatch: fc.option(fc.constantFrom('*', 'W/"x"', '"x"', fx.etag.org, `W/${fx.etag.org}`, ''), { freq: 4 }),
      acceptEncoding: fc.option(fc.constantFrom('gzip', 'br', 'deflate', 'identity', '*', 'gzip;q=0', 'identity;q=0, *;q=0', 'br;q=1.0, gzip;q=0.5', 'x-unknown'), { freq: 3 }),
      requestId: fc.option(fc.stringMatching(/^[!-~]{1,64}$/), { freq: 3 })
    }))
    const initial = await tableChecksums(client)
    await fc.assert(fc.asyncProperty(requestArb, async (r) => {
      const query = r.query.map(({ key, value, raw, broken }) => {
        const v = broken ?? (raw && /^[A-Za-z0-9._~-]*$/.test(value) ? value : part(value, false))
        return `${encodeLoose(key)}=${v}`
      }).join('&')
      const headers: Record<string, string> = { ...r.cred.headers }
      if (r.ifNoneMatch !== null) headers['if-none-match'] = r.ifNoneMatch
      if (r.acceptEncoding !== null) headers['accept-encoding'] = r.acceptEncoding
      if (r.requestId !== null) headers['x-request-id'] = r.requestId
      const req: Req = {
        method: r.head ? 'HEAD' : 'GET',
        url: `${r.route.api ? API : ''}${r.route.path(r.id)}${query !== '' ? `?${query}` : ''}`,
        headers,
        who: r.cred.name
      }
      const res = await send(app, req)
      checkAnswer(req, res, [200, 304, 400, 401, 403, 404])
      if (r.requestId !== null) assert.equal(res.headers['x-request-id'], r.requestId, `the request id is echoed: ${show(req)}`)
      assert.deepEqual(await tableChecksums(client), initial, `a read changed a table: ${show(req)}`)
      assertNoPollution()
    }), { numRuns: NUM_RUNS.chaosReads, includeErrorInReport: true, ...SEED })
    t.same(await tableChecksums(client), initial, 'row counts and checksums of every table are unchanged')
  })

  await t.test('regressions found by the properties: URLs and query strings', async (t) => {
    const get = async (url: string): Promise<LightMyRequestResponse> => await send(app, { method: 'GET', url, headers: fx.admin.headers, who: 'admin' })
    const createReq: Req = { method: 'POST', url: `${API}/organizations`, headers: { ...fx.admin.headers, 'content-type': JSON_CT }, payload: '{"name":"Regressions"}', who: 'admin' }
    const org = checkAnswer(createReq, await send(app, createReq), [201]).id as string
    // A leap second or a year before 1000 in `since` reached PostgreSQL as an Invalid Date / year 0 (500).
    for (const since of ['2024-06-30T23:59:60Z', '0000-01-01T00:00:00Z', '0000-01-01T00:00:00%2B01:00', '2024-01-01T00:00:00%2B01']) {
      const res = await get(`${API}/organizations/${org}/interactions?since=${since}`)
      t.equal(res.statusCode, 400, `since=${since}`)
      t.match(res.json().message, /^querystring\.since /)
    }
    for (const since of ['1000-01-01T00:00:00%2B23:59', '9999-12-31T23:59:59-23:59', '2024-01-01t00:00:00z', '2024-01-01T00:00:00.123456%2B0100']) {
      t.equal((await get(`${API}/organizations/${org}/interactions?since=${since}`)).statusCode, 200, `since=${since} still works`)
    }
    // A path segment over 100 characters answered 414 (not a contract code), and bad URLs lacked the contract's headers.
    // A NUL in the URL answered 400 without the security headers (its hook ran before helmet's): checkAnswer checks them.
    for (const url of [`${API}/organizations/${org}%00`, '/health?x=%00']) {
      const req: Req = { method: 'GET', url, headers: fx.admin.headers, who: 'admin' }
      checkAnswer(req, await send(app, req), [400])
    }
    for (const url of [`${API}/organizations/${'a'.repeat(101)}`, `${API}/contacts/${fx.contact.own}${'a'.repeat(80)}`, `${API}/organizations/%ED%A0%80`, `${API}/organizations/%`]) {
      const req: Req = { method: 'GET', url, headers: fx.admin.headers, who: 'admin' }
      const res = await send(app, req)
      checkAnswer(req, res, [400])
      t.equal(res.json().code, 'INVALID_URL', url.slice(0, 60))
    }
  })

  t.comment(statusSummary(started))
})
