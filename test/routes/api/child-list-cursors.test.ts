// Contract §6 on the three lists under an organization: keyset cursors that
// are bound to their list, walks that neither repeat nor skip rows while
// others write, count=exact|estimated, fields= and their cache entries.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildTestApp } from '../../helpers/app'
import { createTestDatabase, withClient } from '../../helpers/database'
import { as, createUsers, type TestUser } from '../../helpers/api'

const API = '/api/v1'

interface Page { limit: number, offset: number, hasMore: boolean, nextCursor?: string, total?: number, totalIsEstimate?: boolean }
interface Listed { data: Array<Record<string, unknown> & { id: string }>, page: Page }

t.test('cursors, counts and fields on the lists under an organization', async (t) => {
  const db = await createTestDatabase('child_cursors')
  t.teardown(db.drop)
  const app: FastifyInstance = await buildTestApp(t, db.url)
  const [admin, memberA, memberB] = await createUsers(app, db.url, ['admin', 'member', 'member']) as [TestUser, TestUser, TestUser]
  const sql = async <R extends object = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<R[]> =>
    await withClient(db.url, async (client) => (await client.query<R>(text, params)).rows)

  const list = async (user: TestUser, url: string): Promise<Listed> => {
    const res = await as(app, user, { method: 'GET', url })
    t.equal(res.statusCode, 200, `GET ${url}`)
    return res.json<Listed>()
  }
  const refusal = async (user: TestUser, url: string): Promise<{ statusCode: number, code: string, message: string }> =>
    (await as(app, user, { method: 'GET', url })).json()

  /** Every page from the first, following nextCursor; `between` runs after each page. */
  const walk = async (user: TestUser, url: string, between: (pageNo: number) => Promise<void> = async () => {}): Promise<string[]> => {
    const ids: string[] = []
    let next: string | undefined
    for (let pageNo = 0; pageNo < 1000; pageNo++) {
      const separator = url.includes('?') ? '&' : '?'
      const page = await list(user, next === undefined ? url : `${url}${separator}cursor=${next}`)
      ids.push(...page.data.map((item) => item.id))
      t.equal(page.page.nextCursor !== undefined, page.page.hasMore, 'nextCursor exactly when hasMore')
      next = page.page.nextCursor
      if (next === undefined) return ids
      await between(pageNo)
    }
    throw new Error('walk did not end')
  }

  const [org, otherOrg] = await sql<{ id: string }>(`INSERT INTO organizations (name, assigned_user_id) VALUES ('Cursor Org', $1), ('Other Org', $1)
    RETURNING id`, [memberA.id])
  const orgId = org!.id
  // 25 contacts, several sharing one created_at to the microsecond: ties are broken by id.
  await sql(`INSERT INTO contacts (organization_id, first_name, last_name, created_at)
    SELECT $1, 'First' || n, 'Last' || n, timestamp '2026-01-01 00:00:00.123456+00' + (n / 3) * interval '1 microsecond'
    FROM generate_series(1, 25) AS n`, [orgId])
  const contactOrder = async (): Promise<string[]> => (await sql<{ id: string }>(
    'SELECT id FROM contacts WHERE organization_id = $1 AND NOT is_deleted ORDER BY created_at DESC, id', [orgId])).map((row) => row.id)

  await t.test('a walk by cursor returns the list in order, once, and ends without a cursor', async (t) => {
    const all = await contactOrder()
    t.same(await walk(memberA, `${API}/organizations/${orgId}/contacts?limit=4`), all)
    t.same(await walk(admin, `${API}/organizations/${orgId}/contacts?limit=7`), all, 'an admin walks it too, with its own cursors')
    const first = await list(memberA, `${API}/organizations/${orgId}/contacts?limit=10`)
    const rest = await list(memberA, `${API}/organizations/${orgId}/contacts?limit=50&cursor=${first.page.nextCursor ?? ''}`)
    t.same(rest.data.map((item) => item.id), all.slice(10), 'limit may differ between pages')
    t.same(rest.page, { limit: 50, offset: 0, hasMore: false })
    const offsetPage = await list(memberA, `${API}/organizations/${orgId}/contacts?limit=5&offset=5`)
    const afterOffset = await list(memberA, `${API}/organizations/${orgId}/contacts?limit=5&cursor=${offsetPage.page.nextCursor ?? ''}`)
    t.same(afterOffset.data.map((item) => item.id), all.slice(10, 15), 'an offset page\'s cursor continues after it')
  })

  await t.test('a cursor is bound to its user, list, filters and sort: anything else is 400 INVALID_CURSOR', async (t) => {
    const contacts = await list(memberA, `${API}/organizations/${orgId}/contacts?limit=2`)
    const cursor = contacts.page.nextCursor ?? ''
    t.match(cursor, /^[A-Za-z0-9_.-]+$/, 'URL-safe')
    const invalid = { statusCode: 400, code: 'INVALID_CURSOR' }
    const [body, mac] = cursor.split('.') as [string, string]
    const flip = (text: string, at: number): string => text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1)
    const contactsUrl = `${API}/organizations/${orgId}/contacts?limit=2`
    t.match(await refusal(memberA, `${contactsUrl}&cursor=${flip(body, 3)}.${mac}`), invalid, 'altered position')
    t.match(await refusal(memberA, `${contactsUrl}&cursor=${body}.${flip(mac, 0)}`), invalid, 'altered signature')
    t.match(await refusal(memberA, `${contactsUrl}&cursor=${cursor.slice(0, -3)}`), invalid, 'truncated')
    t.match(await refusal(memberA, `${contactsUrl}&cursor=${body}`), invalid, 'without its signature')
    t.match(await refusal(memberA, `${contactsUrl}&cursor=abc`), invalid, 'made up')
    t.match(await refusal(admin, `${contactsUrl}&cursor=${cursor}`), invalid, 'replayed by another user (an admin)')
    await sql('INSERT INTO contacts (organization_id, first_name, last_name) VALUES ($1, \'X\', \'Y\')', [otherOrg!.id])
    t.match(await refusal(memberA, `${API}/organizations/${otherOrg!.id}/contacts?cursor=${cursor}`), invalid, 'on another organization')
    t.match(await refusal(memberA, `${API}/organizations/${orgId}/interactions?cursor=${cursor}`), invalid, 'on another list')
    t.match(await refusal(memberA, `${contactsUrl}&cursor=${cursor}&offset=2`), { statusCode: 400, code: 'VALIDATION_ERROR' }, 'with an offset')
    t.match(await refusal(memberB, `${contactsUrl}&cursor=${cursor}`), invalid, 'replayed by another member (who learns nothing of the organization)')

    await sql(`INSERT INTO interactions (organization_id, user_id, type, subject, created_at)
      SELECT $1, $2, 'call', 'Call ' || n, timestamp '2026-02-01' + n * interval '1 hour' FROM generate_series(1, 6) AS n`, [orgId, memberA.id])
    const since = '2026-02-01T02:00:00Z'
    const interactions = await list(memberA, `${API}/organizations/${orgId}/interactions?limit=2&since=${since}`)
    const sinceCursor = interactions.page.nextCursor ?? ''
    t.equal((await list(memberA, `${API}/organizations/${orgId}/interactions?limit=2&since=${since}&cursor=${sinceCursor}`)).data.length, 2)
    t.match(await refusal(memberA, `${API}/organizations/${orgId}/interactions?limit=2&cursor=${sinceCursor}`), invalid, 'without its filter')
    t.match(await refusal(memberA, `${API}/organizations/${orgId}/interactions?since=2026-02-01T03:00:00Z&cursor=${sinceCursor}`), invalid,
      'with another filter value')

    await sql('INSERT INTO opportunities (organization_id, name, stage) SELECT $1, \'Deal \' || n, \'proposal\' FROM generate_series(1, 4) AS n', [orgId])
    const deals = await list(memberA, `${API}/organizations/${orgId}/opportunities?limit=1&stage=proposal`)
    t.match(await refusal(memberA, `${API}/organizations/${orgId}/opportunities?limit=1&cursor=${deals.page.nextCursor ?? ''}`), invalid,
      'an opportunity cursor without its stage')
    t.match(await refusal(memberA, `${API}/organizations/${orgId}/contacts?sort=name`), { statusCode: 400, code: 'VALIDATION_ERROR' },
      'the lists under an organization have one order')
  })

  await t.test('a walk while others insert and delete never repeats a row nor skips one that stayed', async (t) => {
    const before = await contactOrder()
    const deleted = new Set<string>()
    const walked = await walk(memberA, `${API}/organizations/${orgId}/contacts?limit=3`, async (pageNo) => {
      // New contacts (newest, so before the cursor) and deletions of rows on both sides of it.
      const created = await as(app, memberA, { method: 'POST', url: `${API}/organizations/${orgId}/contacts`, payload: { firstName: `New${pageNo}`, lastName: 'N' } })
      t.equal(created.statusCode, 201)
      const victim = before[(pageNo * 7 + 5) % before.length]!
      if (!deleted.has(victim)) {
        t.equal((await as(app, memberA, { method: 'DELETE', url: `${API}/contacts/${victim}` })).statusCode, 204)
        deleted.add(victim)
      }
    })
    t.equal(new Set(walked).size, walked.length, 'no row twice')
    const stayed = before.filter((id) => !deleted.has(id))
    t.same(walked.filter((id) => stayed.includes(id)), stayed, 'every row that stayed, in order')
    t.ok(walked.every((id) => before.includes(id)), 'rows inserted after the walk began sort before its cursor')
  })

  await t.test('count=exact and count=estimated', async (t) => {
    const live = (await contactOrder()).length
    t.match((await list(memberA, `${API}/organizations/${orgId}/contacts?limit=2&count=exact`)).page, { total: live, hasMore: true })
    t.notOk('totalIsEstimate' in (await list(memberA, `${API}/organizations/${orgId}/contacts?count=exact`)).page)
    t.match((await list(memberA, `${API}/organizations/${orgId}/contacts?count=estimated`)).page, { total: live, totalIsEstimate: false },
      'exact while counting reads at most 10,000 rows')
    t.notOk('total' in (await list(memberA, `${API}/organizations/${orgId}/contacts`)).page, 'no total unless asked')
    t.match((await list(memberA, `${API}/organizations/${orgId}/opportunities?stage=proposal&count=exact`)).page, { total: 4 }, 'through the filter')
    t.match((await list(memberA, `${API}/organizations/${orgId}/interactions?since=2026-02-01T04:00:00Z&count=estimated`)).page,
      { total: 3, totalIsEstimate: false })
    t.match(await refusal(memberA, `${API}/organizations/${orgId}/contacts?count=some`), { statusCode: 400, code: 'VALIDATION_ERROR' })

    const [big] = await sql<{ id: string }>('INSERT INTO organizations (name, assigned_user_id) VALUES (\'Busy Org\', $1) RETURNING id', [memberA.id])
    await sql(`INSERT INTO interactions (organization_id, user_id, type, subject, created_at)
      SELECT $1, $2, 'email', 'Mail', now() - n * interval '1 second' FROM generate_series(1, 12000) AS n`, [big!.id, memberA.id])
    await sql('ANALYZE interactions')
    const exact = await list(memberA, `${API}/organizations/${big!.id}/interactions?limit=1&count=exact`)
    t.equal(exact.page.total, 12000)
    const estimated = await list(memberA, `${API}/organizations/${big!.id}/interactions?limit=1&count=estimated`)
    t.equal(estimated.page.totalIsEstimate, true, 'past 10,000 rows the planner estimates')
    t.ok((estimated.page.total ?? 0) > 10_000 && (estimated.page.total ?? 0) < 24_000, `a sane estimate (${String(estimated.page.total)})`)
  })

  await t.test('fields= projects the items, id always included; an unknown name is a 400', async (t) => {
    const projected = await list(memberA, `${API}/organizations/${orgId}/contacts?limit=3&fields=firstName,isPrimary`)
    t.equal(projected.data.length, 3)
    for (const item of projected.data) t.same(Object.keys(item).sort(), ['firstName', 'id', 'isPrimary'])
    const onlyId = await list(memberA, `${API}/organizations/${orgId}/interactions?limit=2&fields=id`)
    t.same(onlyId.data.map((item) => Object.keys(item)), [['id'], ['id']])
    const deals = await list(memberA, `${API}/organizations/${orgId}/opportunities?fields=stage,value`)
    t.same(deals.data[0], { id: deals.data[0]!.id, stage: 'proposal', value: '0.00' })
    const unknown = await refusal(memberA, `${API}/organizations/${orgId}/contacts?fields=firstName,salary`)
    t.match(unknown, { statusCode: 400, code: 'VALIDATION_ERROR', message: /querystring\.fields.*"salary"/ })
    t.match(await refusal(memberA, `${API}/organizations/${orgId}/contacts?fields=`), { statusCode: 400 })
  })

  await t.test('each variant is its own cache entry, and a write invalidates cursor pages like any other', async (t) => {
    const url = `${API}/organizations/${orgId}/contacts?limit=2`
    const first = await list(memberA, url)
    const cursorUrl = `${url}&cursor=${first.page.nextCursor ?? ''}`
    const miss = await as(app, memberA, { method: 'GET', url: cursorUrl })
    t.equal(miss.headers['x-cache'], 'MISS')
    t.equal((await as(app, memberA, { method: 'GET', url: cursorUrl })).headers['x-cache'], 'HIT')
    const fieldsUrl = `${cursorUrl}&fields=lastName`
    const projected = await as(app, memberA, { method: 'GET', url: fieldsUrl })
    t.equal(projected.headers['x-cache'], 'MISS', 'another variant, another entry')
    t.same(Object.keys(projected.json<Listed>().data[0]!).sort(), ['id', 'lastName'])
    const onCursorPage = miss.json<Listed>().data[0]!.id
    t.equal((await as(app, memberA, { method: 'DELETE', url: `${API}/contacts/${onCursorPage}` })).statusCode, 204)
    const after = await as(app, memberA, { method: 'GET', url: cursorUrl })
    t.equal(after.headers['x-cache'], 'MISS', 'the member\'s write invalidated the cursor page')
    t.notOk(after.json<Listed>().data.some((item) => item.id === onCursorPage), 'the deleted contact is gone from it')
  })
})
