// Contract §6 on GET /organizations: three sorts, keyset cursors bound to
// their list, walks that neither repeat nor skip rows while others insert,
// delete and re-sort, count=, and fields= that leaves counts uncomputed.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildTestApp } from '../../helpers/app'
import { createTestDatabase, withClient } from '../../helpers/database'
import { as, createUsers, type TestUser } from '../../helpers/api'

const ORGS = '/api/v1/organizations'

interface Page { limit: number, offset: number, hasMore: boolean, nextCursor?: string, total?: number, totalIsEstimate?: boolean }
interface Listed { data: Array<Record<string, unknown> & { id: string }>, page: Page }

const ORDER_BY = {
  priority: 'priority_level, created_at DESC, id',
  name: 'lower(name), id',
  '-updatedAt': 'updated_at DESC, id'
} as const
type Sort = keyof typeof ORDER_BY
const SORTS = Object.keys(ORDER_BY) as Sort[]

t.test('organization list: sorts, cursors, counts and fields', async (t) => {
  const db = await createTestDatabase('org_list_scale')
  t.teardown(db.drop)
  const app: FastifyInstance = await buildTestApp(t, db.url)
  const [admin, alice, bob] = await createUsers(app, db.url, ['admin', 'member', 'member']) as [TestUser, TestUser, TestUser]
  const sql = async <R extends object = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<R[]> =>
    await withClient(db.url, async (client) => (await client.query<R>(text, params)).rows)

  // Names in mixed case, priorities, industries, creation and update times with ties to the microsecond.
  for (const [owner, count] of [[alice, 40], [bob, 15]] as const) {
    await sql(`INSERT INTO organizations (name, priority_level, industry_segment, assigned_user_id, created_at, updated_at)
      SELECT (ARRAY['acme', 'Beta', 'cobalt', 'Delta', 'echo'])[n % 5 + 1] || ' ' || (n % 7),
             (ARRAY['A', 'B', 'C', 'D'])[n % 4 + 1]::priority_level, (ARRAY['tech', 'retail'])[n % 2 + 1], $1,
             timestamp '2026-03-01 00:00:00.000001+00' + (n / 3) * interval '1 minute',
             timestamp '2026-05-01 00:00:00.000001+00' + (n % 11) * interval '1 hour'
      FROM generate_series(1, $2) AS n`, [owner.id, count])
  }
  const expected = async (sort: Sort, where = '', params: unknown[] = []): Promise<string[]> => (await sql<{ id: string }>(
    `SELECT id FROM organizations WHERE NOT is_deleted ${where} ORDER BY ${ORDER_BY[sort]}`, params)).map((row) => row.id)
  const list = async (user: TestUser, url: string): Promise<Listed> => {
    const res = await as(app, user, { method: 'GET', url })
    t.equal(res.statusCode, 200, `GET ${url}`)
    return res.json<Listed>()
  }
  const walk = async (user: TestUser, url: string, between: (pageNo: number, ids: string[]) => Promise<void> = async () => {}): Promise<string[]> => {
    const ids: string[] = []
    let next: string | undefined
    for (let pageNo = 0; pageNo < 500; pageNo++) {
      const page = await list(user, next === undefined ? url : `${url}&cursor=${next}`)
      ids.push(...page.data.map((item) => item.id))
      next = page.page.nextCursor
      if (next === undefined) return ids
      await between(pageNo, ids)
    }
    throw new Error('walk did not end')
  }

  await t.test('each sort orders as the contract says, by offset and by cursor, for a member and an admin', async (t) => {
    for (const sort of SORTS) {
      const mine = await expected(sort, 'AND assigned_user_id = $1', [alice.id])
      t.same(await walk(alice, `${ORGS}?sort=${sort}&limit=6`), mine, `member, sort=${sort}, by cursor`)
      const byOffset: string[] = []
      for (let offset = 0; offset < mine.length; offset += 9) {
        byOffset.push(...(await list(alice, `${ORGS}?sort=${encodeURIComponent(sort)}&limit=9&offset=${offset}`)).data.map((item) => item.id))
      }
      t.same(byOffset, mine, `member, sort=${sort}, by offset`)
      t.same(await walk(admin, `${ORGS}?sort=${sort}&limit=8`), await expected(sort), `admin, sort=${sort}, by cursor`)
      t.same(await walk(admin, `${ORGS}?sort=${sort}&limit=4&industrySegment=retail&priorityLevel=B`),
        await expected(sort, 'AND industry_segment = \'retail\' AND priority_level = \'B\''), `admin, sort=${sort}, filtered`)
      t.same(await walk(alice, `${ORGS}?sort=${sort}&limit=3&search=ETA`),
        await expected(sort, 'AND assigned_user_id = $1 AND name ILIKE \'%eta%\'', [alice.id]), `member, sort=${sort}, search`)
    }
    t.same((await list(alice, `${ORGS}?limit=100`)).data.map((item) => item.id), await expected('priority', 'AND assigned_user_id = $1', [alice.id]),
      'sort=priority is the default')
  })

  await t.test('a cursor belongs to its user, filters and sort', async (t) => {
    const first = await list(admin, `${ORGS}?limit=2&industrySegment=tech&assignedUserId=${alice.id}`)
    const cursor = first.page.nextCursor ?? ''
    const refused = async (user: TestUser, query: string): Promise<unknown> => (await as(app, user, { method: 'GET', url: `${ORGS}?${query}` })).json()
    const invalid = { statusCode: 400, code: 'INVALID_CURSOR' }
    t.equal((await list(admin, `${ORGS}?limit=2&industrySegment=tech&assignedUserId=${alice.id}&cursor=${cursor}`)).data.length, 2)
    t.match(await refused(admin, `industrySegment=tech&cursor=${cursor}`), invalid, 'without assignedUserId')
    t.match(await refused(admin, `industrySegment=retail&assignedUserId=${alice.id}&cursor=${cursor}`), invalid, 'another industry')
    t.match(await refused(admin, `industrySegment=tech&assignedUserId=${alice.id}&sort=name&cursor=${cursor}`), invalid, 'another sort')
    t.match(await refused(alice, `industrySegment=tech&assignedUserId=${alice.id}&cursor=${cursor}`), invalid, 'another user, same rows')
    const nameCursor = (await list(alice, `${ORGS}?limit=2&sort=name`)).page.nextCursor ?? ''
    t.match(await refused(alice, `sort=-updatedAt&cursor=${nameCursor}`), invalid, 'a name cursor on another sort')
    t.match(await refused(alice, `sort=name&cursor=${nameCursor}&offset=4`), { statusCode: 400, code: 'VALIDATION_ERROR' })
    t.match(await refused(alice, 'sort=size'), { statusCode: 400, code: 'VALIDATION_ERROR', message: /querystring\.sort/ })
  })

  await t.test('walks while others insert, delete and re-sort: no row twice, none that kept its key skipped', async (t) => {
    for (const sort of SORTS) {
      const before = await expected(sort, 'AND assigned_user_id = $1', [alice.id])
      const moved = new Set<string>()
      const deleted = new Set<string>()
      const walked = await walk(alice, `${ORGS}?sort=${sort}&limit=5`, async (pageNo, seen) => {
        const patch = async (id: string, payload: Record<string, unknown>): Promise<void> => {
          t.equal((await as(app, alice, { method: 'PATCH', url: `${ORGS}/${id}`, payload })).statusCode, 200)
        }
        // A row already shown moves to the end of the order, one not yet shown to the front.
        const shown = seen[pageNo % seen.length]!
        const ahead = before.find((id) => !seen.includes(id) && !moved.has(id) && !deleted.has(id))
        const toEnd = { priority: { priorityLevel: 'D' }, name: { name: `zz ${pageNo}` }, '-updatedAt': { name: `touched ${pageNo}` } }[sort]
        if (sort !== '-updatedAt') {
          await patch(shown, toEnd)
          moved.add(shown)
        }
        if (ahead !== undefined) {
          await patch(ahead, { priority: { priorityLevel: 'A' }, name: { name: 'AAA first' }, '-updatedAt': { primaryPhone: `+1 ${pageNo}` } }[sort])
          moved.add(ahead)
        }
        // A change that keeps the sort key (for sorts other than -updatedAt), a new row and a deletion.
        const unmovedAhead = before.filter((id) => !seen.includes(id) && !moved.has(id) && !deleted.has(id))
        if (sort !== '-updatedAt' && unmovedAhead[1] !== undefined) await patch(unmovedAhead[1], { primaryPhone: `+2 ${pageNo}` })
        t.equal((await as(app, alice, { method: 'POST', url: ORGS, payload: { name: `New ${sort} ${pageNo}`, priorityLevel: 'B' } })).statusCode, 201)
        const victim = unmovedAhead[unmovedAhead.length - 1]
        if (victim !== undefined && unmovedAhead.length > 3) {
          t.equal((await as(app, alice, { method: 'DELETE', url: `${ORGS}/${victim}` })).statusCode, 204)
          deleted.add(victim)
        }
      })
      t.equal(new Set(walked).size, walked.length, `sort=${sort}: no row twice`)
      const kept = before.filter((id) => !moved.has(id) && !deleted.has(id))
      t.same(walked.filter((id) => kept.includes(id)), kept, `sort=${sort}: every row that kept its key, in order`)
      t.ok(moved.size > 3, `sort=${sort}: rows were re-sorted during the walk (${moved.size})`)
    }
  })

  await t.test('count=exact and count=estimated follow the scope and the filters', async (t) => {
    const [{ n: mine }] = await sql<{ n: number }>('SELECT count(*)::int AS n FROM organizations WHERE NOT is_deleted AND assigned_user_id = $1', [alice.id]) as [{ n: number }]
    t.match((await list(alice, `${ORGS}?limit=1&count=exact`)).page, { total: mine, hasMore: true })
    t.match((await list(alice, `${ORGS}?count=estimated`)).page, { total: mine, totalIsEstimate: false })
    const [{ n: retail }] = await sql<{ n: number }>('SELECT count(*)::int AS n FROM organizations WHERE NOT is_deleted AND industry_segment = \'retail\'') as [{ n: number }]
    t.match((await list(admin, `${ORGS}?industrySegment=retail&count=exact`)).page, { total: retail })
    t.notOk('total' in (await list(admin, ORGS)).page, 'no total unless asked')
  })

  await t.test('fields= projects the items, and counts not asked for are not computed', async (t) => {
    const projected = await list(alice, `${ORGS}?limit=5&fields=name,priorityLevel`)
    for (const item of projected.data) t.same(Object.keys(item).sort(), ['id', 'name', 'priorityLevel'])
    const counted = await list(alice, `${ORGS}?limit=2&fields=contactCount`)
    t.same(Object.keys(counted.data[0]!).sort(), ['contactCount', 'id'])
    t.match((await as(app, alice, { method: 'GET', url: `${ORGS}?fields=name,revenue` })).json(),
      { statusCode: 400, code: 'VALIDATION_ERROR', message: /querystring\.fields.*"revenue"/ })
    // With the child tables locked against every reader, only a list that reads none of them can answer.
    await withClient(db.url, async (client) => {
      await client.query('BEGIN')
      await client.query('LOCK TABLE contacts, interactions, opportunities IN ACCESS EXCLUSIVE MODE')
      try {
        const res = await as(app, alice, { method: 'GET', url: `${ORGS}?limit=5&fields=name,createdAt&sort=name` })
        t.equal(res.statusCode, 200, 'a list without counts never touches contacts, interactions or opportunities')
      } finally {
        await client.query('ROLLBACK')
      }
    })
  })
})
