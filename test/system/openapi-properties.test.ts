// Property tests generated from the OpenAPI document alone: for every
// operation it declares, requests built from its declared parameters and body
// (valid and near-valid values: boundaries, non-finite numbers, exponents,
// huge integers, duplicates, unicode, empty strings) never answer 5xx, answer
// only declared statuses with declared bodies (the oracle in
// helpers/openapi-oracle.ts checks every inject), and a 4xx changes nothing
// in the database.
import t from 'tap'
import fc from 'fast-check'
import { as, createUsers, type TestUser } from '../helpers/api'
import { buildTestApp } from '../helpers/app'
import { tableChecksums } from '../helpers/checksum'
import { createTestDatabase, withClient } from '../helpers/database'
import { bodyValue, parameterText, type Schema } from '../helpers/schema-arbitraries'

interface Parameter { name: string; in: 'query' | 'path' | 'header'; required?: boolean; schema: Schema }
interface Operation { parameters?: Parameter[]; requestBody?: { content: Record<string, { schema: Schema }> } }

/** PROPERTY_RUNS_SCALE=10 for a deeper hunt. */
const RUNS = Math.ceil(25 * Math.max(Number(process.env.PROPERTY_RUNS_SCALE ?? 1) || 1, 0.1))

t.test('every documented operation, driven by its own schema', async (t) => {
  const db = await createTestDatabase('openapi_properties')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url, { RATE_LIMIT_MAX: '100000', DASHBOARD_REFRESH_INTERVAL_MS: '0' })
  const [admin, member, target] = await createUsers(app, db.url, ['admin', 'member', 'member']) as [TestUser, TestUser, TestUser]
  const org = (await as(app, member, { method: 'POST', url: '/api/v1/organizations', payload: { name: 'Fixture' } })).json<{ id: string }>()
  const contact = (await as(app, member, { method: 'POST', url: `/api/v1/organizations/${org.id}/contacts`, payload: { firstName: 'A', lastName: 'B' } })).json<{ id: string }>()
  const opportunity = (await as(app, member, { method: 'POST', url: `/api/v1/organizations/${org.id}/opportunities`, payload: { name: 'Deal' } })).json<{ id: string }>()
  // Ids the path parameters may name: the fixtures, by the path's resource.
  const fixtureId = (path: string): string => path.startsWith('/api/v1/contacts/')
    ? contact.id
    : path.startsWith('/api/v1/opportunities/') ? opportunity.id : path.startsWith('/api/v1/users/') ? target.id : org.id

  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json<{ paths: Record<string, Record<string, Operation>> }>()
  const checksums = async (): Promise<unknown> => await withClient(db.url, tableChecksums)
  const statuses = new Map<string, Set<number>>()

  // Deletes last (contacts before organizations), so the other operations still find the fixtures.
  const operations = Object.entries(doc.paths)
    .flatMap(([path, item]) => Object.entries(item).map(([method, operation]) => ({ path, method, operation })))
    .filter(({ path }) => path !== '/metrics')
    .sort((a, b) => Number(a.method === 'delete') - Number(b.method === 'delete') || Number(a.path.startsWith('/api/v1/organizations/')) - Number(b.path.startsWith('/api/v1/organizations/')))
  for (const { path, method, operation } of operations) {
    const name = `${method.toUpperCase()} ${path}`
    const query = (operation.parameters ?? []).filter((p) => p.in === 'query')
    const pathParams = (operation.parameters ?? []).filter((p) => p.in === 'path')
    const bodySchema = operation.requestBody?.content['application/json']?.schema
    const request = fc.record({
      who: fc.constantFrom(admin, member),
      pathValues: fc.tuple(...pathParams.map((p) => fc.oneof({ weight: 3, arbitrary: fc.constant(fixtureId(path)) }, parameterText(p.schema))), fc.constant('')),
      queryValues: fc.tuple(...query.map((p) => fc.option(parameterText(p.schema), { nil: undefined })), fc.constant(undefined)),
      duplicate: fc.option(fc.constantFrom(...(query.length > 0 ? query.map((p) => p.name) : ['x'])), { nil: undefined }),
      body: bodySchema === undefined ? fc.constant(undefined) : bodyValue(bodySchema),
      ifMatch: fc.option(fc.constantFrom('*', '"stale"', 'W/"weak"', ''), { nil: undefined })
    })
    await fc.assert(fc.asyncProperty(request, async (r) => {
      let url = path
      pathParams.forEach((p, i) => { url = url.replace(`{${p.name}}`, encodeURIComponent(r.pathValues[i] ?? '')) })
      const search = new URLSearchParams()
      query.forEach((p, i) => { const value = r.queryValues[i]; if (value !== undefined) search.append(p.name, value) })
      if (r.duplicate !== undefined) search.append(r.duplicate, search.get(r.duplicate) ?? '1')
      if (search.size > 0) url += `?${search.toString()}`
      const payload = r.body === undefined ? undefined : JSON.stringify(r.body)
      const before = await checksums()
      const res = await as(app, r.who, {
        method: method.toUpperCase() as 'GET',
        url,
        headers: {
          ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(r.ifMatch !== undefined && method === 'patch' ? { 'if-match': r.ifMatch } : {})
        },
        ...(payload !== undefined ? { payload } : {})
      })
      const seen = statuses.get(name) ?? new Set()
      statuses.set(name, seen.add(res.statusCode))
      if (res.statusCode >= 500) throw new Error(`${name}: ${res.statusCode} for ${url} ${payload ?? ''}: ${res.body}`)
      if (res.statusCode >= 400 && JSON.stringify(await checksums()) !== JSON.stringify(before)) {
        throw new Error(`${name}: ${res.statusCode} changed the database for ${url} ${payload ?? ''}`)
      }
    }), { numRuns: RUNS })
    t.pass(`${name}: ${RUNS} generated requests, statuses ${[...statuses.get(name) ?? []].sort().join(', ')}`)
  }
  const answered = [...statuses.values()].flatMap((set) => [...set])
  t.ok(answered.some((status) => status >= 200 && status < 300), 'some generated requests succeeded')
  t.ok(answered.includes(400), 'some generated requests were refused as invalid')
})
