// The OpenAPI document is generated from the route schemas: it must be a
// valid OpenAPI 3 document and list every endpoint of contract §3.
import t from 'tap'
import { Validator } from '@seriousme/openapi-schema-validator'
import { buildTestApp } from '../../helpers/app'
import { createTestDatabase } from '../../helpers/database'

t.test('/docs/json is a valid OpenAPI 3 document listing every endpoint', async (t) => {
  const db = await createTestDatabase('docs')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url)

  const res = await app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const doc = res.json()
  t.match(doc.openapi, /^3\./)

  const validator = new Validator()
  const result = await validator.validate(doc)
  t.same(result.errors ?? [], [], 'no schema errors')
  t.equal(result.valid, true)

  const expected: Record<string, string[]> = {
    '/health': ['get'],
    '/ready': ['get'],
    '/api/v1/users/me': ['get'],
    '/api/v1/users': ['get', 'post'],
    '/api/v1/users/{id}': ['patch'],
    '/api/v1/organizations': ['get', 'post'],
    '/api/v1/organizations/{id}': ['get', 'patch', 'delete'],
    '/api/v1/organizations/{id}/contacts': ['get', 'post'],
    '/api/v1/contacts/{id}': ['get', 'patch', 'delete'],
    '/api/v1/organizations/{id}/interactions': ['get', 'post'],
    '/api/v1/organizations/{id}/opportunities': ['get', 'post'],
    '/api/v1/opportunities/{id}': ['get', 'patch'],
    '/api/v1/dashboard': ['get'],
    '/api/v1/admin/dashboard/refresh': ['post']
  }
  for (const [path, methods] of Object.entries(expected)) {
    t.ok(doc.paths[path], `${path} is documented`)
    for (const method of methods) {
      const operation = doc.paths[path]?.[method]
      t.ok(operation, `${method.toUpperCase()} ${path}`)
      t.ok(Object.keys(operation?.responses ?? {}).some((code) => code.startsWith('2')), `${method.toUpperCase()} ${path} documents its success response`)
      if (path.startsWith('/api/')) t.same(operation?.security, [{ bearerAuth: [] }], `${method.toUpperCase()} ${path} requires a bearer token`)
    }
  }
  t.same(doc.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
  const listItem = doc.paths['/api/v1/organizations'].get.responses['200'].content['application/json'].schema.properties.data.items
  t.ok(listItem.properties.contactCount, 'response schemas are in the document')
  t.notOk(JSON.stringify(doc).includes('~kind'), 'no TypeBox internals leak into the document')

  const ui = await app.inject({ method: 'GET', url: '/docs' })
  t.equal(ui.statusCode, 200)
  t.match(ui.headers['content-type'], /^text\/html/)
})
