// What a client integrating against /docs/json relies on: non-finite numbers
// never reach a handler (nor the database), the document says which
// parameters are optional and which statuses each operation answers, and
// errors made below the router still carry the contract's body and headers.
import net from 'node:net'
import t from 'tap'
import { as, createUsers, type TestUser } from '../helpers/api'
import { buildTestApp } from '../helpers/app'
import { createTestDatabase } from '../helpers/database'
import { checkSocketResponse } from '../helpers/openapi-oracle'

const NON_FINITE = ['Infinity', '-Infinity', '1e309', '1e400', '-1e309', '%2BInfinity']

t.test('non-finite limit and offset answer 400 naming the parameter, and no SQL runs', async (t) => {
  const db = await createTestDatabase('api_truth_finite')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url)
  const [admin] = await createUsers(app, db.url, ['admin']) as [TestUser]
  const org = (await as(app, admin, { method: 'POST', url: '/api/v1/organizations', payload: { name: 'Target' } })).json<{ id: string }>()
  const lists = ['/api/v1/organizations', `/api/v1/organizations/${org.id}/contacts`, `/api/v1/organizations/${org.id}/interactions`,
    `/api/v1/organizations/${org.id}/opportunities`, '/api/v1/users']
  for (const list of lists) {
    t.equal((await as(app, admin, { method: 'GET', url: list })).statusCode, 200, `${list} answers without parameters`)
  }
  for (const list of lists) {
    for (const parameter of ['limit', 'offset']) {
      for (const value of NON_FINITE) {
        const queriesBefore = app.db.metrics().queryCount
        const res = await as(app, admin, { method: 'GET', url: `${list}?${parameter}=${value}`, headers: { 'x-no-compression': '1' } })
        t.equal(res.statusCode, 400, `${list}?${parameter}=${value}: 400`)
        t.match(res.json(), { code: 'VALIDATION_ERROR', message: `querystring.${parameter} must be a finite number` })
        t.equal(app.db.metrics().queryCount, queriesBefore, `${list}?${parameter}=${value}: no SQL ran`)
      }
    }
  }
  const exponent = await as(app, admin, { method: 'GET', url: '/api/v1/organizations?limit=2e1' })
  t.equal(exponent.statusCode, 200, 'a finite exponent form is still a number')
  t.equal(exponent.json().page.limit, 20)
})

t.test('money: the number form is constrained as the string form is', async (t) => {
  const db = await createTestDatabase('api_truth_money')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url)
  const [admin] = await createUsers(app, db.url, ['admin']) as [TestUser]
  const org = (await as(app, admin, { method: 'POST', url: '/api/v1/organizations', payload: { name: 'Money' } })).json<{ id: string }>()
  const create = async (value: unknown): Promise<{ statusCode: number; json: () => { value?: string; message?: string } }> =>
    await as(app, admin, { method: 'POST', url: `/api/v1/organizations/${org.id}/opportunities`, payload: { name: 'Deal', value } })
  for (const [value, stored] of [[0.3, '0.30'], [12.5, '12.50'], [0.07, '0.07'], [999_999_999_999.99, '999999999999.99'], [0, '0.00'], ['42.10', '42.10']] as const) {
    const res = await create(value)
    t.equal(res.statusCode, 201, `${JSON.stringify(value)} is accepted`)
    t.equal(res.json().value, stored)
  }
  for (const value of [-5, 0.1234, 1e13, 0.001, '-5', '1.234']) {
    const res = await create(value)
    t.equal(res.statusCode, 400, `${JSON.stringify(value)} is refused`)
    t.match(res.json().message, /^body\.value /)
  }
})

