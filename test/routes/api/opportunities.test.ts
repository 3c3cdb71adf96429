// Opportunities through HTTP (contract §1–§3): the two-place decimal `value`,
// calendar-date `closeDate`, stage changes, strong ETags with If-Match, the
// validation error bodies, and row-level scoping — each checked against the
// rows in a real PostgreSQL database.
import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildTestApp } from '../../helpers/app'
import { createTestDatabase, withClient, type TestDatabase } from '../../helpers/database'
import { as, createUsers, type TestUser } from '../../helpers/api'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/
const STRONG_ETAG = /^"[^"]+"$/
const MISSING = '00000000-0000-4000-8000-000000000000'

/** The `t` a subtest callback receives. */
type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

interface OpportunityRow {
  id: string
  organization_id: string
  name: string
  stage: string
  value: string
  close_date: string | null
  created_at: string
  updated_at: string
}

/** Every opportunity row as text (value, date and timestamps exactly as stored), in id order. */
async function opportunityRows (db: TestDatabase): Promise<OpportunityRow[]> {
  return await withClient(db.url, async (client) => (await client.query<OpportunityRow>(`
    SELECT id::text, organization_id::text, name, stage::text, value::text, close_date::text,
           created_at::text, updated_at::text
    FROM opportunities ORDER BY id`)).rows)
}

async function opportunityRow (db: TestDatabase, id: string): Promise<OpportunityRow | undefined> {
  return (await opportunityRows(db)).find((row) => row.id === id)
}

async function createOrganization (app: FastifyInstance, user: TestUser, name: string): Promise<string> {
  const res = await as(app, user, { method: 'POST', url: '/api/v1/organizations', payload: { name } })
  if (res.statusCode !== 201) throw new Error(`organization not created: ${res.statusCode} ${res.body}`)
  return res.json().id as string
}

function badRequest (t: Tap, res: LightMyRequestResponse, message: RegExp, what: string): void {
  t.equal(res.statusCode, 400, `${what}: 400`)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'], `${what}: error body keys`)
  t.equal(body.statusCode, 400, `${what}: statusCode`)
  t.equal(body.error, 'Bad Request', `${what}: error`)
  t.equal(body.code, 'VALIDATION_ERROR', `${what}: code`)
  t.match(body.message, message, `${what}: message names the field (${String(body.message)})`)
}

function notFound (t: Tap, res: LightMyRequestResponse, what: 'Organization' | 'Opportunity', label: string): void {
  t.equal(res.statusCode, 404, `${label}: 404`)
  t.same(res.json(), { statusCode: 404, error: 'Not Found', message: `${what} not found`, code: 'NOT_FOUND' }, `${label}: body`)
}

