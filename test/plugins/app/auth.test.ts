// Authentication (contract §2): every way a token can be wrong answers the same
// 401 body with `WWW-Authenticate: Bearer`; the role comes from the database;
// a deactivation takes effect at once on the instance that made it and within
// the cache TTL on the others; and an authenticated request of a cached
// caller costs no database round-trip for authentication.
import { createHmac, randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { as, createUsers, type TestUser } from '../../helpers/api'
import { buildTestApp, testConfig } from '../../helpers/app'
import { createTestDatabase, withClient } from '../../helpers/database'

const ME = '/api/v1/users/me'

function b64 (value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

/** A JWT made by hand, so the header and claims can be anything. */
function craft (header: object, payload: object, secret: string | null, hmac: 'sha256' | 'sha512' = 'sha256'): string {
  const input = `${b64(header)}.${b64(payload)}`
  const signature = secret === null ? '' : createHmac(hmac, secret).update(input).digest('base64url')
  return `${input}.${signature}`
}

const now = (): number => Math.floor(Date.now() / 1000)

t.test('authentication', async (t) => {
  const db = await createTestDatabase('auth')
  t.teardown(db.drop)
  const env = { DASHBOARD_REFRESH_INTERVAL_MS: '0' }
  const app = await buildTestApp(t, db.url, env)
  const secret = testConfig(db.url).jwtSecret
  const [admin, member, victim, ghost] = await createUsers(app, db.url, ['admin', 'member', 'member', 'member']) as [TestUser, TestUser, TestUser, TestUser]
  const sql = async <R extends Record<string, unknown>>(text: string, values: unknown[] = []): Promise<R[]> =>
    await withClient(db.url, async (c) => (await c.query<R>(text, values)).rows)

  const get = async (target: FastifyInstance, authorization?: string, url = ME): Promise<LightMyRequestResponse> =>
    await target.inject({ method: 'GET', url, headers: authorization === undefined ? {} : { authorization } })

  const expect401 = (t: Test, res: LightMyRequestResponse, message: RegExp, what: string): void => {
    t.equal(res.statusCode, 401, `${what}: 401`)
    t.equal(res.headers['www-authenticate'], 'Bearer', `${what}: WWW-Authenticate: Bearer`)
    t.match(res.headers['content-type'], /^application\/json; charset=utf-8/)
    const body = res.json()
    t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'], `${what}: exactly the error body's keys`)
    t.match(body, { statusCode: 401, error: 'Unauthorized', code: 'UNAUTHORIZED' }, `${what}: error body`)
    t.match(body.message, message, `${what}: message`)
    t.notMatch(res.body, /\bat .*\.(ts|js):\d+/, `${what}: no stack trace`)
  }

  t.test('sanity: a valid token of an active user is accepted', async (t) => {
    const res = await as(app, member, { method: 'GET', url: ME })
    t.equal(res.statusCode, 200)
    t.equal(res.json().id, member.id)
    t.equal(res.headers['www-authenticate'], undefined)
    // The same claims crafted by hand are accepted too: the rejections below are about what differs.
    t.equal((await get(app, `Bearer ${craft({ alg: 'HS256', typ: 'JWT' }, { sub: member.id, iat: now(), exp: now() + 60 }, secret)}`)).statusCode, 200)
  })

  t.test('every bad credential answers the same 401', async (t) => {
    const valid = { sub: member.id, iat: now(), exp: now() + 600 }
    const cases: Array<[string, string | undefined, RegExp]> = [
      ['no Authorization header', undefined, /Missing Authorization header/],
      ['Basic scheme', 'Basic xyz', /malformed/],
      ['Bearer without a token', 'Bearer', /malformed/],
      ['Bearer garbage', 'Bearer garbage', /malformed/],
      ['three garbage parts', 'Bearer aaa.bbb.ccc', /malformed/],
      ['another secret', `Bearer ${craft({ alg: 'HS256', typ: 'JWT' }, valid, 'another-secret-of-at-least-32-characters')}`, /signature is invalid/],
      ['a tampered payload', `Bearer ${craft({ alg: 'HS256', typ: 'JWT' }, valid, secret).replace(/^([^.]+)\.[^.]+/, (_m, h: string) => `${h}.${b64({ ...valid, sub: admin.id })}`)}`, /signature is invalid/],
      ['expired (signed by the app)', `Bearer ${app.jwt.sign({ sub: member.id }, { expiresIn: -10_000 })}`, /expired/],
      ['expired (crafted)', `Bearer ${craft({ alg: 'HS256', typ: 'JWT' }, { sub: member.id, iat: now() - 120, exp: now() - 60 }, secret)}`, /expired/],
      ['alg none, no signature', `Bearer ${craft({ alg: 'none', typ: 'JWT' }, valid, null)}`, /malformed|invalid/],
      ['alg none, with an HS256 signature', `Bearer ${craft({ alg: 'none', typ: 'JWT' }, valid, secret)}`, /malformed|invalid/],
      ['HS512 with the right secret', `Bearer ${craft({ alg: 'HS512', typ: 'JWT' }, valid, secret, 'sha512')}`, /malformed|invalid/],
      ['HS256 header over an HS512 signature', `Bearer ${craft({ alg: 'HS256', typ: 'JWT' }, valid, secret, 'sha512')}`, /invalid/],
      ['no sub', `Bearer ${craft({ alg: 'HS256', typ: 'JWT' }, { iat: now(), exp: now() + 600 }, secret)}`, /./],
      ['sub not a string', `Bearer ${craft({ alg: 'HS256', typ: 'JWT' }, { ...valid, sub: 42 }, secret)}`, /./],
      ['sub not a UUID', `Bearer ${craft({ alg: 'HS256', typ: 'JWT' }, { ...valid, sub: 'admin' }, secret)}`, /does not name a user/],
      ['sub a UUID with SQL around it', `Bearer ${craft({ alg: 'HS256', typ: 'JWT' }, { ...valid, sub: `${member.id}' OR '1'='1` }, secret)}`, /does not name a user/],
      ['sub of an unknown user', `Bearer ${app.signToken(randomUUID())}`, /Unknown or inactive user/],
      ['sub of a user that existed', `Bearer ${app.signToken(ghost.id)}`, /Unknown or inactive user/]
    ]
    await sql('DELETE FROM users WHERE id = $1', [ghost.id])
    for (const [what, authorization, message] of cases) {
      expect401(t, await get(app, authorization), message, what)
    }
    // Admin-only and write endpoints are guarded the same way.
    expect401(t, await app.inject({ method: 'GET', url: '/api/v1/users' }), /Missing/, 'GET /users without a token')
    const before = await sql('SELECT count(*)::int AS n FROM users')
    expect401(t, await app.inject({ method: 'POST', url: '/api/v1/users', headers: { authorization: 'Bearer garbage' }, payload: { email: 'x@example.test', name: 'X' } }), /malformed/, 'POST /users with garbage')
    t.same(await sql('SELECT count(*)::int AS n FROM users'), before, 'nothing was created')
  })

  t.test('an inactive user gets 401', async (t) => {
    const [sleeper] = await createUsers(app, db.url, ['member']) as [TestUser]
    await sql('UPDATE users SET is_active = false WHERE id = $1', [sleeper.id])
    expect401(t, await as(app, sleeper, { method: 'GET', url: ME }), /Unknown or inactive user/, 'inactive user')
    expect401(t, await as(app, sleeper, { method: 'GET', url: '/api/v1/organizations' }), /Unknown or inactive user/, 'inactive user, another endpoint')
  })

  t.test('a verified token is remembered, but never past its exp', async (t) => {
    const token = app.signToken(member.id, '2s')
    const exp = (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp
    for (let i = 0; i < 3; i++) t.equal((await get(app, `Bearer ${token}`)).statusCode, 200, `use ${i} while valid (the first verifies, later ones come from the cache)`)
    // Past exp (whole seconds), the cached verification is gone: the same token is refused.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, exp * 1000 - Date.now()) + 50))
    expect401(t, await get(app, `Bearer ${token}`), /expired/, 'the cached token once expired')
  })

  t.test('the role comes from the database, not from the token', async (t) => {
    const forged = `Bearer ${app.jwt.sign({ sub: member.id, role: 'admin', isAdmin: true } as unknown as { sub: string })}`
    const me = await get(app, forged)
    t.equal(me.statusCode, 200, 'the token itself is valid')
    t.equal(me.json().role, 'member')
    for (const [method, url, payload] of [['GET', '/api/v1/users', undefined], ['POST', '/api/v1/users', { email: 'escalate@example.test', name: 'E' }],
      ['PATCH', `/api/v1/users/${member.id}`, { role: 'admin' }]] as const) {
      const res = await app.inject({ method, url, headers: { authorization: forged }, ...(payload === undefined ? {} : { payload }) })
      t.equal(res.statusCode, 403, `${method} ${url}: 403`)
      t.same(res.json(), { statusCode: 403, error: 'Forbidden', message: 'This endpoint is for administrators', code: 'FORBIDDEN' })
    }
    t.same(await sql('SELECT role FROM users WHERE id = $1', [member.id]), [{ role: 'member' }], 'still a member')
    t.same(await sql("SELECT count(*)::int AS n FROM users WHERE email = 'escalate@example.test'"), [{ n: 0 }], 'nobody was created')

    // And the other way: promoted in the database, the same old token is an admin's.
    const promote = await as(app, admin, { method: 'PATCH', url: `/api/v1/users/${member.id}`, payload: { role: 'admin' } })
    t.equal(promote.statusCode, 200)
    t.equal((await as(app, member, { method: 'GET', url: '/api/v1/users' })).statusCode, 200, 'promoted: at once on this instance')
    t.equal((await as(app, admin, { method: 'PATCH', url: `/api/v1/users/${member.id}`, payload: { role: 'member' } })).statusCode, 200)
    t.equal((await as(app, member, { method: 'GET', url: '/api/v1/users' })).statusCode, 403, 'demoted: at once on this instance')
  })

  t.test('deactivation: at once on this instance, within the cache TTL on another; reactivation', async (t) => {
    t.setTimeout(60_000)
    const ttlMs = 300
    const appB = await buildTestApp(t, db.url, { ...env, AUTH_CACHE_TTL_MS: String(ttlMs) })
    t.equal(appB.config.authCacheTtlMs, ttlMs)
    // Instance B has the victim cached as active.
    t.equal((await as(appB, victim, { method: 'GET', url: ME })).statusCode, 200)
    t.equal((await as(app, victim, { method: 'GET', url: ME })).statusCode, 200)

    const off = await as(app, admin, { method: 'PATCH', url: `/api/v1/users/${victim.id}`, payload: { isActive: false } })
    t.equal(off.statusCode, 200)
    t.equal(off.json().isActive, false)
    t.same(await sql('SELECT is_active FROM users WHERE id = $1', [victim.id]), [{ is_active: false }])
    expect401(t, await as(app, victim, { method: 'GET', url: ME }), /Unknown or inactive user/, 'instance A right after the PATCH')

    // Instance B trusted its cache: it still answers 200 now (the TTL is 300 ms,
    // and this request follows the PATCH by far less on any sane machine; if it
    // does not, the 401 is correct too, so both are accepted) and 401 once the TTL passed.
    const first = await as(appB, victim, { method: 'GET', url: ME })
    t.ok([200, 401].includes(first.statusCode), 'B right after the PATCH: cached (200) or already expired (401)')
    const deadline = Date.now() + 10_000
    let b: LightMyRequestResponse = first
    while (b.statusCode === 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      b = await as(appB, victim, { method: 'GET', url: ME })
    }
    expect401(t, b, /Unknown or inactive user/, 'instance B after its cache TTL')
    expect401(t, await as(appB, victim, { method: 'GET', url: ME }), /Unknown or inactive user/, 'instance B stays 401')

    // Reactivation: A at once, B (which cached the 401) within its TTL.
    const on = await as(app, admin, { method: 'PATCH', url: `/api/v1/users/${victim.id}`, payload: { isActive: true } })
    t.equal(on.statusCode, 200)
    t.equal(on.json().isActive, true)
    t.same(await sql('SELECT is_active FROM users WHERE id = $1', [victim.id]), [{ is_active: true }])
    t.equal((await as(app, victim, { method: 'GET', url: ME })).statusCode, 200, 'instance A right after reactivation')
    const back = Date.now() + 10_000
    let again = await as(appB, victim, { method: 'GET', url: ME })
    while (again.statusCode === 401 && Date.now() < back) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      again = await as(appB, victim, { method: 'GET', url: ME })
    }
    t.equal(again.statusCode, 200, 'instance B after its cache TTL')
    t.equal(again.json().id, victim.id)
  })

  t.test('a deactivation by a direct database write is honoured within the TTL too', async (t) => {
    t.setTimeout(60_000)
    const appC = await buildTestApp(t, db.url, { ...env, AUTH_CACHE_TTL_MS: '200' })
    const [user] = await createUsers(appC, db.url, ['member']) as [TestUser]
    t.equal((await as(appC, user, { method: 'GET', url: ME })).statusCode, 200)
    await sql('UPDATE users SET is_active = false WHERE id = $1', [user.id])
    const deadline = Date.now() + 10_000
    let res = await as(appC, user, { method: 'GET', url: ME })
    while (res.statusCode === 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      res = await as(appC, user, { method: 'GET', url: ME })
    }
    expect401(t, res, /Unknown or inactive user/, 'after the TTL')
  })

  t.test('a cached caller costs no database query for authentication', async (t) => {
    // A fresh instance: nobody is cached yet. Each request has its own query
    // string so that no response cache can answer in place of the database.
    const appD = await buildTestApp(t, db.url, env)
    const [user] = await createUsers(appD, db.url, ['member']) as [TestUser]
    let n = 0
    const cost = async (who: TestUser): Promise<number> => {
      const before = appD.db.metrics().queryCount
      const res = await as(appD, who, { method: 'GET', url: `${ME}?probe=${n++}` })
      t.equal(res.statusCode, 200)
      return appD.db.metrics().queryCount - before
    }
    const first = await cost(user)
    const later = [await cost(user), await cost(user), await cost(user)]
    t.equal(first, 2, 'first request: the caller lookup and the endpoint\'s own query')
    t.same(later, [1, 1, 1], 'once cached: only the endpoint\'s own query')

    // Unknown users are cached too: a valid token of a deleted user cannot make
    // every request hit the database.
    const unknown = `Bearer ${appD.signToken(randomUUID())}`
    const costOf = async (authorization: string): Promise<number> => {
      const before = appD.db.metrics().queryCount
      t.equal((await get(appD, authorization)).statusCode, 401)
      return appD.db.metrics().queryCount - before
    }
    t.equal(await costOf(unknown), 1, 'an unknown user: one lookup')
    t.equal(await costOf(unknown), 0, 'then none')
    t.equal(await costOf('Bearer garbage'), 0, 'a malformed token never reaches the database')
  })
})
