// Contacts through HTTP (contract §2, §3): create, list, read, partial update
// with strong ETags and If-Match, one primary contact per organization, soft
// delete, validation, and member/admin scoping, checked against the rows in
// the database.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildTestApp } from '../../helpers/app'
import { createTestDatabase, withClient } from '../../helpers/database'
import { as, createUsers, type TestUser } from '../../helpers/api'

const API = '/api/v1'
const UNKNOWN_ID = '2d1c8f2e-5a0b-4a4e-9d7e-3f1c2b3a4d5e'
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

interface ContactRow {
  id: string
  organization_id: string
  first_name: string
  last_name: string
  email: string | null
  phone: string | null
  title: string | null
  is_primary: boolean
  is_deleted: boolean
  created_at: Date
  updated_at: Date
}

/** The JSON a client must see for a row: camelCase, null columns absent. */
function expectedJson (row: ContactRow): Record<string, unknown> {
  const json: Record<string, unknown> = {
    id: row.id,
    organizationId: row.organization_id,
    firstName: row.first_name,
    lastName: row.last_name,
    isPrimary: row.is_primary,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString()
  }
  if (row.email !== null) json.email = row.email
  if (row.phone !== null) json.phone = row.phone
  if (row.title !== null) json.title = row.title
  return json
}

function validationError (message: string): Record<string, unknown> {
  return { statusCode: 400, error: 'Bad Request', message, code: 'VALIDATION_ERROR' }
}

function notFound (what: 'Organization' | 'Contact'): Record<string, unknown> {
  return { statusCode: 404, error: 'Not Found', message: `${what} not found`, code: 'NOT_FOUND' }
}

