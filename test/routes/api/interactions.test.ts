// Interactions through HTTP (contract §2, §3): logging one as the caller,
// listing newest first with limit/offset and `since`, validation of the body
// and of the contact it names, and member/admin scoping, checked against the
// rows in the database.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildTestApp } from '../../helpers/app'
import { createTestDatabase, withClient } from '../../helpers/database'
import { as, createUsers, type TestUser } from '../../helpers/api'

const API = '/api/v1'
const UNKNOWN_ID = '2d1c8f2e-5a0b-4a4e-9d7e-3f1c2b3a4d5e'
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

interface InteractionRow {
  id: string
  organization_id: string
  contact_id: string | null
  user_id: string
  type: string
  subject: string
  notes: string | null
  created_at: Date
}

/** The JSON a client must see for a row: camelCase, null columns absent. */
function expectedJson (row: InteractionRow): Record<string, unknown> {
  const json: Record<string, unknown> = {
    id: row.id,
    organizationId: row.organization_id,
    userId: row.user_id,
    type: row.type,
    subject: row.subject,
    createdAt: row.created_at.toISOString()
  }
  if (row.contact_id !== null) json.contactId = row.contact_id
  if (row.notes !== null) json.notes = row.notes
  return json
}

function validationError (message: string): Record<string, unknown> {
  return { statusCode: 400, error: 'Bad Request', message, code: 'VALIDATION_ERROR' }
}

const ORG_NOT_FOUND = { statusCode: 404, error: 'Not Found', message: 'Organization not found', code: 'NOT_FOUND' }