t.test('the document: optional parameters, defaults, every status', async (t) => {
  const db = await createTestDatabase('api_truth_doc')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url)
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json()
  type Parameter = { name: string; in: string; required?: boolean; schema: { default?: unknown } }
  const operations: Array<[string, string, { parameters?: Parameter[]; responses: Record<string, unknown>; requestBody?: unknown }]> = []
  for (const [path, item] of Object.entries<Record<string, never>>(doc.paths)) {
    for (const [method, operation] of Object.entries(item)) operations.push([path, method, operation])
  }
  for (const [path, method, operation] of operations) {
    const name = `${method.toUpperCase()} ${path}`
    for (const parameter of operation.parameters ?? []) {
      if (parameter.in === 'query') t.not(parameter.required, true, `${name}: query parameter ${parameter.name} is optional`)
      if (parameter.name === 'limit') t.equal(parameter.schema.default, 50, `${name}: limit defaults to 50`)
      if (parameter.name === 'offset') t.equal(parameter.schema.default, 0, `${name}: offset defaults to 0`)
    }
    const statuses = Object.keys(operation.responses)
    for (const status of ['400', '500', '503']) t.ok(statuses.includes(status), `${name} declares ${status}`)
    if (method !== 'get') for (const status of ['413', '415']) t.ok(statuses.includes(status), `${name} declares ${status}`)
    if (path.startsWith('/api/')) {
      for (const status of ['401', '429']) t.ok(statuses.includes(status), `${name} declares ${status}`)
      if (method === 'get' && path !== '/api/v1/admin/runtime') t.ok(statuses.includes('304'), `${name} declares 304`)
    }
  }
  const money = doc.paths['/api/v1/organizations/{id}/opportunities'].post.requestBody.content['application/json'].schema.properties.value
  t.match(money, { type: ['string', 'number'], minimum: 0, multipleOf: 0.01 }, 'value as a number: non-negative, two places')
})

t.test('framework-level errors keep the contract\'s body and headers', async (t) => {
  const db = await createTestDatabase('api_truth_framework')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url)
  const [admin] = await createUsers(app, db.url, ['admin']) as [TestUser]

  const poisoned = await as(app, admin, { method: 'POST', url: '/api/v1/organizations', headers: { 'content-type': 'application/json' }, payload: '{"name":"x","__proto__":{"role":"admin"}}' })
  t.equal(poisoned.statusCode, 400)
  t.match(poisoned.json(), { code: 'VALIDATION_ERROR', message: /^body must not contain a "__proto__" key/ })
  const broken = await as(app, admin, { method: 'POST', url: '/api/v1/organizations', headers: { 'content-type': 'application/json' }, payload: '{"name":' })
  t.match(broken.json(), { code: 'INVALID_JSON' }, 'JSON that does not parse is still INVALID_JSON')

  const query = await as(app, admin, { method: 'QUERY' as 'GET', url: '/api/v1/organizations' })
  t.equal(query.statusCode, 400)
  t.match(query.json(), { code: 'MISSING_CONTENT_TYPE' }, 'no Fastify-internal code')
  const unknownMethod = await as(app, admin, { method: 'PUT', url: '/api/v1/organizations', payload: {} })
  t.equal(unknownMethod.statusCode, 404)
  t.match(unknownMethod.json(), { code: 'NOT_FOUND' })

  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as net.AddressInfo).port
  interface RawResponse { statusCode: number; headers: Record<string, string>; body: Buffer }
  const raw = async (request: string): Promise<RawResponse> => await new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request))
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('close', () => {
      const text = Buffer.concat(chunks)
      const split = text.indexOf('\r\n\r\n')
      const [status, ...lines] = text.subarray(0, split).toString('latin1').split('\r\n')
      const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]))
      resolve({ statusCode: Number(status?.split(' ')[1]), headers, body: text.subarray(split + 4) })
    })
  })
  const oversized = await raw(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)
  t.equal(oversized.statusCode, 431, 'headers over 16 KiB: 431')
  t.match(JSON.parse(oversized.body.toString()), { statusCode: 431, code: 'HEADERS_TOO_LARGE' })
  const malformed = await raw('GET /health HTTP/1.1\r\nHost x\r\n\r\n')
  t.equal(malformed.statusCode, 400, 'a malformed header line: 400')
  t.match(JSON.parse(malformed.body.toString()), { statusCode: 400, error: 'Bad Request', code: 'MALFORMED_REQUEST' })
  for (const res of [oversized, malformed]) {
    t.equal(res.headers['x-content-type-options'], 'nosniff')
    t.equal(res.headers['x-frame-options'], 'DENY')
    t.match(res.headers['x-request-id'], /^[0-9a-f-]{36}$/)
    checkSocketResponse(app, { method: 'GET', url: '/health', ...res })
  }
})
