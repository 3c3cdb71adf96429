// The app-wide error handler (plugins/errors.ts), exercised through routes
// this test adds to a real app: contract error bodies, 503 for a database
// outage, and nothing internal leaking to the client.
import t from 'tap'
import { Type } from 'typebox'
import { buildApp } from '../../../src/app'
import { closeOnTeardown, testConfig } from '../../helpers/app'
import { createTestDatabase } from '../../helpers/database'
import { freePort } from '../../helpers/net'

t.test('error bodies follow the contract', async (t) => {
  const db = await createTestDatabase('errors')
  t.teardown(db.drop)
  const app = await buildApp({ config: testConfig(db.url) })
  closeOnTeardown(t, app)
  app.post('/probe/:id', {
    schema: {
      params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
      body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 5 }), count: Type.Integer({ minimum: 0 }) })
    }
  }, async () => ({ ok: true }))
  app.get('/boom', async () => { throw new Error('secret internals: SELECT * FROM users WHERE password = \'hunter2\'') })
  app.get('/sql-error', async () => await app.db.prisma.$queryRaw`SELECT * FROM no_such_table WHERE x = ${'secret-param'}`)
  await app.ready()

  const badBody = await app.inject({ method: 'POST', url: '/probe/2d1c8f2e-5a0b-4a4e-9d7e-3f1c2b3a4d5e', payload: { name: 'too long', count: 1 } })
  t.equal(badBody.statusCode, 400)
  t.same(Object.keys(badBody.json()).sort(), ['code', 'error', 'message', 'statusCode'])
  t.equal(badBody.json().error, 'Bad Request')
  t.equal(badBody.json().code, 'VALIDATION_ERROR')
  t.match(badBody.json().message, /^body\.name must NOT have more than 5 characters/, 'names the field')

  const missing = await app.inject({ method: 'POST', url: '/probe/2d1c8f2e-5a0b-4a4e-9d7e-3f1c2b3a4d5e', payload: { name: 'ok' } })
  t.equal(missing.statusCode, 400)
  t.match(missing.json().message, /^body\.count /, 'names the missing field')

  const badParam = await app.inject({ method: 'POST', url: '/probe/not-a-uuid', payload: { name: 'ok', count: 1 } })
  t.equal(badParam.statusCode, 400)
  t.match(badParam.json().message, /^params\.id must match format "uuid"/)

  const notJson = await app.inject({ method: 'POST', url: '/probe/2d1c8f2e-5a0b-4a4e-9d7e-3f1c2b3a4d5e', payload: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  t.equal(notJson.statusCode, 415)
  t.equal(notJson.json().error, 'Unsupported Media Type')

  const tooBig = await app.inject({ method: 'POST', url: '/probe/2d1c8f2e-5a0b-4a4e-9d7e-3f1c2b3a4d5e', payload: JSON.stringify({ name: 'x'.repeat(1024 * 1024 + 1), count: 1 }), headers: { 'content-type': 'application/json' } })
  t.equal(tooBig.statusCode, 413)
  t.equal(tooBig.json().error, 'Payload Too Large')

  const malformed = await app.inject({ method: 'POST', url: '/probe/2d1c8f2e-5a0b-4a4e-9d7e-3f1c2b3a4d5e', payload: '{"name":', headers: { 'content-type': 'application/json' } })
  t.equal(malformed.statusCode, 400)
  t.equal(malformed.json().error, 'Bad Request')

  const boom = await app.inject({ method: 'GET', url: '/boom' })
  t.equal(boom.statusCode, 500)
  t.same(boom.json(), { statusCode: 500, error: 'Internal Server Error', message: 'Internal server error', code: 'INTERNAL_ERROR' })
  t.notMatch(boom.body, /secret|SELECT|hunter2|at /, 'no message, SQL or stack reaches the client')

  const sql = await app.inject({ method: 'GET', url: '/sql-error' })
  t.equal(sql.statusCode, 500)
  t.notMatch(sql.body, /no_such_table|secret-param|SELECT/, 'no SQL or parameter values reach the client')
})

t.test('a database outage answers 503 with Retry-After', async (t) => {
  const app = await buildApp({ config: testConfig(`postgresql://root@127.0.0.1:${await freePort()}/none`, { DATABASE_CONNECT_TIMEOUT_MS: '300' }) })
  closeOnTeardown(t, app)
  app.get('/count', async () => ({ users: await app.db.prisma.user.count() }))
  await app.ready()
  const res = await app.inject({ method: 'GET', url: '/count' })
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '5')
  t.same(res.json(), { statusCode: 503, error: 'Service Unavailable', message: 'The database is unavailable; retry shortly', code: 'DATABASE_UNAVAILABLE' })
})