t.test('interactions API', async (t) => {
  const db = await createTestDatabase('interactions')
  t.teardown(db.drop)
  const app: FastifyInstance = await buildTestApp(t, db.url)
  const [admin, memberA, memberB] = await createUsers(app, db.url, ['admin', 'member', 'member']) as [TestUser, TestUser, TestUser]

  const sql = async <R extends object = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<R[]> =>
    await withClient(db.url, async (client) => (await client.query(text, params)).rows as R[])
  const interactionRow = async (id: string): Promise<InteractionRow | undefined> =>
    (await sql<InteractionRow>('SELECT * FROM interactions WHERE id = $1', [id]))[0]
  const allInteractions = async (): Promise<InteractionRow[]> => await sql<InteractionRow>('SELECT * FROM interactions ORDER BY id')

  async function createOrganization (user: TestUser, name: string): Promise<string> {
    const res = await as(app, user, { method: 'POST', url: `${API}/organizations`, payload: { name } })
    if (res.statusCode !== 201) throw new Error(`organization create failed: ${res.statusCode} ${res.body}`)
    return res.json().id as string
  }
  async function createContact (user: TestUser, organizationId: string, firstName: string): Promise<string> {
    const res = await as(app, user, { method: 'POST', url: `${API}/organizations/${organizationId}/contacts`, payload: { firstName, lastName: 'Contact' } })
    if (res.statusCode !== 201) throw new Error(`contact create failed: ${res.statusCode} ${res.body}`)
    return res.json().id as string
  }
  /** A row with a chosen created_at, straight into the table (the API always stamps now). */
  async function insertInteraction (organizationId: string, userId: string, subject: string, createdAt: string): Promise<string> {
    const rows = await sql<{ id: string }>(
      'INSERT INTO interactions (organization_id, user_id, type, subject, created_at) VALUES ($1, $2, \'note\', $3, $4) RETURNING id',
      [organizationId, userId, subject, createdAt])
    return rows[0]!.id
  }

  await t.test('401 without a token, and nothing is written', async (t) => {
    const org = await createOrganization(memberA, 'Auth Org')
    const list = await app.inject({ method: 'GET', url: `${API}/organizations/${org}/interactions` })
    t.equal(list.statusCode, 401)
    t.same(list.json(), { statusCode: 401, error: 'Unauthorized', message: 'Missing Authorization header (Bearer token)', code: 'UNAUTHORIZED' })
    const create = await app.inject({ method: 'POST', url: `${API}/organizations/${org}/interactions`, payload: { type: 'call', subject: 'Sneaky' } })
    t.equal(create.statusCode, 401)
    t.equal(create.json().code, 'UNAUTHORIZED')
    const forged = await app.inject({ method: 'POST', url: `${API}/organizations/${org}/interactions`, headers: { authorization: 'Bearer abc.def.ghi' }, payload: { type: 'call', subject: 'Sneaky' } })
    t.equal(forged.statusCode, 401)
    t.same(await sql('SELECT id FROM interactions WHERE organization_id = $1', [org]), [], 'no interaction was written')
  })

  await t.test('create: 201, logged by the caller, nulls omitted, the row as sent', async (t) => {
    const org = await createOrganization(memberA, 'Create Org')
    const contact = await createContact(memberA, org, 'Ada')

    const res = await as(app, memberA, { method: 'POST', url: `${API}/organizations/${org}/interactions`, payload: { type: 'call', subject: 'Intro call' } })
    t.equal(res.statusCode, 201)
    t.match(res.headers['content-type'], /^application\/json; charset=utf-8/)
    const body = res.json()
    t.match(body.id, UUID)
    const row = await interactionRow(body.id)
    t.ok(row, 'the row exists')
    t.match(row, { organization_id: org, user_id: memberA.id, type: 'call', subject: 'Intro call', notes: null, contact_id: null })
    t.same(body, expectedJson(row!), 'body is the row in camelCase')
    t.same(Object.keys(body).sort(), ['createdAt', 'id', 'organizationId', 'subject', 'type', 'userId'], 'null notes and contactId are absent, not null')
    t.equal(body.userId, memberA.id, 'userId is the caller')

    const full = await as(app, memberA, {
      method: 'POST',
      url: `${API}/organizations/${org}/interactions`,
      payload: { type: 'meeting', subject: 'Quarterly review', notes: 'Discussed renewal.\nFollow up in May.', contactId: contact }
    })
    t.equal(full.statusCode, 201)
    const fullRow = await interactionRow(full.json().id)
    t.match(fullRow, { contact_id: contact, notes: 'Discussed renewal.\nFollow up in May.', type: 'meeting', user_id: memberA.id })
    t.same(full.json(), expectedJson(fullRow!))

    for (const type of ['email', 'note']) {
      const typed = await as(app, memberA, { method: 'POST', url: `${API}/organizations/${org}/interactions`, payload: { type, subject: `A ${type}` } })
      t.equal(typed.statusCode, 201, `type ${type} is accepted`)
      t.match(await interactionRow(typed.json().id), { type, subject: `A ${type}` })
    }

    const longest = await as(app, memberA, { method: 'POST', url: `${API}/organizations/${org}/interactions`, payload: { type: 'note', subject: 's'.repeat(255) } })
    t.equal(longest.statusCode, 201, 'a 255-character subject is accepted')
    t.match(await interactionRow(longest.json().id), { subject: 's'.repeat(255) })

    const byAdmin = await as(app, admin, { method: 'POST', url: `${API}/organizations/${org}/interactions`, payload: { type: 'email', subject: 'Admin note' } })
    t.equal(byAdmin.statusCode, 201, 'an admin logs on a member\'s organization')
    t.equal(byAdmin.json().userId, admin.id, 'logged as the admin, not as the organization\'s owner')
    t.match(await interactionRow(byAdmin.json().id), { user_id: admin.id, organization_id: org })
  })

  await t.test('create: invalid bodies are 400 naming the field, and nothing is written', async (t) => {
    const org = await createOrganization(memberA, 'Validation Org')
    const otherOrg = await createOrganization(memberA, 'Other Org')
    const foreignContact = await createContact(memberA, otherOrg, 'Foreign')
    const deletedContact = await createContact(memberA, org, 'Deleted')
    t.equal((await as(app, memberA, { method: 'DELETE', url: `${API}/contacts/${deletedContact}` })).statusCode, 204)
    const before = await allInteractions()

    const cases: Array<[string, Record<string, unknown>, string | RegExp]> = [
      ['a client-supplied userId', { type: 'call', subject: 'Spoof', userId: memberB.id }, 'body.userId is not allowed'],
      ['a client-supplied organizationId', { type: 'call', subject: 'Spoof', organizationId: otherOrg }, 'body.organizationId is not allowed'],
      ['a client-supplied createdAt', { type: 'call', subject: 'Backdated', createdAt: '2020-01-01T00:00:00Z' }, 'body.createdAt is not allowed'],
      ['missing type', { subject: 'No type' }, /^body\.type /],
      ['unknown type', { type: 'fax', subject: 'Fax' }, /^body\.type /],
      ['missing subject', { type: 'call' }, /^body\.subject /],
      ['empty subject', { type: 'call', subject: '' }, 'body.subject must NOT have fewer than 1 characters'],
      ['too long subject', { type: 'call', subject: 's'.repeat(256) }, 'body.subject must NOT have more than 255 characters'],
      ['contactId not a uuid', { type: 'call', subject: 'Bad contact', contactId: 'abc' }, 'body.contactId must match format "uuid"'],
      ['contact of another organization', { type: 'call', subject: 'Wrong org', contactId: foreignContact }, /^body\.contactId /],
      ['soft-deleted contact', { type: 'call', subject: 'Ghost', contactId: deletedContact }, /^body\.contactId /],
      ['unknown contact', { type: 'call', subject: 'Nobody', contactId: UNKNOWN_ID }, /^body\.contactId /]
    ]
    for (const [name, payload, message] of cases) {
      const res = await as(app, memberA, { method: 'POST', url: `${API}/organizations/${org}/interactions`, payload })
      t.equal(res.statusCode, 400, name)
      t.same(Object.keys(res.json()).sort(), ['code', 'error', 'message', 'statusCode'])
      t.match(res.json(), { statusCode: 400, error: 'Bad Request', code: 'VALIDATION_ERROR', message }, `${name}: names the field`)
      if (typeof message === 'string') t.equal(res.json().message, message)
    }
    const wrongOrg = await as(app, memberA, { method: 'POST', url: `${API}/organizations/${org}/interactions`, payload: { type: 'call', subject: 'Wrong org', contactId: foreignContact } })
    t.same(wrongOrg.json(), validationError('body.contactId does not name a contact of this organization'))
    t.same(await allInteractions(), before, 'no interaction was written')

    const badPath = await as(app, memberA, { method: 'POST', url: `${API}/organizations/not-a-uuid/interactions`, payload: { type: 'call', subject: 'x' } })
    t.equal(badPath.statusCode, 400)
    t.same(badPath.json(), validationError('params.id must match format "uuid"'))
    const unknownOrg = await as(app, memberA, { method: 'POST', url: `${API}/organizations/${UNKNOWN_ID}/interactions`, payload: { type: 'call', subject: 'x' } })
    t.equal(unknownOrg.statusCode, 404)
    t.same(unknownOrg.json(), ORG_NOT_FOUND)
    t.same(await allInteractions(), before)
  })

  await t.test('list: newest first, limit/offset pages with hasMore, since is inclusive', async (t) => {
    const org = await createOrganization(memberA, 'List Org')
    const otherOrg = await createOrganization(memberA, 'Other List Org')
    await insertInteraction(otherOrg, memberA.id, 'Other org', '2024-03-15T12:00:00Z')

    const empty = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/interactions` })
    t.equal(empty.statusCode, 200)
    t.same(empty.json(), { data: [], page: { limit: 50, offset: 0, hasMore: false } }, 'defaults: limit 50, offset 0')

    // Inserted out of order on purpose.
    const jan = await insertInteraction(org, memberA.id, 'January', '2024-01-10T09:00:00Z')
    const mar = await insertInteraction(org, memberA.id, 'March', '2024-03-01T00:00:00Z')
    const feb = await insertInteraction(org, admin.id, 'February', '2024-02-20T17:30:00Z')
    const apr = await insertInteraction(org, memberA.id, 'April', '2024-04-05T08:15:00.123Z')
    const dec = await insertInteraction(org, memberA.id, 'December', '2023-12-31T23:59:59.999Z')
    const newestFirst = [apr, mar, feb, jan, dec]
    // Rows written behind the API's back: drop the cached (empty) list as a write through the API would.
    await app.responseCache.invalidate({ owners: [memberA.id] })

    const all = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/interactions` })
    t.equal(all.statusCode, 200)
    t.same(all.json().data.map((i: { id: string }) => i.id), newestFirst, 'newest first')
    t.same(all.json().page, { limit: 50, offset: 0, hasMore: false })
    const rows = await sql<InteractionRow>('SELECT * FROM interactions WHERE organization_id = $1', [org])
    t.same(all.json().data, newestFirst.map((id) => expectedJson(rows.find((r) => r.id === id)!)), 'each item is its row, nulls omitted')
    t.equal(all.json().data[0].createdAt, '2024-04-05T08:15:00.123Z', 'createdAt keeps its milliseconds')
    t.equal(all.json().data[2].userId, admin.id, 'each item names who logged it')

    const page1 = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/interactions?limit=2` })
    t.same(page1.json().data.map((i: { id: string }) => i.id), [apr, mar])
    t.match(page1.json().page, { limit: 2, offset: 0, hasMore: true, nextCursor: String })
    const page2 = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/interactions?limit=2&offset=2` })
    t.same(page2.json().data.map((i: { id: string }) => i.id), [feb, jan])
    t.match(page2.json().page, { limit: 2, offset: 2, hasMore: true, nextCursor: String })
    const page3 = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/interactions?limit=2&offset=4` })
    t.same(page3.json().data.map((i: { id: string }) => i.id), [dec])
    t.same(page3.json().page, { limit: 2, offset: 4, hasMore: false })

    const since = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/interactions?since=2024-02-20T17:30:00Z` })
    t.equal(since.statusCode, 200)
    t.same(since.json().data.map((i: { id: string }) => i.id), [apr, mar, feb], 'only createdAt >= since; the boundary row is included')
    const justAfter = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/interactions?since=2024-02-20T17:30:00.001Z` })
    t.same(justAfter.json().data.map((i: { id: string }) => i.id), [apr, mar], 'one millisecond later excludes it')
    const offsetZone = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/interactions?since=${encodeURIComponent('2024-03-01T01:00:00+01:00')}` })
    t.same(offsetZone.json().data.map((i: { id: string }) => i.id), [apr, mar], 'a since with a UTC offset is the same instant')
    const sincePaged = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/interactions?since=2024-01-01T00:00:00Z&limit=2&offset=1` })
    t.same(sincePaged.json().data.map((i: { id: string }) => i.id), [mar, feb], 'since combines with limit/offset')
    t.match(sincePaged.json().page, { limit: 2, offset: 1, hasMore: true, nextCursor: String })
    const future = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/interactions?since=2999-01-01T00:00:00Z` })
    t.same(future.json(), { data: [], page: { limit: 50, offset: 0, hasMore: false } })

    const created = await as(app, memberA, { method: 'POST', url: `${API}/organizations/${org}/interactions`, payload: { type: 'call', subject: 'Just now' } })
    t.equal(created.statusCode, 201)
    const afterCreate = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/interactions?limit=1` })
    t.same(afterCreate.json().data, [created.json()], 'a new interaction comes first and reads back as created')
    t.match(afterCreate.json().page, { limit: 1, offset: 0, hasMore: true, nextCursor: String })

    const before = await allInteractions()
    const invalid: Array<[string, string]> = [
      ['limit=0', 'querystring.limit must be >= 1'],
      ['limit=201', 'querystring.limit must be <= 200'],
      ['offset=-1', 'querystring.offset must be >= 0'],
      ['since=yesterday', 'querystring.since must match format "date-time"'],
      ['since=2024-01-01', 'querystring.since must match format "date-time"'],
      ['userId=x', 'querystring.userId is not allowed']
    ]
    for (const [query, message] of invalid) {
      const res = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/interactions?${query}` })
      t.equal(res.statusCode, 400, query)
      t.same(res.json(), validationError(message), `${query}: names the parameter`)
    }
    const badId = await as(app, memberA, { method: 'GET', url: `${API}/organizations/123/interactions` })
    t.equal(badId.statusCode, 400)
    t.same(badId.json(), validationError('params.id must match format "uuid"'))
    const unknownOrg = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${UNKNOWN_ID}/interactions` })
    t.equal(unknownOrg.statusCode, 404)
    t.same(unknownOrg.json(), ORG_NOT_FOUND)
    t.same(await allInteractions(), before, 'reads change nothing')
  })

  await t.test('scoping: another member gets 404 and writes nothing; an admin can list and log', async (t) => {
    const org = await createOrganization(memberA, 'Scoped Org')
    const contact = await createContact(memberA, org, 'Private')
    const existing = await insertInteraction(org, memberA.id, 'Secret meeting', '2024-05-01T10:00:00Z')
    const before = await allInteractions()

    const list = await as(app, memberB, { method: 'GET', url: `${API}/organizations/${org}/interactions` })
    t.equal(list.statusCode, 404, 'member B: list is 404')
    t.same(list.json(), ORG_NOT_FOUND)
    const listSince = await as(app, memberB, { method: 'GET', url: `${API}/organizations/${org}/interactions?since=2000-01-01T00:00:00Z` })
    t.equal(listSince.statusCode, 404, 'member B: list with since is 404')
    const create = await as(app, memberB, { method: 'POST', url: `${API}/organizations/${org}/interactions`, payload: { type: 'note', subject: 'Intrusion', contactId: contact } })
    t.equal(create.statusCode, 404, 'member B: create is 404')
    t.same(create.json(), ORG_NOT_FOUND)
    t.same(await allInteractions(), before, 'member B wrote nothing')

    const ownOrg = await createOrganization(memberB, 'B Org')
    const crossContact = await as(app, memberB, { method: 'POST', url: `${API}/organizations/${ownOrg}/interactions`, payload: { type: 'note', subject: 'Borrowed contact', contactId: contact } })
    t.equal(crossContact.statusCode, 400, 'member B cannot attach A\'s contact to their own organization')
    t.match(crossContact.json().message, /^body\.contactId /)
    t.same(await allInteractions(), before)
    const forA = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${ownOrg}/interactions` })
    t.equal(forA.statusCode, 404, 'and member A cannot see B\'s organization either')

    const adminList = await as(app, admin, { method: 'GET', url: `${API}/organizations/${org}/interactions` })
    t.equal(adminList.statusCode, 200, 'admin lists')
    t.same(adminList.json().data.map((i: { id: string }) => i.id), [existing])
    const adminCreate = await as(app, admin, { method: 'POST', url: `${API}/organizations/${org}/interactions`, payload: { type: 'call', subject: 'Admin call', contactId: contact } })
    t.equal(adminCreate.statusCode, 201, 'admin logs')
    t.match(await interactionRow(adminCreate.json().id), { organization_id: org, user_id: admin.id, contact_id: contact, subject: 'Admin call' })
    const ownerView = await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/interactions` })
    t.same(ownerView.json().data.map((i: { id: string }) => i.id), [adminCreate.json().id, existing], 'the owner sees the admin\'s entry')
  })

  await t.test('a soft-deleted organization: its interactions are 404 for everyone, nothing is written', async (t) => {
    const org = await createOrganization(memberA, 'Doomed Org')
    await insertInteraction(org, memberA.id, 'Before the end', '2024-06-01T00:00:00Z')
    t.equal((await as(app, memberA, { method: 'GET', url: `${API}/organizations/${org}/interactions` })).statusCode, 200)

    const del = await as(app, memberA, { method: 'DELETE', url: `${API}/organizations/${org}` })
    t.equal(del.statusCode, 204)
    const before = await allInteractions()

    for (const [who, user] of [['owner', memberA], ['admin', admin]] as const) {
      const list = await as(app, user, { method: 'GET', url: `${API}/organizations/${org}/interactions` })
      t.equal(list.statusCode, 404, `${who}: list`)
      t.same(list.json(), ORG_NOT_FOUND)
      const create = await as(app, user, { method: 'POST', url: `${API}/organizations/${org}/interactions`, payload: { type: 'note', subject: 'Too late' } })
      t.equal(create.statusCode, 404, `${who}: create`)
      t.same(create.json(), ORG_NOT_FOUND)
    }
    t.same(await allInteractions(), before, 'nothing was written')
    t.equal((await sql('SELECT id FROM interactions WHERE organization_id = $1', [org])).length, 1, 'the interaction rows themselves are kept')
  })
})
