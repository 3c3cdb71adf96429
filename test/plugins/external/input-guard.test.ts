// Inputs that once reached PostgreSQL as errors (500s): each now answers a
// contract 400 and writes nothing.
import t from 'tap'
import { hasNulEscape } from '../../../src/plugins/external/input-guard'
import { as, createUsers, type TestUser } from '../../helpers/api'
import { buildTestApp } from '../../helpers/app'
import { createTestDatabase, withClient } from '../../helpers/database'

t.test('hasNulEscape finds \\u0000 escapes, not escaped backslashes', async (t) => {
  t.equal(hasNulEscape('{"a":"x\\u0000y"}'), true)
  t.equal(hasNulEscape('{"a":"\\\\\\u0000"}'), true, 'an escaped backslash, then a NUL escape')
  t.equal(hasNulEscape('{"a":"\\\\u0000"}'), false, 'the text \\u0000 (escaped backslash)')
  t.equal(hasNulEscape('{"a":"u0000"}'), false)
  t.equal(hasNulEscape('{}'), false)
})

t.test('bad input answers 400 and changes nothing', async (t) => {
  const db = await createTestDatabase('bad_input')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url)
  const [admin] = await createUsers(app, db.url, ['admin']) as [TestUser]
  const org = (await as(app, admin, { method: 'POST', url: '/api/v1/organizations', payload: { name: 'Target' } })).json()
  const counts = async (): Promise<unknown> => await withClient(db.url, async (c) => (await c.query(
    'SELECT (SELECT count(*) FROM organizations) o, (SELECT count(*) FROM contacts) c, (SELECT count(*) FROM interactions) i, (SELECT count(*) FROM opportunities) p, (SELECT count(*) FROM users) u')).rows[0])
  const before = await counts()

  const json = { 'content-type': 'application/json' }
  const cases: Array<[string, string, string | undefined, RegExp]> = [
    ['POST', '/api/v1/organizations', '{"name":"a\\u0000b"}', /^body must not contain NUL/],
    ['POST', `/api/v1/organizations/${org.id as string}/interactions`, '{"type":"call","subject":"x","notes":"\\u0000"}', /^body must not contain NUL/],
    ['POST', '/api/v1/users', '{"email":"a@b.co","name":"\\u0000"}', /^body must not contain NUL/],
    ['GET', '/api/v1/organizations?search=a%00b', undefined, /^url must not contain NUL/],
    ['GET', '/api/v1/organizations?industrySegment=%00', undefined, /^url must not contain NUL/],
    ['GET', `/api/v1/organizations/${org.id as string}%00`, undefined, /^url must not contain NUL/],
    ['GET', '/api/v1/organizations?offset=2147483648', undefined, /^querystring\.offset must be <= 2147483647/],
    ['GET', '/api/v1/organizations?offset=99999999999999999999', undefined, /^querystring\.offset /],
    ['POST', `/api/v1/organizations/${org.id as string}/opportunities`, '{"name":"x","closeDate":"0000-01-01"}', /^body\.closeDate /],
    ['PATCH', `/api/v1/organizations/${org.id as string}`, '{"annualRevenue":1e400}', /^body\.annualRevenue /],
    ['PATCH', `/api/v1/organizations/${org.id as string}`, '{"annualRevenue":9007199254740993}', /^body\.annualRevenue must be <= 9007199254740991/],
    ['POST', '/api/v1/organizations', '{"name":"x","__proto__":{"isAdmin":true}}', /./],
    // Bodies are JSON: their values are not coerced to the schema's types.
    ['PATCH', `/api/v1/organizations/${org.id as string}`, '{"annualRevenue":"Infinity"}', /^body\.annualRevenue must be integer,null/],
    ['PATCH', `/api/v1/organizations/${org.id as string}`, '{"annualRevenue":"0x10"}', /^body\.annualRevenue /],
    ['PATCH', `/api/v1/organizations/${org.id as string}`, '{"name":true}', /^body\.name must be string/],
    ['PATCH', `/api/v1/organizations/${org.id as string}`, '{"name":["x"]}', /^body\.name must be string/],
    ['PATCH', `/api/v1/users/${admin.id}`, '{"isActive":null}', /^body\.isActive must be boolean/],
    ['PATCH', `/api/v1/users/${admin.id}`, '{"isActive":"false"}', /^body\.isActive must be boolean/],
    ['POST', `/api/v1/organizations/${org.id as string}/opportunities`, '{"name":"x","value":true}', /^body\.value /],
    ['POST', `/api/v1/organizations/${org.id as string}/opportunities`, '{"name":"x","value":1.005}', /^body\.value /]
  ]
  for (const [method, url, payload, message] of cases) {
    const res = await as(app, admin, { method: method as 'GET', url, ...(payload !== undefined ? { payload, headers: json } : {}) })
    t.equal(res.statusCode, 400, `${method} ${url} ${payload ?? ''}`)
    t.same(Object.keys(res.json()).sort(), ['code', 'error', 'message', 'statusCode'])
    t.match(res.json().message, message)
  }
  t.same(await counts(), before, 'nothing was written')
  t.same(await withClient(db.url, async (c) => (await c.query('SELECT name, annual_revenue FROM organizations WHERE id = $1', [org.id])).rows), [{ name: 'Target', annual_revenue: null }])
  t.equal((await as(app, admin, { method: 'GET', url: '/api/v1/organizations?search=%5Cu0000' })).statusCode, 200, 'the text \\u0000 is an ordinary search')
})