t.test('contacts API', async (t) => {
  const db = await createTestDatabase('contacts')
  t.teardown(db.drop)
  const app: FastifyInstance = await buildTestApp(t, db.url)
  const [admin, memberA, memberB] = await createUsers(app, db.url, ['admin', 'member', 'member']) as [TestUser, TestUser, TestUser]

  const sql = async <R extends object = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<R[]> =>
    await withClient(db.url, async (client) => (await client.query(text, params)).rows as R[])
  const contactRow = async (id: string): Promise<ContactRow | undefined> =>
    (await sql<ContactRow>('SELECT * FROM contacts WHERE id = $1', [id]))[0]
  const contactsOf = async (organizationId: string): Promise<ContactRow[]> =>
    await sql<ContactRow>('SELECT * FROM contacts WHERE organization_id = $1 ORDER BY created_at, id', [organizationId])
  const allContacts = async (): Promise<ContactRow[]> => await sql<ContactRow>('SELECT * FROM contacts ORDER BY id')

  async function createOrganization (user: TestUser, name: string): Promise<string> {
    const res = await as(app, user, { method: 'POST', url: `${API}/organizations`, payload: { name } })
    if (res.statusCode !== 201) throw new Error(`organization create failed: ${res.statusCode} ${res.body}`)
    return res.json().id as string
  }
  async function createContact (user: TestUser, organizationId: string, payload: Record<string, unknown>): Promise<Record<string, any>> {
    const res = await as(app, user, { method: 'POST', url: `${API}/organizations/${organizationId}/contacts`, payload })
    if (res.statusCode !== 201) throw new Error(`contact create failed: ${res.statusCode} ${res.body}`)
    return res.json()
  }

  await t.test('401 without a token or with a bad one, and nothing is written', async (t) => {
    const org = await createOrganization(memberA, 'Auth Org')
    const contact = await createContact(memberA, org, { firstName: 'Ada', lastName: 'Lovelace' })
    const before = await allContacts()
    const requests = [
      { method: 'GET' as const, url: `${API}/organizations/${org}/contacts` },
      { method: 'POST' as const, url: `${API}/organizations/${org}/contacts`, payload: { firstName: 'X', lastName: 'Y' } },
      { method: 'GET' as const, url: `${API}/contacts/${contact.id}` },
      { method: 'PATCH' as const, url: `${API}/contacts/${contact.id}`, payload: { title: 'Hacked' } },
      { method: 'DELETE' as const, url: `${API}/contacts/${contact.id}` }
    ]
    for (const request of requests) {
      const res = await app.inject(request)
      t.equal(res.statusCode, 401, `${request.method} ${request.url} without a token`)
      t.same(res.json(), { statusCode: 401, error: 'Unauthorized', message: 'Missing Authorization header (Bearer token)', code: 'UNAUTHORIZED' })
      t.equal(res.headers['www-authenticate'], 'Bearer')
      const forged = await app.inject({ ...request, headers: { authorization: 'Bearer not.a.jwt' } })
      t.equal(forged.statusCode, 401, `${request.method} ${request.url} with a malformed token`)
      t.equal(forged.json().code, 'UNAUTHORIZED')
    }
    t.same(await allContacts(), before, 'no contact row changed')
  })

  await t.test('create: 201 with Location, a strong ETag, nulls omitted, and the row as sent', async (t) => {
    const org = await createOrganization(memberA, 'Create Org')
    const res = await as(app, memberA, { method: 'POST', url: `${API}/organizations/${org}/contacts`, payload: { firstName: 'Grace', lastName: 'Hopper' } })
    t.equal(res.statusCode, 201)
    t.match(res.headers['content-type'], /^application\/json; charset=utf-8/)
    const body = res.json()
    t.match(body.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    t.equal(res.headers.location, `${API}/contacts/${body.id}`)
    t.match(res.headers.etag, /^"[^"]+"$/, 'a strong ETag (no W/ prefix)')

    const row = await contactRow(body.id)
    t.ok(row, 'the row exists')
    t.match(row, { organization_id: org, first_name: 'Grace', last_name: 'Hopper', email: null, phone: null, title: null, is_primary: false, is_deleted: false })
    t.same(body, expectedJson(row!), 'body is the row in camelCase')
    t.same(Object.keys(body).sort(), ['createdAt', 'firstName', 'id', 'isPrimary', 'lastName', 'organizationId', 'updatedAt'], 'null email, phone, title are absent, not null')
    t.match(body.createdAt, ISO)

    const get = await as(app, memberA, { method: 'GET', url: `${API}/contacts/${body.id}` })
    t.equal(get.statusCode, 200)
    t.same(get.json(), body, 'GET returns what POST returned')
    t.equal(get.headers.etag, res.headers.etag, 'GET and POST agree on the ETag of an unchanged contact')

    const full = await as(app, memberA, {
      method: 'POST',
      url: `${API}/organizations/${org}/contacts`,
      payload: { firstName: 'Alan', lastName: 'Turing', email: 'alan@example.com', phone: '+44 20 7946 0000', title: 'Head of Computing', isPrimary: true }
    })
    t.equal(full.statusCode, 201)
    const fullRow = await contactRow(full.json().id)
    t.match(fullRow, { first_name: 'Alan', last_name: 'Turing', email: 'alan@example.com', phone: '+44 20 7946 0000', title: 'Head of Computing', is_primary: true })
    t.same(full.json(), expectedJson(fullRow!))

    const explicitNulls = await as(app, memberA, { method: 'POST', url: `${API}/organizations/${org}/contacts`, payload: { firstName: 'Null', lastName: 'Fields', email: null, phone: null, title: null } })
    t.equal(explicitNulls.statusCode, 201, 'explicit nulls are accepted on create')
    t.notOk('email' in explicitNulls.json())
    t.match(await contactRow(explicitNulls.json().id), { email: null, phone: null, title: null })

    const boundary = await as(app, memberA, { method: 'POST', url: `${API}/organizations/${org}/contacts`, payload: { firstName: 'f'.repeat(100), lastName: 'l'.repeat(100), phone: 'p'.repeat(50), title: 't'.repeat(100) } })
    t.equal(boundary.statusCode, 201, 'the maximum lengths are accepted')
    t.match(await contactRow(boundary.json().id), { first_name: 'f'.repeat(100), last_name: 'l'.repeat(100), phone: 'p'.repeat(50), title: 't'.repeat(100) })
  })

  await t.test('create: each invalid field is a 400 naming it, and nothing is written', async (t) => {
    const org = await createOrganization(memberA, 'Validation Org')
    const valid = { firstName: 'Valid', lastName: 'Person' }
    const cases: Array<[string, Record<string, unknown>, string | RegExp]> = [
      ['missing firstName', { lastName: 'Person' }, /^body\.firstName /],
      ['missing lastName', { firstName: 'Valid' }, /^body\.lastName /],
      ['empty firstName', { ...valid, firstName: '' }, 'body.firstName must NOT have fewer than 1 characters'],
      ['too long lastName', { ...valid, lastName: 'x'.repeat(101) }, 'body.lastName must NOT have more than 100 characters'],
      ['bad email', { ...valid, email: 'not-an-email' }, 'body.email must match format "email"'],
      ['too long email', { ...valid, email: `${'a'.repeat(250)}@example.com` }, /^body\.email /],
      ['too long phone', { ...valid, phone: '1'.repeat(51) }, 'body.phone must NOT have more than 50 characters'],
      ['too long title', { ...valid, title: 't'.repeat(101) }, 'body.title must NOT have more than 100 characters'],
      ['null firstName', { ...valid, firstName: null }, /^body\.firstName /],
      ['non-boolean isPrimary', { ...valid, isPrimary: 'yes' }, /^body\.isPrimary /],
      ['unknown property', { ...valid, nickname: 'Val' }, 'body.nickname is not allowed'],
      ['client-chosen organizationId', { ...valid, organizationId: UNKNOWN_ID }, 'body.organizationId is not allowed'],
      ['client-chosen isDeleted', { ...valid, isDeleted: true }, 'body.isDeleted is not allowed']
    ]
    for (const [name, payload, message] of cases) {
      const res = await as(app, memberA, { method: 'POST', url: `${API}/organizations/${org}/contacts`, payload })
      t.equal(res.statusCode, 400, name)
      if (typeof message === 'string') {
        t.same(res.json(), validationError(message), `${name}: exact error body`)
      } else {
        t.same(Object.keys(res.json()).sort(), ['code', 'error', 'message', 'statusCode'])
        t.match(res.json(), { statusCode: 400, error: 'Bad Request', code: 'VALIDATION_ERROR', message }, `${name}: names the field`)
      }
    }
    t.same(await contactsOf(org), [], 'no contact was written')

    const badPath = await as(app, memberA, { method: 'POST', url: `${API}/organizations/not-a-uuid/contacts`, payload: valid })
    t.equal(badPath.statusCode, 400)
    t.same(badPath.json(), validationError('params.id must match format "uuid"'))
    const unknownOrg = await as(app, memberA, { method: 'POST', url: `${API}/organizations/${UNKNOWN_ID}/contacts`, payload: valid })
    t.equal(unknownOrg.statusCode, 404)
    t.same(unknownOrg.json(), notFound('Organization'))
    t.same(await sql('SELECT id FROM contacts WHERE organization_id = $1', [UNKNOWN_ID]), [])
  })

  await t.test('list: newest first, limit/offset pages with hasMore, deleted contacts left out', async (t) => {
    const org = await createOrganization(memberA, 'List Org')
    const other = await createOrganization(memberA, 'Other List Org')
    await createContact(memberA, other, { firstName: 'Not', lastName: 'Mine' })

    const empty = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/contacts` })
    t.equal(empty.statusCode, 200)
    t.same(empty.json(), { data: [], page: { limit: 50, offset: 0, hasMore: false } }, 'defaults: limit 50, offset 0')

    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push((await createContact(memberA, org, { firstName: `First${i}`, lastName: `Last${i}` })).id as string)
    // Distinct, known creation times, deliberately not in insertion order.
    const days = [3, 1, 4, 5, 2] // ids[3] newest, then ids[2], ids[0], ids[4], ids[1]
    for (const [i, id] of ids.entries()) await sql('UPDATE contacts SET created_at = \'2024-01-01T00:00:00Z\'::timestamptz + make_interval(days => $2) WHERE id = $1', [id, days[i]])
    const newestFirst = [ids[3], ids[2], ids[0], ids[4], ids[1]]

    const all = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/contacts` })
    t.equal(all.statusCode, 200)
    t.same(all.json().data.map((c: { id: string }) => c.id), newestFirst, 'newest first')
    t.same(all.json().page, { limit: 50, offset: 0, hasMore: false })
    const rows = await contactsOf(org)
    t.same(all.json().data, newestFirst.map((id) => expectedJson(rows.find((r) => r.id === id)!)), 'each item is its row, nulls omitted')

    const page1 = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/contacts?limit=2` })
    t.same(page1.json().data.map((c: { id: string }) => c.id), newestFirst.slice(0, 2))
    t.match(page1.json().page, { limit: 2, offset: 0, hasMore: true, nextCursor: String })
    const page2 = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/contacts?limit=2&offset=2` })
    t.same(page2.json().data.map((c: { id: string }) => c.id), newestFirst.slice(2, 4))
    t.match(page2.json().page, { limit: 2, offset: 2, hasMore: true, nextCursor: String })
    const page3 = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/contacts?limit=2&offset=4` })
    t.same(page3.json().data.map((c: { id: string }) => c.id), newestFirst.slice(4))
    t.same(page3.json().page, { limit: 2, offset: 4, hasMore: false })
    const exact = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/contacts?limit=5` })
    t.same(exact.json().page, { limit: 5, offset: 0, hasMore: false }, 'a page that ends exactly at the last row has no more')
    const beyond = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/contacts?offset=10` })
    t.same(beyond.json(), { data: [], page: { limit: 50, offset: 10, hasMore: false } })

    const del = await as(app, memberA, { method: 'DELETE', url: `${API}/contacts/${ids[2]}` })
    t.equal(del.statusCode, 204)
    const afterDelete = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/contacts` })
    t.same(afterDelete.json().data.map((c: { id: string }) => c.id), [ids[3], ids[0], ids[4], ids[1]], 'the deleted contact is gone from the list')

    const before = await allContacts()
    const invalid: Array<[string, string]> = [
      ['limit=0', 'querystring.limit must be >= 1'],
      ['limit=201', 'querystring.limit must be <= 200'],
      ['offset=-1', 'querystring.offset must be >= 0'],
      ['limit=abc', 'querystring.limit must be integer'],
      ['sort=name', 'querystring.sort is not allowed']
    ]
    for (const [query, message] of invalid) {
      const res = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/contacts?${query}` })
      t.equal(res.statusCode, 400, query)
      t.same(res.json(), validationError(message), `${query}: names the parameter`)
    }
    const max = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/contacts?limit=200` })
    t.equal(max.statusCode, 200, 'limit 200 is allowed')
    t.same(max.json().page, { limit: 200, offset: 0, hasMore: false })
    const badId = await as(app, memberA, { method: 'GET', url: `${API}/organizations/nope/contacts` })
    t.equal(badId.statusCode, 400)
    t.same(badId.json(), validationError('params.id must match format "uuid"'))
    const unknownOrg = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${UNKNOWN_ID}/contacts` })
    t.equal(unknownOrg.statusCode, 404)
    t.same(unknownOrg.json(), notFound('Organization'))
    t.same(await allContacts(), before, 'reads change nothing')
  })

  await t.test('GET by id: 200 with ETag, 400 for a bad uuid, 404 for an unknown one', async (t) => {
    const org = await createOrganization(memberA, 'Get Org')
    const created = await createContact(memberA, org, { firstName: 'Barbara', lastName: 'Liskov', email: 'barbara@example.com' })
    const res = await as(app, memberA, { method: 'GET', url: `${API}/contacts/${created.id}` })
    t.equal(res.statusCode, 200)
    t.same(res.json(), expectedJson((await contactRow(created.id))!))
    t.equal(res.json().email, 'barbara@example.com')
    t.notOk('phone' in res.json(), 'null phone is absent')
    t.match(res.headers.etag, /^"[^"]+"$/)

    const bad = await as(app, memberA, { method: 'GET', url: `${API}/contacts/12345` })
    t.equal(bad.statusCode, 400)
    t.same(bad.json(), validationError('params.id must match format "uuid"'))
    const unknown = await as(app, memberA, { method: 'GET', url: `${API}/contacts/${UNKNOWN_ID}` })
    t.equal(unknown.statusCode, 404)
    t.same(unknown.json(), notFound('Contact'))
  })

  await t.test('PATCH: changes only the fields sent, null clears, a new ETag each time', async (t) => {
    const org = await createOrganization(memberA, 'Patch Org')
    const created = await createContact(memberA, org, { firstName: 'Edsger', lastName: 'Dijkstra', email: 'ewd@example.com', phone: '555-0100', title: 'Professor' })
    const getBefore = await as(app, memberA, { method: 'GET', url: `${API}/contacts/${created.id}` })
    const etag0 = getBefore.headers.etag as string

    const res = await as(app, memberA, { method: 'PATCH', url: `${API}/contacts/${created.id}`, payload: { lastName: 'W. Dijkstra', phone: '555-0199' } })
    t.equal(res.statusCode, 200)
    const row = await contactRow(created.id)
    t.match(row, { first_name: 'Edsger', last_name: 'W. Dijkstra', email: 'ewd@example.com', phone: '555-0199', title: 'Professor', is_primary: false })
    t.same(res.json(), expectedJson(row!), 'the response is the updated row')
    t.equal(res.json().createdAt, created.createdAt, 'createdAt unchanged')
    t.match(res.headers.etag, /^"[^"]+"$/)
    t.not(res.headers.etag, etag0, 'a new ETag')
    const getAfter = await as(app, memberA, { method: 'GET', url: `${API}/contacts/${created.id}` })
    t.same(getAfter.json(), res.json(), 'GET shows the update')
    t.equal(getAfter.headers.etag, res.headers.etag, 'GET agrees with the ETag PATCH returned')

    const cleared = await as(app, memberA, { method: 'PATCH', url: `${API}/contacts/${created.id}`, payload: { title: null, email: null } })
    t.equal(cleared.statusCode, 200)
    t.notOk('title' in cleared.json(), 'a cleared title is absent from the response')
    t.notOk('email' in cleared.json(), 'a cleared email is absent from the response')
    t.equal(cleared.json().phone, '555-0199')
    t.match(await contactRow(created.id), { title: null, email: null, phone: '555-0199', first_name: 'Edsger' }, 'cleared in the database')
    t.notOk('title' in (await as(app, memberA, { method: 'GET', url: `${API}/contacts/${created.id}` })).json())

    const snapshot = await contactRow(created.id)
    const invalid: Array<[string, Record<string, unknown>, string | RegExp]> = [
      ['empty body', {}, 'body must NOT have fewer than 1 properties'],
      ['null firstName', { firstName: null }, /^body\.firstName /],
      ['empty lastName', { lastName: '' }, 'body.lastName must NOT have fewer than 1 characters'],
      ['too long lastName', { lastName: 'x'.repeat(101) }, 'body.lastName must NOT have more than 100 characters'],
      ['bad email', { email: 'nope@' }, 'body.email must match format "email"'],
      ['too long title', { title: 't'.repeat(101) }, 'body.title must NOT have more than 100 characters'],
      ['unknown property', { firstName: 'Ok', organizationId: UNKNOWN_ID }, 'body.organizationId is not allowed']
    ]
    for (const [name, payload, message] of invalid) {
      const bad = await as(app, memberA, { method: 'PATCH', url: `${API}/contacts/${created.id}`, payload })
      t.equal(bad.statusCode, 400, name)
      t.match(bad.json(), { statusCode: 400, error: 'Bad Request', code: 'VALIDATION_ERROR', message }, `${name}: names the field`)
      if (typeof message === 'string') t.equal(bad.json().message, message)
    }
    t.same(await contactRow(created.id), snapshot, 'no rejected PATCH changed the row')

    const badId = await as(app, memberA, { method: 'PATCH', url: `${API}/contacts/not-a-uuid`, payload: { title: 'x' } })
    t.equal(badId.statusCode, 400)
    t.same(badId.json(), validationError('params.id must match format "uuid"'))
    const unknown = await as(app, memberA, { method: 'PATCH', url: `${API}/contacts/${UNKNOWN_ID}`, payload: { title: 'x' } })
    t.equal(unknown.statusCode, 404)
    t.same(unknown.json(), notFound('Contact'))
  })

  await t.test('PATCH with If-Match: current tag 200, stale 412 with the row unchanged, * always matches', async (t) => {
    const org = await createOrganization(memberA, 'Etag Org')
    const created = await createContact(memberA, org, { firstName: 'Donald', lastName: 'Knuth', title: 'Author' })
    const etag1 = (await as(app, memberA, { method: 'GET', url: `${API}/contacts/${created.id}` })).headers.etag as string

    const ok = await as(app, memberA, { method: 'PATCH', url: `${API}/contacts/${created.id}`, headers: { 'if-match': etag1 }, payload: { title: 'Professor Emeritus' } })
    t.equal(ok.statusCode, 200, 'the current ETag matches')
    const etag2 = ok.headers.etag as string
    t.match(etag2, /^"[^"]+"$/)
    t.not(etag2, etag1, 'the update has a new ETag')
    t.match(await contactRow(created.id), { title: 'Professor Emeritus' })

    const snapshot = await contactRow(created.id)
    const stale = await as(app, memberA, { method: 'PATCH', url: `${API}/contacts/${created.id}`, headers: { 'if-match': etag1 }, payload: { title: 'Lost update' } })
    t.equal(stale.statusCode, 412, 'a stale ETag fails the precondition')
    t.same(stale.json(), { statusCode: 412, error: 'Precondition Failed', message: 'The resource has changed since the ETag given in If-Match', code: 'PRECONDITION_FAILED' })
    t.same(await contactRow(created.id), snapshot, 'the row is unchanged (updated_at included)')

    const weak = await as(app, memberA, { method: 'PATCH', url: `${API}/contacts/${created.id}`, headers: { 'if-match': `W/${etag2}` }, payload: { title: 'Weak' } })
    t.equal(weak.statusCode, 412, 'a weak tag never matches (strong comparison)')
    t.same(await contactRow(created.id), snapshot)

    const list = await as(app, memberA, { method: 'PATCH', url: `${API}/contacts/${created.id}`, headers: { 'if-match': `"other", ${etag2}` }, payload: { title: 'From a list' } })
    t.equal(list.statusCode, 200, 'one matching tag in a list is enough')
    t.match(await contactRow(created.id), { title: 'From a list' })

    const star = await as(app, memberA, { method: 'PATCH', url: `${API}/contacts/${created.id}`, headers: { 'if-match': '*' }, payload: { title: 'Star' } })
    t.equal(star.statusCode, 200, 'If-Match: * matches any current representation')
    t.match(await contactRow(created.id), { title: 'Star' })
    t.equal((await as(app, memberA, { method: 'GET', url: `${API}/contacts/${created.id}` })).headers.etag, star.headers.etag)

    const starMissing = await as(app, memberA, { method: 'PATCH', url: `${API}/contacts/${UNKNOWN_ID}`, headers: { 'if-match': '*' }, payload: { title: 'Star' } })
    t.equal(starMissing.statusCode, 404, 'If-Match: * does not conjure a missing contact')
  })

  await t.test('two concurrent PATCHes with the same ETag: exactly one wins, the other gets 412', async (t) => {
    const org = await createOrganization(memberA, 'Race Org')
    const created = await createContact(memberA, org, { firstName: 'Leslie', lastName: 'Lamport' })
    for (let round = 0; round < 3; round++) {
      const etag = (await as(app, memberA, { method: 'GET', url: `${API}/contacts/${created.id}` })).headers.etag as string
      const titles = [`Title A${round}`, `Title B${round}`]
      const results = await Promise.all(titles.map(async (title) =>
        await as(app, memberA, { method: 'PATCH', url: `${API}/contacts/${created.id}`, headers: { 'if-match': etag }, payload: { title } })))
      const statuses = results.map((r) => r.statusCode).sort()
      t.same(statuses, [200, 412], `round ${round}: one 200 and one 412`)
      const winner = results.find((r) => r.statusCode === 200)!
      const loser = results.find((r) => r.statusCode === 412)!
      t.equal(loser.json().code, 'PRECONDITION_FAILED')
      const row = await contactRow(created.id)
      t.equal(row!.title, winner.json().title, 'the database holds the winner\'s value')
      t.ok(titles.includes(row!.title!))
      t.equal((await as(app, memberA, { method: 'GET', url: `${API}/contacts/${created.id}` })).headers.etag, winner.headers.etag)
    }
  })

  await t.test('one primary contact per organization', async (t) => {
    const org = await createOrganization(memberA, 'Primary Org')
    const otherOrg = await createOrganization(memberA, 'Primary Other Org')
    const otherPrimary = await createContact(memberA, otherOrg, { firstName: 'Other', lastName: 'Primary', isPrimary: true })

    const first = await createContact(memberA, org, { firstName: 'First', lastName: 'Primary', isPrimary: true })
    t.equal(first.isPrimary, true)
    const plain = await createContact(memberA, org, { firstName: 'Plain', lastName: 'Contact' })
    t.equal(plain.isPrimary, false, 'isPrimary defaults to false')
    t.match(await contactRow(first.id), { is_primary: true }, 'a non-primary create leaves the primary alone')

    const second = await createContact(memberA, org, { firstName: 'Second', lastName: 'Primary', isPrimary: true })
    t.equal(second.isPrimary, true)
    const primaries = async (organizationId: string): Promise<string[]> =>
      (await sql<{ id: string }>('SELECT id FROM contacts WHERE organization_id = $1 AND is_primary ORDER BY id', [organizationId])).map((r) => r.id)
    t.same(await primaries(org), [second.id], 'creating a new primary cleared the previous one')
    t.equal((await as(app, memberA, { method: 'GET', url: `${API}/contacts/${first.id}` })).json().isPrimary, false, 'the API shows the old primary cleared')
    t.same(await primaries(otherOrg), [otherPrimary.id], 'another organization\'s primary is untouched')

    const patched = await as(app, memberA, { method: 'PATCH', url: `${API}/contacts/${plain.id}`, payload: { isPrimary: true } })
    t.equal(patched.statusCode, 200)
    t.equal(patched.json().isPrimary, true)
    t.same(await primaries(org), [plain.id], 'patching isPrimary:true moved the primary')
    t.same(await primaries(otherOrg), [otherPrimary.id])

    const again = await as(app, memberA, { method: 'PATCH', url: `${API}/contacts/${plain.id}`, payload: { isPrimary: true } })
    t.equal(again.statusCode, 200, 'setting the current primary again is fine')
    t.same(await primaries(org), [plain.id])

    const unset = await as(app, memberA, { method: 'PATCH', url: `${API}/contacts/${plain.id}`, payload: { isPrimary: false } })
    t.equal(unset.statusCode, 200)
    t.same(await primaries(org), [], 'isPrimary:false leaves the organization without a primary')

    const racers = await Promise.all([0, 1, 2, 3, 4].map(async (i) =>
      await as(app, memberA, { method: 'POST', url: `${API}/organizations/${org}/contacts`, payload: { firstName: `Racer${i}`, lastName: 'Primary', isPrimary: true } })))
    t.same(racers.map((r) => r.statusCode), [201, 201, 201, 201, 201])
    t.equal((await primaries(org)).length, 1, 'concurrent primary creates still leave exactly one primary')

    const contenders = [first.id, second.id, plain.id]
    const patches = await Promise.all(contenders.map(async (id) =>
      await as(app, memberA, { method: 'PATCH', url: `${API}/contacts/${id}`, payload: { isPrimary: true } })))
    t.same(patches.map((r) => r.statusCode), [200, 200, 200])
    const after = await primaries(org)
    t.equal(after.length, 1, 'concurrent primary PATCHes still leave exactly one primary')
    t.ok(contenders.includes(after[0]!))
  })

  await t.test('soft delete: 204, then 404 everywhere, the row kept with is_deleted', async (t) => {
    const org = await createOrganization(memberA, 'Delete Org')
    const keep = await createContact(memberA, org, { firstName: 'Keep', lastName: 'Me' })
    const doomed = await createContact(memberA, org, { firstName: 'Delete', lastName: 'Me', isPrimary: true, title: 'CTO' })

    const del = await as(app, memberA, { method: 'DELETE', url: `${API}/contacts/${doomed.id}` })
    t.equal(del.statusCode, 204)
    t.equal(del.body, '', 'no body')

    const row = await contactRow(doomed.id)
    t.ok(row, 'the row still exists')
    t.match(row, { is_deleted: true, first_name: 'Delete', last_name: 'Me', title: 'CTO', organization_id: org })
    t.equal(row!.is_primary, false, 'a deleted contact is no longer the primary')
    t.match(await contactRow(keep.id), { is_deleted: false }, 'the sibling is untouched')

    const get = await as(app, memberA, { method: 'GET', url: `${API}/contacts/${doomed.id}` })
    t.equal(get.statusCode, 404)
    t.same(get.json(), notFound('Contact'))
    const list = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/contacts` })
    t.same(list.json().data.map((c: { id: string }) => c.id), [keep.id], 'the list no longer shows it')

    const snapshot = await contactRow(doomed.id)
    const patch = await as(app, memberA, { method: 'PATCH', url: `${API}/contacts/${doomed.id}`, payload: { title: 'Back from the dead' } })
    t.equal(patch.statusCode, 404)
    t.same(patch.json(), notFound('Contact'))
    const patchStar = await as(app, memberA, { method: 'PATCH', url: `${API}/contacts/${doomed.id}`, headers: { 'if-match': '*' }, payload: { title: 'Back from the dead' } })
    t.equal(patchStar.statusCode, 404)
    const again = await as(app, memberA, { method: 'DELETE', url: `${API}/contacts/${doomed.id}` })
    t.equal(again.statusCode, 404, 'a second DELETE is 404')
    t.same(again.json(), notFound('Contact'))
    t.same(await contactRow(doomed.id), snapshot, 'nothing changed the deleted row')

    const adminGet = await as(app, admin, { method: 'GET', url: `${API}/contacts/${doomed.id}` })
    t.equal(adminGet.statusCode, 404, 'deleted is deleted for an admin too')

    const badId = await as(app, memberA, { method: 'DELETE', url: `${API}/contacts/xyz` })
    t.equal(badId.statusCode, 400)
    t.same(badId.json(), validationError('params.id must match format "uuid"'))
    const unknown = await as(app, memberA, { method: 'DELETE', url: `${API}/contacts/${UNKNOWN_ID}` })
    t.equal(unknown.statusCode, 404)
  })

  await t.test('scoping: another member gets 404 for everything and changes nothing; an admin can do it all', async (t) => {
    const org = await createOrganization(memberA, 'Scoped Org')
    const contact = await createContact(memberA, org, { firstName: 'Private', lastName: 'Person', title: 'VP' })
    const etag = (await as(app, memberA, { method: 'GET', url: `${API}/contacts/${contact.id}` })).headers.etag as string
    const before = await allContacts()

    const attempts = [
      { name: 'list', expect: 'Organization' as const, options: { method: 'GET' as const, url: `${API}/organizations/${org}/contacts` } },
      { name: 'create', expect: 'Organization' as const, options: { method: 'POST' as const, url: `${API}/organizations/${org}/contacts`, payload: { firstName: 'Intruder', lastName: 'B', isPrimary: true } } },
      { name: 'get', expect: 'Contact' as const, options: { method: 'GET' as const, url: `${API}/contacts/${contact.id}` } },
      { name: 'patch', expect: 'Contact' as const, options: { method: 'PATCH' as const, url: `${API}/contacts/${contact.id}`, payload: { title: 'Hijacked', isPrimary: true } } },
      { name: 'patch with If-Match', expect: 'Contact' as const, options: { method: 'PATCH' as const, url: `${API}/contacts/${contact.id}`, headers: { 'if-match': etag }, payload: { title: 'Hijacked' } } },
      { name: 'delete', expect: 'Contact' as const, options: { method: 'DELETE' as const, url: `${API}/contacts/${contact.id}` } }
    ]
    for (const { name, expect, options } of attempts) {
      const res = await as(app, memberB, options)
      t.equal(res.statusCode, 404, `member B: ${name} is 404`)
      t.same(res.json(), notFound(expect), `member B: ${name} answers like a missing ${expect.toLowerCase()}`)
    }
    t.same(await allContacts(), before, 'member B changed nothing')

    const own = await createOrganization(memberB, 'B Org')
    t.same((await as(app, memberB, { method: 'GET', url: `${API}/organizations/${own}/contacts` })).json().data, [], 'member B sees their own (empty) organization')
    const mineForA = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${own}/contacts` })
    t.equal(mineForA.statusCode, 404, 'and member A cannot see B\'s')

    const list = await as(app, admin, { method: 'GET', url: `${API}/organizations/${org}/contacts` })
    t.equal(list.statusCode, 200, 'admin lists')
    t.same(list.json().data.map((c: { id: string }) => c.id), [contact.id])
    const get = await as(app, admin, { method: 'GET', url: `${API}/contacts/${contact.id}` })
    t.equal(get.statusCode, 200, 'admin reads')
    t.equal(get.headers.etag, etag, 'the ETag does not depend on who asks')
    const created = await as(app, admin, { method: 'POST', url: `${API}/organizations/${org}/contacts`, payload: { firstName: 'Admin', lastName: 'Added' } })
    t.equal(created.statusCode, 201, 'admin creates')
    t.match(await contactRow(created.json().id), { organization_id: org, first_name: 'Admin' })
    const patch = await as(app, admin, { method: 'PATCH', url: `${API}/contacts/${contact.id}`, headers: { 'if-match': etag }, payload: { title: 'SVP' } })
    t.equal(patch.statusCode, 200, 'admin updates')
    t.match(await contactRow(contact.id), { title: 'SVP' })
    const del = await as(app, admin, { method: 'DELETE', url: `${API}/contacts/${created.json().id}` })
    t.equal(del.statusCode, 204, 'admin deletes')
    t.match(await contactRow(created.json().id), { is_deleted: true })
    t.same((await as(app, memberA, { method: 'GET', url: `${API}/contacts/${contact.id}` })).json().title, 'SVP', 'member A sees the admin\'s change')
  })

  await t.test('a soft-deleted organization takes its contacts with it: 404 for everyone', async (t) => {
    const org = await createOrganization(memberA, 'Doomed Org')
    const contact = await createContact(memberA, org, { firstName: 'Orphan', lastName: 'Contact' })
    t.equal((await as(app, memberA, { method: 'GET', url: `${API}/contacts/${contact.id}` })).statusCode, 200)

    const del = await as(app, memberA, { method: 'DELETE', url: `${API}/organizations/${org}` })
    t.equal(del.statusCode, 204)
    const before = await allContacts()

    for (const user of [memberA, admin]) {
      const who = user === admin ? 'admin' : 'owner'
      const list = await as(app, user, { method: 'GET', url: `${API}/organizations/${org}/contacts` })
      t.equal(list.statusCode, 404, `${who}: list`)
      t.same(list.json(), notFound('Organization'))
      const create = await as(app, user, { method: 'POST', url: `${API}/organizations/${org}/contacts`, payload: { firstName: 'Too', lastName: 'Late' } })
      t.equal(create.statusCode, 404, `${who}: create`)
      t.same(create.json(), notFound('Organization'))
      const get = await as(app, user, { method: 'GET', url: `${API}/contacts/${contact.id}` })
      t.equal(get.statusCode, 404, `${who}: get`)
      t.same(get.json(), notFound('Contact'))
      const patch = await as(app, user, { method: 'PATCH', url: `${API}/contacts/${contact.id}`, payload: { title: 'Ghost' } })
      t.equal(patch.statusCode, 404, `${who}: patch`)
      const remove = await as(app, user, { method: 'DELETE', url: `${API}/contacts/${contact.id}` })
      t.equal(remove.statusCode, 404, `${who}: delete`)
    }
    t.same(await allContacts(), before, 'no contact row changed after the organization was deleted')
    t.match(await contactRow(contact.id), { is_deleted: false, title: null }, 'the contact row itself is kept as it was')
  })
})

t.test('the database itself allows one live primary contact per organization', async (t) => {
  const db = await createTestDatabase('contacts_primary_index')
  t.teardown(db.drop)
  await withClient(db.url, async (c) => {
    const { rows: [user] } = await c.query<{ id: string }>("INSERT INTO users (email, name) VALUES ('p@example.test', 'P') RETURNING id")
    const { rows: [org] } = await c.query<{ id: string }>('INSERT INTO organizations (name, assigned_user_id) VALUES ($1, $2) RETURNING id', ['Org', user!.id])
    await c.query("INSERT INTO contacts (organization_id, first_name, last_name, is_primary) VALUES ($1, 'A', 'One', true)", [org!.id])
    await t.rejects(c.query("INSERT INTO contacts (organization_id, first_name, last_name, is_primary) VALUES ($1, 'B', 'Two', true)", [org!.id]),
      { code: '23505', constraint: 'idx_contacts_one_primary' }, 'a second live primary is refused')
    await c.query("INSERT INTO contacts (organization_id, first_name, last_name, is_primary, is_deleted) VALUES ($1, 'C', 'Gone', true, true)", [org!.id])
    t.pass('a deleted primary does not count')
  })
})
