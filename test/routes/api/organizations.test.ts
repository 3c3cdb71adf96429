// Organizations through HTTP against a real database: CRUD, validation,
// scoping between members and an admin, soft delete, null omission,
// ETag/If-Match (including a race), search escaping, ordering and paging.
import t from 'tap'
import { as, createUsers } from '../../helpers/api'
import { buildTestApp } from '../../helpers/app'
import { createTestDatabase, withClient } from '../../helpers/database'

const ORGS = '/api/v1/organizations'

t.test('organizations', async (t) => {
  const db = await createTestDatabase('orgs')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url)
  const [admin, alice, bob] = await createUsers(app, db.url, ['admin', 'member', 'member']) as [Awaited<ReturnType<typeof createUsers>>[0], Awaited<ReturnType<typeof createUsers>>[0], Awaited<ReturnType<typeof createUsers>>[0]]
  const sql = async <R extends Record<string, unknown>>(text: string, values: unknown[] = []): Promise<R[]> =>
    await withClient(db.url, async (c) => (await c.query<R>(text, values)).rows)
  const orgCount = async (): Promise<number> => Number((await sql<{ n: string }>('SELECT count(*) AS n FROM organizations'))[0]!.n)

  t.test('an assignee id in upper case is the same user', async (t) => {
    const mine = await as(app, alice, { method: 'POST', url: ORGS, payload: { name: 'Upper Self', assignedUserId: alice.id.toUpperCase() } })
    t.equal(mine.statusCode, 201, 'a member may name themselves in any case')
    t.equal(mine.json().assignedUserId, alice.id)
    // Bob's list is cached, then an admin hands him an organization naming him in upper case:
    // his cached list must be invalidated (the per-owner cache keys use the lower-case id).
    const before = await as(app, bob, { method: 'GET', url: `${ORGS}?search=Upper%20Self` })
    t.same(before.json().data, [])
    const moved = await as(app, admin, { method: 'PATCH', url: `${ORGS}/${mine.json().id as string}`, payload: { assignedUserId: bob.id.toUpperCase() } })
    t.equal(moved.statusCode, 200)
    t.equal(moved.json().assignedUserId, bob.id)
    const after = await as(app, bob, { method: 'GET', url: `${ORGS}?search=Upper%20Self` })
    t.equal(after.headers['x-cache'], 'MISS', 'the reassignment invalidated the new owner\'s cached list')
    t.same(after.json().data.map((o: { id: string }) => o.id), [mine.json().id])
    await as(app, admin, { method: 'DELETE', url: `${ORGS}/${mine.json().id as string}` })
  })

  t.test('create, read with counts, update, clear, soft delete', async (t) => {
    const created = await as(app, alice, { method: 'POST', url: ORGS, payload: { name: 'Acme Corp', industrySegment: 'Manufacturing', priorityLevel: 'B', primaryEmail: 'info@acme.test', annualRevenue: 1_500_000 } })
    t.equal(created.statusCode, 201)
    const org = created.json()
    t.match(org, { name: 'Acme Corp', industrySegment: 'Manufacturing', priorityLevel: 'B', primaryEmail: 'info@acme.test', annualRevenue: 1_500_000, assignedUserId: alice.id, contactCount: 0, interactionCount: 0, opportunityCount: 0 })
    t.match(org.id, /^[0-9a-f-]{36}$/)
    t.equal(created.headers.location, `${ORGS}/${org.id}`)
    t.match(created.headers.etag, /^"[A-Za-z0-9_-]+"$/, 'a strong ETag')
    t.match(created.headers['content-type'], /^application\/json; charset=utf-8/)
    t.notOk('website' in org, 'null fields are omitted, not null')
    t.notOk('primaryPhone' in org)
    t.notMatch(created.body, /null/, 'no null anywhere in the body')

    const [row] = await sql('SELECT name, industry_segment, priority_level, annual_revenue, assigned_user_id, is_deleted, website FROM organizations WHERE id = $1', [org.id])
    t.same(row, { name: 'Acme Corp', industry_segment: 'Manufacturing', priority_level: 'B', annual_revenue: '1500000', assigned_user_id: alice.id, is_deleted: false, website: null })

    // Counts follow the listing function's definitions.
    const contact = await sql<{ id: string }>(`INSERT INTO contacts (organization_id, first_name, last_name, is_deleted) VALUES
      ($1, 'Live', 'One', false), ($1, 'Live', 'Two', false), ($1, 'Gone', 'Three', true) RETURNING id`, [org.id])
    t.equal(contact.length, 3)
    await sql(`INSERT INTO interactions (organization_id, user_id, type, subject, created_at) VALUES
      ($1, $2, 'call', 'recent', now() - interval '1 day'), ($1, $2, 'email', 'old', now() - interval '120 days')`, [org.id, alice.id])
    await sql(`INSERT INTO opportunities (organization_id, name, stage, value) VALUES
      ($1, 'open', 'proposal', 10), ($1, 'won', 'closed-won', 20), ($1, 'lost', 'closed-lost', 30), ($1, 'new', 'prospecting', 40)`, [org.id])
    const read = await as(app, alice, { method: 'GET', url: `${ORGS}/${org.id}` })
    t.equal(read.statusCode, 200)
    t.match(read.json(), { id: org.id, contactCount: 2, interactionCount: 1, opportunityCount: 2 })
    t.match(read.headers.etag, /^"/)
    t.not(read.headers.etag, created.headers.etag, 'the representation changed (counts), so did the ETag')

    const patched = await as(app, alice, { method: 'PATCH', url: `${ORGS}/${org.id}`, payload: { website: 'https://acme.test', industrySegment: null, priorityLevel: 'A' } })
    t.equal(patched.statusCode, 200)
    t.match(patched.json(), { name: 'Acme Corp', website: 'https://acme.test', priorityLevel: 'A', contactCount: 2 })
    t.notOk('industrySegment' in patched.json(), 'cleared with null, then omitted')
    t.ok(new Date(patched.json().updatedAt) >= new Date(org.updatedAt))
    const [afterPatch] = await sql('SELECT industry_segment, website, priority_level FROM organizations WHERE id = $1', [org.id])
    t.same(afterPatch, { industry_segment: null, website: 'https://acme.test', priority_level: 'A' })

    const deleted = await as(app, alice, { method: 'DELETE', url: `${ORGS}/${org.id}` })
    t.equal(deleted.statusCode, 204)
    t.equal(deleted.body, '')
    t.same(await sql('SELECT is_deleted FROM organizations WHERE id = $1', [org.id]), [{ is_deleted: true }], 'soft: the row stays')
    for (const user of [alice, admin]) {
      const gone = await as(app, user, { method: 'GET', url: `${ORGS}/${org.id}` })
      t.equal(gone.statusCode, 404)
      t.same(gone.json(), { statusCode: 404, error: 'Not Found', message: 'Organization not found', code: 'NOT_FOUND' })
      t.notOk((await as(app, user, { method: 'GET', url: ORGS })).json().data.some((o: { id: string }) => o.id === org.id), 'gone from lists')
    }
    t.equal((await as(app, alice, { method: 'PATCH', url: `${ORGS}/${org.id}`, payload: { name: 'x' } })).statusCode, 404)
    t.equal((await as(app, alice, { method: 'DELETE', url: `${ORGS}/${org.id}` })).statusCode, 404, 'deleting twice: 404')
  })

  t.test('bad input answers 400 naming the field and writes nothing', async (t) => {
    const before = await orgCount()
    const cases: Array<[unknown, RegExp]> = [
      [{}, /^body\.name /],
      [{ name: '' }, /^body\.name must NOT have fewer than 1 characters/],
      [{ name: 'x'.repeat(256) }, /^body\.name must NOT have more than 255 characters/],
      [{ name: 'ok', priorityLevel: 'E' }, /^body\.priorityLevel /],
      [{ name: 'ok', primaryEmail: 'not-an-email' }, /^body\.primaryEmail must match format "email"/],
      [{ name: 'ok', annualRevenue: -1 }, /^body\.annualRevenue must be >= 0/],
      [{ name: 'ok', annualRevenue: 1.5 }, /^body\.annualRevenue must be integer/],
      [{ name: 'ok', industrySegment: 'x'.repeat(101) }, /^body\.industrySegment /],
      [{ name: 'ok', primaryPhone: 'x'.repeat(51) }, /^body\.primaryPhone /],
      [{ name: 'ok', assignedUserId: 'nope' }, /^body\.assignedUserId must match format "uuid"/],
      [{ name: 'ok', isDeleted: true }, /^body\.isDeleted is not allowed$/],
      [{ name: null }, /^body\.name /]
    ]
    for (const [payload, message] of cases) {
      const res = await as(app, alice, { method: 'POST', url: ORGS, payload: payload as object })
      t.equal(res.statusCode, 400, JSON.stringify(payload))
      t.equal(res.json().code, 'VALIDATION_ERROR')
      t.match(res.json().message, message)
    }
    const notJson = await as(app, alice, { method: 'POST', url: ORGS, payload: 'name=x', headers: { 'content-type': 'text/plain' } })
    t.equal(notJson.statusCode, 415)
    t.equal(notJson.json().code, 'UNSUPPORTED_MEDIA_TYPE')
    const tooBig = await as(app, alice, { method: 'POST', url: ORGS, payload: JSON.stringify({ name: 'x', website: 'y'.repeat(1024 * 1024) }), headers: { 'content-type': 'application/json' } })
    t.equal(tooBig.statusCode, 413)
    t.equal(tooBig.json().code, 'PAYLOAD_TOO_LARGE')
    const broken = await as(app, alice, { method: 'POST', url: ORGS, payload: '{"name": "x"', headers: { 'content-type': 'application/json' } })
    t.equal(broken.statusCode, 400)
    t.equal(await orgCount(), before, 'nothing was written')

    const target = (await as(app, alice, { method: 'POST', url: ORGS, payload: { name: 'Target' } })).json()
    const emptyPatch = await as(app, alice, { method: 'PATCH', url: `${ORGS}/${target.id}`, payload: {} })
    t.equal(emptyPatch.statusCode, 400)
    t.match(emptyPatch.json().message, /^body must NOT have fewer than 1 properties/)
    const nullName = await as(app, alice, { method: 'PATCH', url: `${ORGS}/${target.id}`, payload: { name: null } })
    t.equal(nullName.statusCode, 400, 'the name cannot be cleared')
    t.same(await sql('SELECT name FROM organizations WHERE id = $1', [target.id]), [{ name: 'Target' }])

    t.match((await as(app, alice, { method: 'GET', url: `${ORGS}/not-a-uuid` })).json().message, /^params\.id must match format "uuid"/)
    for (const [query, message] of [
      ['limit=0', /^querystring\.limit must be >= 1/],
      ['limit=201', /^querystring\.limit must be <= 200/],
      ['offset=-1', /^querystring\.offset must be >= 0/],
      ['limit=ten', /^querystring\.limit must be integer/],
      ['priorityLevel=E', /^querystring\.priorityLevel /],
      ['assignedUserId=123', /^querystring\.assignedUserId must match format "uuid"/],
      ['search=', /^querystring\.search must NOT have fewer than 1 characters/],
      ['sort=size', /^querystring\.sort must be equal to one of the allowed values/],
      ['order=name', /^querystring\.order is not allowed$/]
    ] as Array<[string, RegExp]>) {
      const res = await as(app, alice, { method: 'GET', url: `${ORGS}?${query}` })
      t.equal(res.statusCode, 400, query)
      t.match(res.json().message, message)
    }
  })

  t.test('scoping: members see only their own, admins everything, 404 not 403', async (t) => {
    const own = (await as(app, alice, { method: 'POST', url: ORGS, payload: { name: 'Alice Only' } })).json()
    const bobs = (await as(app, bob, { method: 'POST', url: ORGS, payload: { name: 'Bob Only' } })).json()

    for (const [method, payload] of [['GET', undefined], ['PATCH', { name: 'Hijacked' }], ['DELETE', undefined]] as const) {
      const res = await as(app, bob, { method, url: `${ORGS}/${own.id}`, ...(payload !== undefined ? { payload } : {}) })
      t.equal(res.statusCode, 404, `${method} of another member's organization`)
      t.equal(res.json().code, 'NOT_FOUND')
    }
    t.same(await sql('SELECT name, is_deleted FROM organizations WHERE id = $1', [own.id]), [{ name: 'Alice Only', is_deleted: false }], 'unchanged')

    const bobList = (await as(app, bob, { method: 'GET', url: `${ORGS}?limit=200` })).json()
    t.ok(bobList.data.length >= 1)
    t.ok(bobList.data.every((o: { id: string }) => o.id !== own.id), 'a member lists only their own')
    const bobWithFilter = (await as(app, bob, { method: 'GET', url: `${ORGS}?limit=200&assignedUserId=${alice.id}` })).json()
    t.same(bobWithFilter.data.map((o: { id: string }) => o.id), bobList.data.map((o: { id: string }) => o.id), 'a member\'s assignedUserId is ignored: always their own')

    const adminAll = (await as(app, admin, { method: 'GET', url: `${ORGS}?limit=200` })).json()
    const ids = adminAll.data.map((o: { id: string }) => o.id)
    t.ok(ids.includes(own.id) && ids.includes(bobs.id), 'an admin lists everyone\'s')
    const adminBob = (await as(app, admin, { method: 'GET', url: `${ORGS}?limit=200&assignedUserId=${bob.id}` })).json()
    const [{ n: bobCount }] = await sql<{ n: string }>('SELECT count(*) AS n FROM organizations WHERE assigned_user_id = $1 AND NOT is_deleted', [bob.id]) as [{ n: string }]
    t.equal(adminBob.data.length, Number(bobCount), 'an admin can narrow to one user')
    t.equal((await as(app, admin, { method: 'GET', url: `${ORGS}/${own.id}` })).statusCode, 200)

    // Assignment rules.
    const assignOther = await as(app, bob, { method: 'POST', url: ORGS, payload: { name: 'Gift', assignedUserId: alice.id } })
    t.equal(assignOther.statusCode, 403)
    t.equal(assignOther.json().code, 'FORBIDDEN')
    t.same(await sql('SELECT id FROM organizations WHERE name = $1', ['Gift']), [], 'nothing created')
    const reassignOwn = await as(app, bob, { method: 'PATCH', url: `${ORGS}/${bobs.id}`, payload: { assignedUserId: alice.id } })
    t.equal(reassignOwn.statusCode, 403, 'a member cannot hand an organization to someone else')
    const selfAssign = await as(app, bob, { method: 'POST', url: ORGS, payload: { name: 'Self', assignedUserId: bob.id } })
    t.equal(selfAssign.statusCode, 201)
    t.equal(selfAssign.json().assignedUserId, bob.id)

    const byAdmin = await as(app, admin, { method: 'POST', url: ORGS, payload: { name: 'For Bob', assignedUserId: bob.id } })
    t.equal(byAdmin.statusCode, 201)
    t.equal((await as(app, bob, { method: 'GET', url: `${ORGS}/${byAdmin.json().id}` })).statusCode, 200, 'the assignee sees it')
    const defaultAdmin = await as(app, admin, { method: 'POST', url: ORGS, payload: { name: 'Admin Own' } })
    t.equal(defaultAdmin.json().assignedUserId, admin.id, 'defaults to the caller')

    const [inactive] = await createUsers(app, db.url, ['member'])
    await sql('UPDATE users SET is_active = false WHERE id = $1', [inactive!.id])
    for (const assignee of [inactive!.id, '00000000-0000-4000-8000-000000000000']) {
      const res = await as(app, admin, { method: 'POST', url: ORGS, payload: { name: 'Nobody\'s', assignedUserId: assignee } })
      t.equal(res.statusCode, 400)
      t.same(res.json(), { statusCode: 400, error: 'Bad Request', message: 'body.assignedUserId does not name an active user', code: 'VALIDATION_ERROR' })
    }
    const moved = await as(app, admin, { method: 'PATCH', url: `${ORGS}/${own.id}`, payload: { assignedUserId: bob.id } })
    t.equal(moved.statusCode, 200)
    t.equal((await as(app, alice, { method: 'GET', url: `${ORGS}/${own.id}` })).statusCode, 404, 'the previous owner no longer sees it')
    t.equal((await as(app, bob, { method: 'GET', url: `${ORGS}/${own.id}` })).statusCode, 200)
  })

  t.test('ETag and If-Match', async (t) => {
    const created = await as(app, alice, { method: 'POST', url: ORGS, payload: { name: 'Versioned' } })
    const id = created.json().id as string
    const first = await as(app, alice, { method: 'GET', url: `${ORGS}/${id}` })
    t.equal(first.headers.etag, created.headers.etag, 'same representation, same tag')
    t.equal((await as(app, alice, { method: 'GET', url: `${ORGS}/${id}` })).headers.etag, first.headers.etag, 'stable across reads')

    const ok = await as(app, alice, { method: 'PATCH', url: `${ORGS}/${id}`, payload: { name: 'Versioned 2' }, headers: { 'if-match': first.headers.etag as string } })
    t.equal(ok.statusCode, 200)
    t.not(ok.headers.etag, first.headers.etag)
    t.equal((await as(app, alice, { method: 'GET', url: `${ORGS}/${id}` })).headers.etag, ok.headers.etag, 'the PATCH answer carries the new tag')

    const stale = await as(app, alice, { method: 'PATCH', url: `${ORGS}/${id}`, payload: { name: 'Lost update' }, headers: { 'if-match': first.headers.etag as string } })
    t.equal(stale.statusCode, 412)
    t.same(stale.json(), { statusCode: 412, error: 'Precondition Failed', message: 'The resource has changed since the ETag given in If-Match', code: 'PRECONDITION_FAILED' })
    t.same(await sql('SELECT name FROM organizations WHERE id = $1', [id]), [{ name: 'Versioned 2' }], 'the stale write changed nothing')

    const weak = await as(app, alice, { method: 'PATCH', url: `${ORGS}/${id}`, payload: { name: 'Weak' }, headers: { 'if-match': `W/${ok.headers.etag as string}` } })
    t.equal(weak.statusCode, 412, 'weak tags never match If-Match')
    const listed = await as(app, alice, { method: 'PATCH', url: `${ORGS}/${id}`, payload: { name: 'Listed' }, headers: { 'if-match': `"nope", ${ok.headers.etag as string}` } })
    t.equal(listed.statusCode, 200, 'any tag of a list may match')
    const star = await as(app, alice, { method: 'PATCH', url: `${ORGS}/${id}`, payload: { name: 'Star' }, headers: { 'if-match': '*' } })
    t.equal(star.statusCode, 200)
    const otherUser = await as(app, bob, { method: 'PATCH', url: `${ORGS}/${id}`, payload: { name: 'x' }, headers: { 'if-match': '*' } })
    t.equal(otherUser.statusCode, 404, 'scoping is checked before the precondition')

    // Two writers holding the same tag: exactly one wins, every time.
    for (let round = 0; round < 5; round++) {
      const tag = (await as(app, alice, { method: 'GET', url: `${ORGS}/${id}` })).headers.etag as string
      const results = await Promise.all(['left', 'right'].map(async (side) =>
        await as(app, alice, { method: 'PATCH', url: `${ORGS}/${id}`, payload: { name: `${side} ${round}` }, headers: { 'if-match': tag } })))
      const codes = results.map((r) => r.statusCode).sort()
      t.same(codes, [200, 412], `round ${round}: one 200 and one 412`)
      const winner = results.find((r) => r.statusCode === 200)!.json().name
      t.same(await sql('SELECT name FROM organizations WHERE id = $1', [id]), [{ name: winner }], 'the database holds the winner\'s write')
    }
  })

  t.test('search: case-insensitive substring where % and _ match literally', async (t) => {
    const [searcher] = await createUsers(app, db.url, ['member'])
    const names = ['100% Growth', '100 Percent', 'a_b Corp', 'aXb Corp', 'O\'Brien & Sons', 'Quote "Double" Ltd', 'Ünïcode Straße GmbH', '東京商事', 'Back\\slash Inc']
    for (const name of names) t.equal((await as(app, searcher!, { method: 'POST', url: ORGS, payload: { name } })).statusCode, 201)
    const search = async (term: string): Promise<string[]> => {
      const res = await as(app, searcher!, { method: 'GET', url: `${ORGS}?search=${encodeURIComponent(term)}&limit=200` })
      t.equal(res.statusCode, 200)
      return res.json().data.map((o: { name: string }) => o.name).sort()
    }
    t.same(await search('%'), ['100% Growth'])
    t.same(await search('0%'), ['100% Growth'])
    t.same(await search('_'), ['a_b Corp'])
    t.same(await search('a_b'), ['a_b Corp'], '_ is not a wildcard')
    t.same(await search('o\'brien'), ['O\'Brien & Sons'])
    t.same(await search('"double"'), ['Quote "Double" Ltd'])
    t.same(await search('ÜNÏCODE'), ['Ünïcode Straße GmbH'], 'unicode, case-insensitive')
    t.same(await search('straße'), ['Ünïcode Straße GmbH'])
    t.same(await search('東京'), ['東京商事'])
    t.same(await search('\\'), ['Back\\slash Inc'], 'a backslash is literal too')
    t.same(await search('corp'), ['aXb Corp', 'a_b Corp'])
    t.same(await search('zzz'), [])
    t.same(await search('\'; DROP TABLE organizations; --'), [], 'parameters are bound')
    t.ok(await orgCount() > 0)
  })

  t.test('order (priority A first, newest first, id) and paging', async (t) => {
    const [lister] = await createUsers(app, db.url, ['member'])
    // created_at set explicitly so the expected order does not depend on timing.
    await sql(`INSERT INTO organizations (name, priority_level, assigned_user_id, created_at)
      SELECT 'Paged ' || g, (ARRAY['A','B','C','D'])[1 + g % 4]::priority_level, $1, '2026-01-01'::timestamptz + (g % 7) * interval '1 day'
      FROM generate_series(1, 23) g`, [lister!.id])
    await sql('INSERT INTO organizations (name, priority_level, assigned_user_id, is_deleted) VALUES ($1, $2, $3, true)', ['Paged deleted', 'A', lister!.id])
    const expected = (await sql<{ id: string }>(`SELECT id FROM organizations WHERE assigned_user_id = $1 AND NOT is_deleted
      ORDER BY priority_level ASC, created_at DESC, id ASC`, [lister!.id])).map((r) => r.id)
    t.equal(expected.length, 23)

    const seen: string[] = []
    for (let offset = 0; ; offset += 10) {
      const res = await as(app, lister!, { method: 'GET', url: `${ORGS}?limit=10&offset=${offset}` })
      t.equal(res.statusCode, 200)
      const body = res.json()
      t.match(body.page, { limit: 10, offset, hasMore: offset + 10 < 23 })
      t.equal(typeof body.page.nextCursor, body.page.hasMore === true ? 'string' : 'undefined', 'a cursor exactly when more follow')
      seen.push(...body.data.map((o: { id: string }) => o.id))
      if (!body.page.hasMore) break
    }
    t.same(seen, expected, 'pages follow priority, then newest, then id, without overlap or gaps')
    const exact = (await as(app, lister!, { method: 'GET', url: `${ORGS}?limit=23` })).json()
    t.equal(exact.data.length, 23)
    t.equal(exact.page.hasMore, false, 'no phantom next page when the count is exact')
    const byPriority = (await as(app, lister!, { method: 'GET', url: `${ORGS}?priorityLevel=A&limit=200` })).json()
    t.ok(byPriority.data.length > 0 && byPriority.data.every((o: { priorityLevel: string }) => o.priorityLevel === 'A'))
    t.same(Object.keys(byPriority.data[0]).sort(), ['contactCount', 'createdAt', 'id', 'interactionCount', 'name', 'opportunityCount', 'priorityLevel'], 'list items omit null fields too')
    const defaults = (await as(app, lister!, { method: 'GET', url: ORGS })).json()
    t.same(defaults.page, { limit: 50, offset: 0, hasMore: false })
    const segment = await as(app, admin, { method: 'POST', url: ORGS, payload: { name: 'Segmented', industrySegment: 'Retail', assignedUserId: lister!.id } })
    t.equal(segment.statusCode, 201)
    const retail = (await as(app, lister!, { method: 'GET', url: `${ORGS}?industrySegment=Retail` })).json()
    t.same(retail.data.map((o: { name: string; industrySegment: string }) => [o.name, o.industrySegment]), [['Segmented', 'Retail']])
  })

  t.test('authentication is required', async (t) => {
    const res = await app.inject({ method: 'GET', url: ORGS })
    t.equal(res.statusCode, 401)
    t.equal(res.json().code, 'UNAUTHORIZED')
    const post = await app.inject({ method: 'POST', url: ORGS, payload: { name: 'Anonymous' } })
    t.equal(post.statusCode, 401)
    t.same(await sql('SELECT id FROM organizations WHERE name = $1', ['Anonymous']), [])
  })
})