t.test('opportunities', async (t) => {
  const db = await createTestDatabase('opps')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url)
  const [admin, memberA, memberB] = await createUsers(app, db.url, ['admin', 'member', 'member']) as [TestUser, TestUser, TestUser]

  await t.test('create, read, list and update, with value and closeDate as stored', async (t) => {
    const orgId = await createOrganization(app, memberA, 'Acme Opportunities')

    const created = await as(app, memberA, {
      method: 'POST',
      url: `/api/v1/organizations/${orgId}/opportunities`,
      payload: { name: 'Big deal', value: 125000, closeDate: '2026-12-15' }
    })
    t.equal(created.statusCode, 201)
    t.match(created.headers['content-type'], /^application\/json; charset=utf-8/)
    const big = created.json()
    t.same(Object.keys(big).sort(), ['closeDate', 'createdAt', 'id', 'name', 'organizationId', 'stage', 'updatedAt', 'value'])
    t.match(big.id, UUID)
    t.match(big.createdAt, ISO)
    t.match(big.updatedAt, ISO)
    t.same(big, {
      id: big.id,
      organizationId: orgId,
      name: 'Big deal',
      stage: 'prospecting',
      value: '125000.00',
      closeDate: '2026-12-15',
      createdAt: big.createdAt,
      updatedAt: big.updatedAt
    }, 'a JSON number value comes back as a two-place string; stage defaults to prospecting')
    t.equal(created.headers.location, `/api/v1/opportunities/${big.id}`)
    t.match(created.headers.etag, STRONG_ETAG, 'strong ETag on create')
    const bigRow = await opportunityRow(db, big.id)
    t.same(bigRow, {
      id: big.id,
      organization_id: orgId,
      name: 'Big deal',
      stage: 'prospecting',
      value: '125000.00',
      close_date: '2026-12-15',
      created_at: bigRow?.created_at,
      updated_at: bigRow?.updated_at
    }, 'the row holds the same value and calendar date')
    t.equal(new Date(bigRow!.created_at).getTime(), Date.parse(big.createdAt), 'createdAt is the stored instant')

    // String values with fewer than two decimals, the smallest and the largest numeric(14,2).
    const cases: Array<[unknown, string]> = [['12.5', '12.50'], ['0.1', '0.10'], ['0', '0.00'], [99.99, '99.99'], ['999999999999.99', '999999999999.99'], ['7', '7.00']]
    for (const [value, expected] of cases) {
      const res = await as(app, memberA, { method: 'POST', url: `/api/v1/organizations/${orgId}/opportunities`, payload: { name: `value ${String(value)}`, value } })
      t.equal(res.statusCode, 201, `value ${JSON.stringify(value)} accepted`)
      const body = res.json()
      t.equal(body.value, expected, `value ${JSON.stringify(value)} → "${expected}"`)
      t.notOk('closeDate' in body, 'no closeDate key when it is null')
      const row = await opportunityRow(db, body.id)
      t.equal(row?.value, expected, `stored value ${expected}`)
      t.equal(row?.close_date, null, 'stored close_date is NULL')
    }

    const noValue = await as(app, memberA, { method: 'POST', url: `/api/v1/organizations/${orgId}/opportunities`, payload: { name: 'No value yet', stage: 'negotiation', closeDate: '2027-01-01' } })
    t.equal(noValue.statusCode, 201)
    const negotiation = noValue.json()
    t.equal(negotiation.value, '0.00', 'value defaults to "0.00"')
    t.equal(negotiation.stage, 'negotiation')
    t.equal(negotiation.closeDate, '2027-01-01')
    t.match(await opportunityRow(db, negotiation.id), { stage: 'negotiation', value: '0.00', close_date: '2027-01-01' })

    // GET by id: the same representation and the same ETag as the create answered.
    const read = await as(app, memberA, { method: 'GET', url: `/api/v1/opportunities/${big.id}` })
    t.equal(read.statusCode, 200)
    t.same(read.json(), big)
    t.match(read.headers.etag, STRONG_ETAG)
    t.equal(read.headers.etag, created.headers.etag, 'GET and POST agree on the ETag of an unchanged row')

    // List: newest first, the page object, limit/offset and hasMore.
    const total = 2 + cases.length
    const list = await as(app, memberA, { method: 'GET', url: `/api/v1/organizations/${orgId}/opportunities` })
    t.equal(list.statusCode, 200)
    const listed = list.json()
    t.same(Object.keys(listed).sort(), ['data', 'page'])
    t.same(listed.page, { limit: 50, offset: 0, hasMore: false })
    t.equal(listed.data.length, total)
    const expectedOrder = await withClient(db.url, async (client) => (await client.query<{ id: string }>(
      'SELECT id::text FROM opportunities WHERE organization_id = $1 ORDER BY created_at DESC, id ASC', [orgId])).rows.map((r) => r.id))
    t.same(listed.data.map((o: { id: string }) => o.id), expectedOrder, 'newest first')
    t.same(listed.data.find((o: { id: string }) => o.id === big.id), big, 'list items have the same shape as GET')

    const page1 = (await as(app, memberA, { method: 'GET', url: `/api/v1/organizations/${orgId}/opportunities?limit=3` })).json()
    t.match(page1.page, { limit: 3, offset: 0, hasMore: true, nextCursor: String })
    t.same(page1.data.map((o: { id: string }) => o.id), expectedOrder.slice(0, 3))
    const lastPage = (await as(app, memberA, { method: 'GET', url: `/api/v1/organizations/${orgId}/opportunities?limit=3&offset=${total - 2}` })).json()
    t.same(lastPage.page, { limit: 3, offset: total - 2, hasMore: false })
    t.same(lastPage.data.map((o: { id: string }) => o.id), expectedOrder.slice(total - 2))
    const exact = (await as(app, memberA, { method: 'GET', url: `/api/v1/organizations/${orgId}/opportunities?limit=${total}` })).json()
    t.same(exact.page, { limit: total, offset: 0, hasMore: false }, 'hasMore is false when the page ends exactly at the last row')

    const byStage = (await as(app, memberA, { method: 'GET', url: `/api/v1/organizations/${orgId}/opportunities?stage=negotiation` })).json()
    t.same(byStage, { data: [negotiation], page: { limit: 50, offset: 0, hasMore: false } }, 'stage filter')
    const noneWon = (await as(app, memberA, { method: 'GET', url: `/api/v1/organizations/${orgId}/opportunities?stage=closed-won` })).json()
    t.same(noneWon.data, [], 'nothing closed-won yet')

    // PATCH: stage to closed-won, then value and closeDate.
    const won = await as(app, memberA, { method: 'PATCH', url: `/api/v1/opportunities/${big.id}`, payload: { stage: 'closed-won' } })
    t.equal(won.statusCode, 200)
    const wonBody = won.json()
    t.same(wonBody, { ...big, stage: 'closed-won', updatedAt: wonBody.updatedAt })
    t.not(wonBody.updatedAt, big.updatedAt, 'updatedAt moves')
    t.match(won.headers.etag, STRONG_ETAG)
    t.not(won.headers.etag, created.headers.etag, 'a change gives a new ETag')
    t.equal((await as(app, memberA, { method: 'GET', url: `/api/v1/opportunities/${big.id}` })).headers.etag, won.headers.etag, 'PATCH and GET agree on the new ETag')
    t.equal((await opportunityRow(db, big.id))?.stage, 'closed-won', 'the database enum value is closed-won')
    const wonList = (await as(app, memberA, { method: 'GET', url: `/api/v1/organizations/${orgId}/opportunities?stage=closed-won` })).json()
    t.same(wonList.data.map((o: { id: string }) => o.id), [big.id])

    const lost = await as(app, memberA, { method: 'PATCH', url: `/api/v1/opportunities/${negotiation.id}`, payload: { stage: 'closed-lost', value: '99.9', closeDate: null, name: 'Lost it' } })
    t.equal(lost.statusCode, 200)
    const lostBody = lost.json()
    t.same(Object.keys(lostBody).sort(), ['createdAt', 'id', 'name', 'organizationId', 'stage', 'updatedAt', 'value'], 'closeDate cleared: the key is gone')
    t.match(lostBody, { name: 'Lost it', stage: 'closed-lost', value: '99.90' })
    t.match(await opportunityRow(db, negotiation.id), { name: 'Lost it', stage: 'closed-lost', value: '99.90', close_date: null })

    const dated = await as(app, memberA, { method: 'PATCH', url: `/api/v1/opportunities/${negotiation.id}`, payload: { closeDate: '2028-02-29', value: 42 } })
    t.equal(dated.statusCode, 200)
    t.match(dated.json(), { closeDate: '2028-02-29', value: '42.00', stage: 'closed-lost', name: 'Lost it' }, 'fields not sent are unchanged')
    t.match(await opportunityRow(db, negotiation.id), { close_date: '2028-02-29', value: '42.00' })

    // Every stage can be set and is stored under its own enum label.
    for (const stage of ['qualification', 'proposal', 'negotiation', 'prospecting', 'closed-lost', 'closed-won']) {
      const res = await as(app, memberA, { method: 'PATCH', url: `/api/v1/opportunities/${negotiation.id}`, payload: { stage } })
      t.equal(res.statusCode, 200)
      t.equal(res.json().stage, stage)
      t.equal((await opportunityRow(db, negotiation.id))?.stage, stage, `stored stage ${stage}`)
    }
  })

  await t.test('validation errors name the field and change nothing', async (t) => {
    const orgId = await createOrganization(app, memberA, 'Validation Inc')
    const seed = await as(app, memberA, { method: 'POST', url: `/api/v1/organizations/${orgId}/opportunities`, payload: { name: 'Existing', value: '10.00', closeDate: '2026-06-30' } })
    t.equal(seed.statusCode, 201)
    const existing = seed.json()
    const before = await opportunityRows(db)

    const create = async (payload: unknown): Promise<LightMyRequestResponse> =>
      await as(app, memberA, { method: 'POST', url: `/api/v1/organizations/${orgId}/opportunities`, payload: payload as Record<string, unknown> })
    const update = async (payload: unknown): Promise<LightMyRequestResponse> =>
      await as(app, memberA, { method: 'PATCH', url: `/api/v1/opportunities/${existing.id as string}`, payload: payload as Record<string, unknown> })

    const bodies: Array<[string, unknown, RegExp]> = [
      ['missing name', { value: '1.00' }, /^body\.name /],
      ['empty name', { name: '' }, /^body\.name /],
      ['name over 255', { name: 'x'.repeat(256) }, /^body\.name /],
      ['three decimals', { name: 'n', value: '1.234' }, /^body\.value /],
      ['negative number', { name: 'n', value: -1 }, /^body\.value /],
      ['negative string', { name: 'n', value: '-1.00' }, /^body\.value /],
      ['not a number', { name: 'n', value: 'abc' }, /^body\.value /],
      ['1e13', { name: 'n', value: 1e13 }, /^body\.value /],
      ['13 integer digits', { name: 'n', value: '1234567890123' }, /^body\.value /],
      ['three decimals as number', { name: 'n', value: 1.234 }, /^body\.value /],
      ['null value', { name: 'n', value: null }, /^body\.value /],
      ['empty value', { name: 'n', value: '' }, /^body\.value /],
      ['bad stage', { name: 'n', stage: 'won' }, /^body\.stage /],
      ['stage with underscore', { name: 'n', stage: 'closed_won' }, /^body\.stage /],
      ['month 13', { name: 'n', closeDate: '2026-13-01' }, /^body\.closeDate /],
      ['31 February', { name: 'n', closeDate: '2026-02-30' }, /^body\.closeDate /],
      ['not ISO', { name: 'n', closeDate: '15/12/2026' }, /^body\.closeDate /],
      ['a timestamp', { name: 'n', closeDate: '2026-12-15T00:00:00Z' }, /^body\.closeDate /],
      ['unknown property', { name: 'n', probability: 0.5 }, /^body\.probability is not allowed$/],
      ['organizationId is not writable', { name: 'n', organizationId: orgId }, /^body\.organizationId is not allowed$/]
    ]
    for (const [what, payload, message] of bodies) {
      badRequest(t, await create(payload), message, `POST ${what}`)
    }

    const patches: Array<[string, unknown, RegExp]> = [
      ['empty body', {}, /^body must NOT have fewer than 1 properties/],
      ['empty name', { name: '' }, /^body\.name /],
      ['null name', { name: null }, /^body\.name /],
      ['three decimals', { value: '1.234' }, /^body\.value /],
      ['negative', { value: -1 }, /^body\.value /],
      ['1e13', { value: 1e13 }, /^body\.value /],
      ['bad stage', { stage: 'won' }, /^body\.stage /],
      ['bad date', { closeDate: '2026-02-30' }, /^body\.closeDate /],
      ['unknown property', { stage: 'proposal', owner: 'me' }, /^body\.owner is not allowed$/]
    ]
    for (const [what, payload, message] of patches) {
      badRequest(t, await update(payload), message, `PATCH ${what}`)
    }

    badRequest(t, await as(app, memberA, { method: 'GET', url: `/api/v1/organizations/${orgId}/opportunities?stage=won` }), /^querystring\.stage /, 'bad stage filter')
    badRequest(t, await as(app, memberA, { method: 'GET', url: `/api/v1/organizations/${orgId}/opportunities?limit=0` }), /^querystring\.limit /, 'limit 0')
    badRequest(t, await as(app, memberA, { method: 'GET', url: `/api/v1/organizations/${orgId}/opportunities?limit=201` }), /^querystring\.limit /, 'limit 201')
    badRequest(t, await as(app, memberA, { method: 'GET', url: `/api/v1/organizations/${orgId}/opportunities?offset=-1` }), /^querystring\.offset /, 'negative offset')
    badRequest(t, await as(app, memberA, { method: 'GET', url: `/api/v1/organizations/${orgId}/opportunities?owner=me` }), /^querystring\.owner is not allowed$/, 'unknown query parameter')
    badRequest(t, await as(app, memberA, { method: 'GET', url: '/api/v1/opportunities/not-a-uuid' }), /^params\.id /, 'GET bad uuid')
    badRequest(t, await as(app, memberA, { method: 'PATCH', url: '/api/v1/opportunities/not-a-uuid', payload: { stage: 'proposal' } }), /^params\.id /, 'PATCH bad uuid')
    badRequest(t, await as(app, memberA, { method: 'GET', url: '/api/v1/organizations/not-a-uuid/opportunities' }), /^params\.id /, 'list bad uuid')
    badRequest(t, await as(app, memberA, { method: 'POST', url: '/api/v1/organizations/not-a-uuid/opportunities', payload: { name: 'n' } }), /^params\.id /, 'create bad uuid')

    t.same(await opportunityRows(db), before, 'no rejected request changed the database')
    t.same((await as(app, memberA, { method: 'GET', url: `/api/v1/opportunities/${existing.id as string}` })).json(), existing)
  })

  await t.test('ETag and If-Match', async (t) => {
    const orgId = await createOrganization(app, memberA, 'Etag Corp')
    const created = await as(app, memberA, { method: 'POST', url: `/api/v1/organizations/${orgId}/opportunities`, payload: { name: 'Tagged', value: '500' } })
    const id = created.json().id as string
    const first = await as(app, memberA, { method: 'GET', url: `/api/v1/opportunities/${id}` })
    const etag1 = first.headers.etag as string
    t.match(etag1, STRONG_ETAG)
    t.notMatch(etag1, /^W\//, 'not a weak tag')

    const ok = await as(app, memberA, { method: 'PATCH', url: `/api/v1/opportunities/${id}`, headers: { 'if-match': etag1 }, payload: { stage: 'proposal' } })
    t.equal(ok.statusCode, 200, 'If-Match with the current ETag applies the change')
    t.equal(ok.json().stage, 'proposal')
    const etag2 = ok.headers.etag as string
    t.match(etag2, STRONG_ETAG)
    t.not(etag2, etag1)
    const afterOk = await opportunityRow(db, id)
    t.equal(afterOk?.stage, 'proposal')

    const stale = await as(app, memberA, { method: 'PATCH', url: `/api/v1/opportunities/${id}`, headers: { 'if-match': etag1 }, payload: { stage: 'closed-won', value: '1.00' } })
    t.equal(stale.statusCode, 412, 'a stale ETag is refused')
    t.same(Object.keys(stale.json()).sort(), ['code', 'error', 'message', 'statusCode'])
    t.match(stale.json(), { statusCode: 412, error: 'Precondition Failed', code: 'PRECONDITION_FAILED' })
    t.same(await opportunityRow(db, id), afterOk, 'the row is unchanged after 412 (updated_at included)')

    const weak = await as(app, memberA, { method: 'PATCH', url: `/api/v1/opportunities/${id}`, headers: { 'if-match': `W/${etag2}` }, payload: { name: 'weak' } })
    t.equal(weak.statusCode, 412, 'a weak tag never matches (strong comparison)')
    t.same(await opportunityRow(db, id), afterOk)

    const listed = await as(app, memberA, { method: 'PATCH', url: `/api/v1/opportunities/${id}`, headers: { 'if-match': `"nope", ${etag2}` }, payload: { name: 'Listed' } })
    t.equal(listed.statusCode, 200, 'one of several listed tags may match')
    const etag3 = listed.headers.etag as string

    const star = await as(app, memberA, { method: 'PATCH', url: `/api/v1/opportunities/${id}`, headers: { 'if-match': '*' }, payload: { name: 'Star' } })
    t.equal(star.statusCode, 200, 'If-Match: * matches any current representation')
    t.equal((await opportunityRow(db, id))?.name, 'Star')
    const staleAgain = await as(app, memberA, { method: 'PATCH', url: `/api/v1/opportunities/${id}`, headers: { 'if-match': etag3 }, payload: { name: 'Late' } })
    t.equal(staleAgain.statusCode, 412)
    t.equal((await opportunityRow(db, id))?.name, 'Star')

    // Two writers holding the same ETag: exactly one wins, the other gets 412.
    for (let round = 0; round < 5; round++) {
      const current = await as(app, memberA, { method: 'GET', url: `/api/v1/opportunities/${id}` })
      const etag = current.headers.etag as string
      const [a, b] = await Promise.all([
        as(app, memberA, { method: 'PATCH', url: `/api/v1/opportunities/${id}`, headers: { 'if-match': etag }, payload: { name: `writer A ${round}`, value: '100.00' } }),
        as(app, memberA, { method: 'PATCH', url: `/api/v1/opportunities/${id}`, headers: { 'if-match': etag }, payload: { name: `writer B ${round}`, stage: 'negotiation' } })
      ])
      t.same([a.statusCode, b.statusCode].sort(), [200, 412], `round ${round}: one 200 and one 412`)
      const winner = a.statusCode === 200 ? a : b
      const loser = a.statusCode === 200 ? b : a
      t.equal(loser.json().code, 'PRECONDITION_FAILED')
      const row = await opportunityRow(db, id)
      t.equal(row?.name, winner.json().name, `round ${round}: the database holds the winner's write`)
      t.equal(row?.name, `writer ${winner === a ? 'A' : 'B'} ${round}`)
      const after = await as(app, memberA, { method: 'GET', url: `/api/v1/opportunities/${id}` })
      t.same(after.json(), winner.json(), 'GET shows the winner')
      t.equal(after.headers.etag, winner.headers.etag)
    }
  })

  await t.test('scoping: members reach only their own organizations; admins reach all', async (t) => {
    const orgA = await createOrganization(app, memberA, 'Member A Ltd')
    const orgB = await createOrganization(app, memberB, 'Member B Ltd')
    const oppA = (await as(app, memberA, { method: 'POST', url: `/api/v1/organizations/${orgA}/opportunities`, payload: { name: 'A deal', value: '1000', closeDate: '2026-11-30' } })).json()
    const oppB = (await as(app, memberB, { method: 'POST', url: `/api/v1/organizations/${orgB}/opportunities`, payload: { name: 'B deal', value: '2000' } })).json()
    const before = await opportunityRows(db)
    const etagA = (await as(app, memberA, { method: 'GET', url: `/api/v1/opportunities/${oppA.id as string}` })).headers.etag as string

    notFound(t, await as(app, memberB, { method: 'GET', url: `/api/v1/organizations/${orgA}/opportunities` }), 'Organization', 'B lists A\'s organization')
    notFound(t, await as(app, memberB, { method: 'GET', url: `/api/v1/organizations/${orgA}/opportunities?stage=prospecting` }), 'Organization', 'B lists A\'s organization by stage')
    notFound(t, await as(app, memberB, { method: 'POST', url: `/api/v1/organizations/${orgA}/opportunities`, payload: { name: 'sneaky' } }), 'Organization', 'B creates on A\'s organization')
    notFound(t, await as(app, memberB, { method: 'GET', url: `/api/v1/opportunities/${oppA.id as string}` }), 'Opportunity', 'B reads A\'s opportunity')
    notFound(t, await as(app, memberB, { method: 'PATCH', url: `/api/v1/opportunities/${oppA.id as string}`, payload: { stage: 'closed-lost' } }), 'Opportunity', 'B updates A\'s opportunity')
    notFound(t, await as(app, memberB, { method: 'PATCH', url: `/api/v1/opportunities/${oppA.id as string}`, headers: { 'if-match': etagA }, payload: { stage: 'closed-lost' } }), 'Opportunity', 'B updates A\'s opportunity with its real ETag')
    notFound(t, await as(app, memberA, { method: 'GET', url: `/api/v1/opportunities/${MISSING}` }), 'Opportunity', 'unknown opportunity')
    notFound(t, await as(app, memberA, { method: 'PATCH', url: `/api/v1/opportunities/${MISSING}`, payload: { name: 'x' } }), 'Opportunity', 'update unknown opportunity')
    notFound(t, await as(app, memberA, { method: 'GET', url: `/api/v1/organizations/${MISSING}/opportunities` }), 'Organization', 'unknown organization')
    notFound(t, await as(app, memberA, { method: 'POST', url: `/api/v1/organizations/${MISSING}/opportunities`, payload: { name: 'x' } }), 'Organization', 'create on unknown organization')
    t.same(await opportunityRows(db), before, 'nothing changed')

    const unauthenticated = await app.inject({ method: 'GET', url: `/api/v1/opportunities/${oppA.id as string}` })
    t.equal(unauthenticated.statusCode, 401)
    t.equal(unauthenticated.json().code, 'UNAUTHORIZED')

    // B's own list holds only B's opportunity.
    const listB = (await as(app, memberB, { method: 'GET', url: `/api/v1/organizations/${orgB}/opportunities` })).json()
    t.same(listB.data, [oppB])

    // The admin sees and changes everything.
    const adminList = await as(app, admin, { method: 'GET', url: `/api/v1/organizations/${orgA}/opportunities` })
    t.equal(adminList.statusCode, 200)
    t.same(adminList.json().data, [oppA])
    const adminRead = await as(app, admin, { method: 'GET', url: `/api/v1/opportunities/${oppB.id as string}` })
    t.equal(adminRead.statusCode, 200)
    t.same(adminRead.json(), oppB)
    const adminPatch = await as(app, admin, { method: 'PATCH', url: `/api/v1/opportunities/${oppA.id as string}`, headers: { 'if-match': etagA }, payload: { stage: 'qualification' } })
    t.equal(adminPatch.statusCode, 200)
    t.equal((await opportunityRow(db, oppA.id))?.stage, 'qualification')
    const adminCreate = await as(app, admin, { method: 'POST', url: `/api/v1/organizations/${orgB}/opportunities`, payload: { name: 'Admin deal', value: 1 } })
    t.equal(adminCreate.statusCode, 201)
    t.match(await opportunityRow(db, adminCreate.json().id), { organization_id: orgB, name: 'Admin deal', value: '1.00' })

    // Soft-deleting the organization hides its opportunities from everyone.
    const deleted = await as(app, memberA, { method: 'DELETE', url: `/api/v1/organizations/${orgA}` })
    t.equal(deleted.statusCode, 204)
    const beforeGone = await opportunityRows(db)
    for (const user of [memberA, admin]) {
      const who = user === admin ? 'admin' : 'owner'
      notFound(t, await as(app, user, { method: 'GET', url: `/api/v1/organizations/${orgA}/opportunities` }), 'Organization', `${who} lists a deleted organization`)
      notFound(t, await as(app, user, { method: 'POST', url: `/api/v1/organizations/${orgA}/opportunities`, payload: { name: 'late' } }), 'Organization', `${who} creates on a deleted organization`)
      notFound(t, await as(app, user, { method: 'GET', url: `/api/v1/opportunities/${oppA.id as string}` }), 'Opportunity', `${who} reads an opportunity of a deleted organization`)
      notFound(t, await as(app, user, { method: 'PATCH', url: `/api/v1/opportunities/${oppA.id as string}`, payload: { stage: 'closed-won' } }), 'Opportunity', `${who} updates an opportunity of a deleted organization`)
    }
    t.same(await opportunityRows(db), beforeGone, 'nothing changed after the 404s')
    t.equal((await opportunityRow(db, oppA.id))?.stage, 'qualification', 'the row itself is kept (soft delete)')
  })
})
