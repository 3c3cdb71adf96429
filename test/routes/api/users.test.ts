// Users through HTTP against a real database: the caller's own record, and the
// admin-only list, create and update, with the database checked after every write.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { as, createUsers, type TestUser } from '../../helpers/api'
import { buildTestApp } from '../../helpers/app'
import { createTestDatabase, withClient } from '../../helpers/database'

const USERS = '/api/v1/users'
const KEYS = ['createdAt', 'email', 'id', 'isActive', 'name', 'role', 'updatedAt']
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

interface UserRow extends Record<string, unknown> {
  id: string
  email: string
  name: string
  role: string
  is_active: boolean
  created_at: Date
  updated_at: Date
}

t.test('users', async (t) => {
  const db = await createTestDatabase('users')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url)
  const [admin, alice, bob] = await createUsers(app, db.url, ['admin', 'member', 'member']) as [TestUser, TestUser, TestUser]
  const sql = async <R extends Record<string, unknown>>(text: string, values: unknown[] = []): Promise<R[]> =>
    await withClient(db.url, async (c) => (await c.query<R>(text, values)).rows)
  const row = async (id: string): Promise<UserRow | undefined> => (await sql<UserRow>('SELECT * FROM users WHERE id = $1', [id]))[0]
  const allRows = async (): Promise<UserRow[]> => await sql<UserRow>('SELECT * FROM users ORDER BY id')
  const userCount = async (): Promise<number> => (await sql<{ n: number }>('SELECT count(*)::int AS n FROM users'))[0]!.n

  t.test('GET /users/me: the caller, for a member and an admin', async (t) => {
    for (const user of [alice, admin]) {
      const res = await as(app, user, { method: 'GET', url: `${USERS}/me` })
      t.equal(res.statusCode, 200)
      t.match(res.headers['content-type'], /^application\/json; charset=utf-8/)
      const body = res.json()
      t.same(Object.keys(body).sort(), KEYS, 'exactly the user fields')
      const db = (await row(user.id))!
      t.same(body, {
        id: user.id,
        email: user.email,
        name: db.name,
        role: user.role,
        isActive: true,
        createdAt: db.created_at.toISOString(),
        updatedAt: db.updated_at.toISOString()
      })
      t.match(body.createdAt, ISO)
    }
    const other = await as(app, bob, { method: 'GET', url: `${USERS}/me` })
    t.equal(other.json().id, bob.id, 'each caller gets themselves')
  })

  t.test('GET /users: admin only, paged', async (t) => {
    const forbidden = await as(app, alice, { method: 'GET', url: USERS })
    t.equal(forbidden.statusCode, 403)
    t.same(forbidden.json(), { statusCode: 403, error: 'Forbidden', message: 'This endpoint is for administrators', code: 'FORBIDDEN' })

    const all = await as(app, admin, { method: 'GET', url: USERS })
    t.equal(all.statusCode, 200)
    const body = all.json()
    t.same(body.page, { limit: 50, offset: 0, hasMore: false }, 'defaults')
    const expected = await sql<{ id: string }>('SELECT id FROM users ORDER BY created_at, id')
    t.same(body.data.map((u: { id: string }) => u.id), expected.map((r) => r.id), 'every user, oldest first')
    for (const u of body.data) t.same(Object.keys(u).sort(), KEYS)
    t.match(body.data.find((u: { id: string }) => u.id === alice.id), { email: alice.email, role: 'member', isActive: true })

    const total = expected.length
    t.ok(total >= 3)
    const first = (await as(app, admin, { method: 'GET', url: `${USERS}?limit=2` })).json()
    t.same(first.page, { limit: 2, offset: 0, hasMore: true })
    t.same(first.data.map((u: { id: string }) => u.id), expected.slice(0, 2).map((r) => r.id))
    const rest = (await as(app, admin, { method: 'GET', url: `${USERS}?limit=2&offset=2` })).json()
    t.same(rest.data.map((u: { id: string }) => u.id), expected.slice(2, 4).map((r) => r.id))
    t.equal(rest.page.hasMore, total > 4)
    const exact = (await as(app, admin, { method: 'GET', url: `${USERS}?limit=${total}` })).json()
    t.same(exact.page, { limit: total, offset: 0, hasMore: false }, 'a page that ends exactly at the last row has no more')
    t.equal(exact.data.length, total)
    const past = (await as(app, admin, { method: 'GET', url: `${USERS}?offset=${total + 10}` })).json()
    t.same(past, { data: [], page: { limit: 50, offset: total + 10, hasMore: false } })

    for (const [query, message] of [['limit=0', /^querystring\.limit must be >= 1/], ['limit=201', /^querystring\.limit must be <= 200/],
      ['offset=-1', /^querystring\.offset must be >= 0/], ['limit=abc', /^querystring\.limit must be integer/], ['sort=name', /^querystring\.sort is not allowed/]] as const) {
      const res = await as(app, admin, { method: 'GET', url: `${USERS}?${query}` })
      t.equal(res.statusCode, 400, query)
      t.match(res.json(), { statusCode: 400, error: 'Bad Request', code: 'VALIDATION_ERROR', message }, query)
    }
  })

  t.test('POST /users: admin creates, email unique regardless of case', async (t) => {
    const created = await as(app, admin, { method: 'POST', url: USERS, payload: { email: 'Carol.New@Example.test', name: 'Carol New' } })
    t.equal(created.statusCode, 201)
    const carol = created.json()
    t.same(Object.keys(carol).sort(), KEYS)
    t.match(carol, { email: 'Carol.New@Example.test', name: 'Carol New', role: 'member', isActive: true }, 'role defaults to member')
    t.match(carol.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    t.equal(created.headers.location, `${USERS}/${carol.id}`)
    const stored = (await row(carol.id))!
    t.match(stored, { email: 'Carol.New@Example.test', name: 'Carol New', role: 'member', is_active: true })
    t.equal(carol.createdAt, stored.created_at.toISOString())

    const adminMade = await as(app, admin, { method: 'POST', url: USERS, payload: { email: 'dave@example.test', name: 'Dave', role: 'admin' } })
    t.equal(adminMade.statusCode, 201)
    t.equal(adminMade.json().role, 'admin')
    t.equal((await row(adminMade.json().id))!.role, 'admin')

    // The new user can be given a token and use the API.
    const token = app.signToken(carol.id)
    const me = await app.inject({ method: 'GET', url: `${USERS}/me`, headers: { authorization: `Bearer ${token}` } })
    t.equal(me.json().email, 'Carol.New@Example.test')

    const before = await allRows()
    for (const email of ['carol.new@example.test', 'CAROL.NEW@EXAMPLE.TEST', alice.email.toUpperCase()]) {
      const dup = await as(app, admin, { method: 'POST', url: USERS, payload: { email, name: 'Dup' } })
      t.equal(dup.statusCode, 409, email)
      t.same(dup.json(), { statusCode: 409, error: 'Conflict', message: 'A user with this email already exists', code: 'CONFLICT' })
    }
    t.same(await allRows(), before, 'no row added or changed')
  })

  t.test('POST /users: invalid input answers 400 naming the field, writes nothing', async (t) => {
    const before = await userCount()
    const cases: Array<[unknown, RegExp]> = [
      [{ name: 'No Email' }, /^body\.email /],
      [{ email: 'x@example.test' }, /^body\.name /],
      [{ email: 'not-an-email', name: 'X' }, /^body\.email must match format "email"/],
      [{ email: `${'a'.repeat(250)}@example.test`, name: 'X' }, /^body\.email must NOT have more than 255 characters/],
      [{ email: 42, name: 'X' }, /^body\.email /],
      [{ email: 'x@example.test', name: '' }, /^body\.name must NOT have fewer than 1 characters/],
      [{ email: 'x@example.test', name: 'n'.repeat(256) }, /^body\.name must NOT have more than 255 characters/],
      [{ email: 'x@example.test', name: 'X', role: 'owner' }, /^body\.role /],
      [{ email: 'x@example.test', name: 'X', role: 'ADMIN' }, /^body\.role /],
      [{ email: 'x@example.test', name: 'X', isAdmin: true }, /^body\.isAdmin is not allowed/],
      [{ email: 'x@example.test', name: 'X', id: randomUUID() }, /^body\.id is not allowed/],
      [{ email: 'x@example.test', name: 'X', isActive: false }, /^body\.isActive is not allowed/],
      [[], /^body /]
    ]
    for (const [payload, message] of cases) {
      const res = await as(app, admin, { method: 'POST', url: USERS, payload: payload as object })
      t.equal(res.statusCode, 400, JSON.stringify(payload).slice(0, 80))
      t.match(res.json(), { statusCode: 400, error: 'Bad Request', code: 'VALIDATION_ERROR', message }, JSON.stringify(payload).slice(0, 80))
    }
    t.equal(await userCount(), before, 'nothing was created')

    const member = await as(app, alice, { method: 'POST', url: USERS, payload: { email: 'sneaky@example.test', name: 'Sneaky' } })
    t.equal(member.statusCode, 403)
    t.equal(member.json().code, 'FORBIDDEN')
    t.equal(await userCount(), before, 'a member creates nobody')
  })

  t.test('PATCH /users/:id: name, role, isActive', async (t) => {
    const [target] = await createUsers(app, db.url, ['member']) as [TestUser]
    const original = (await row(target.id))!

    const renamed = await as(app, admin, { method: 'PATCH', url: `${USERS}/${target.id}`, payload: { name: 'Renamed Person' } })
    t.equal(renamed.statusCode, 200)
    t.same(Object.keys(renamed.json()).sort(), KEYS)
    t.match(renamed.json(), { id: target.id, email: target.email, name: 'Renamed Person', role: 'member', isActive: true })
    const afterRename = (await row(target.id))!
    t.match(afterRename, { name: 'Renamed Person', email: target.email, role: 'member', is_active: true })
    t.ok(afterRename.updated_at > original.updated_at, 'updated_at moves forward')
    t.equal(afterRename.created_at.toISOString(), original.created_at.toISOString(), 'created_at stays')
    t.equal(renamed.json().updatedAt, afterRename.updated_at.toISOString())

    const promoted = await as(app, admin, { method: 'PATCH', url: `${USERS}/${target.id}`, payload: { role: 'admin' } })
    t.equal(promoted.statusCode, 200)
    t.equal(promoted.json().role, 'admin')
    t.equal((await row(target.id))!.role, 'admin')
    t.equal((await as(app, target, { method: 'GET', url: USERS })).statusCode, 200, 'the promotion applies to the token already issued')

    const both = await as(app, admin, { method: 'PATCH', url: `${USERS}/${target.id}`, payload: { role: 'member', isActive: false, email: 'Moved.Target@Example.test' } })
    t.equal(both.statusCode, 200)
    t.match(both.json(), { role: 'member', isActive: false, email: 'Moved.Target@Example.test', name: 'Renamed Person' })
    t.match(await row(target.id), { role: 'member', is_active: false, email: 'Moved.Target@Example.test', name: 'Renamed Person' })
    t.equal((await as(app, target, { method: 'GET', url: `${USERS}/me` })).statusCode, 401, 'deactivated: the token stops working')

    const back = await as(app, admin, { method: 'PATCH', url: `${USERS}/${target.id}`, payload: { isActive: true } })
    t.equal(back.statusCode, 200)
    t.equal((await row(target.id))!.is_active, true)
    t.equal((await as(app, target, { method: 'GET', url: `${USERS}/me` })).statusCode, 200, 'reactivated: the token works again')

    // The admin may change their own name and email, and "set" their own role to admin.
    const self = await as(app, admin, { method: 'PATCH', url: `${USERS}/${admin.id}`, payload: { name: 'Chief Admin', role: 'admin', isActive: true } })
    t.equal(self.statusCode, 200)
    t.match(await row(admin.id), { name: 'Chief Admin', role: 'admin', is_active: true })
  })

  t.test('PATCH /users/:id: refusals leave the database unchanged', async (t) => {
    const [other] = await createUsers(app, db.url, ['member']) as [TestUser]
    const cases: Array<[string, string, unknown, number, string, RegExp]> = [
      ['unknown id', randomUUID(), { name: 'Nobody' }, 404, 'NOT_FOUND', /^User not found$/],
      ['id not a UUID', 'not-a-uuid', { name: 'X' }, 400, 'VALIDATION_ERROR', /^params\.id /],
      ['email of another user, other case', other.id, { email: alice.email.toUpperCase() }, 409, 'CONFLICT', /already exists/],
      ['deactivating oneself', admin.id, { isActive: false }, 409, 'CONFLICT', /cannot deactivate or demote your own account/],
      ['demoting oneself', admin.id, { role: 'member' }, 409, 'CONFLICT', /cannot deactivate or demote your own account/],
      ['demoting oneself along with a rename', admin.id, { role: 'member', name: 'Not Applied' }, 409, 'CONFLICT', /own account/],
      ['deactivating oneself by an upper-case id', admin.id.toUpperCase(), { isActive: false }, 409, 'CONFLICT', /own account/],
      ['demoting oneself by an upper-case id', admin.id.toUpperCase(), { role: 'member' }, 409, 'CONFLICT', /own account/],
      ['empty body', other.id, {}, 400, 'VALIDATION_ERROR', /^body must NOT have fewer than 1 properties/],
      ['unknown property', other.id, { name: 'X', password: 'hunter2' }, 400, 'VALIDATION_ERROR', /^body\.password is not allowed/],
      ['bad role', other.id, { role: 'root' }, 400, 'VALIDATION_ERROR', /^body\.role /],
      ['bad email', other.id, { email: 'nope' }, 400, 'VALIDATION_ERROR', /^body\.email must match format "email"/],
      ['empty name', other.id, { name: '' }, 400, 'VALIDATION_ERROR', /^body\.name must NOT have fewer than 1 characters/],
      ['isActive not a boolean', other.id, { isActive: 'maybe' }, 400, 'VALIDATION_ERROR', /^body\.isActive must be boolean/],
      ['null name', other.id, { name: null }, 400, 'VALIDATION_ERROR', /^body\.name /]
    ]
    for (const [what, id, payload, status, code, message] of cases) {
      const before = await allRows()
      const res = await as(app, admin, { method: 'PATCH', url: `${USERS}/${id}`, payload: payload as object })
      t.equal(res.statusCode, status, `${what}: ${status}`)
      t.match(res.json(), { statusCode: status, code, message }, what)
      t.same(Object.keys(res.json()).sort(), ['code', 'error', 'message', 'statusCode'], `${what}: the error body`)
      t.same(await allRows(), before, `${what}: nothing changed in the database`)
    }
    t.equal((await as(app, admin, { method: 'GET', url: `${USERS}/me` })).json().role, 'admin', 'the admin is still an admin')

    const before = await allRows()
    const member = await as(app, alice, { method: 'PATCH', url: `${USERS}/${alice.id}`, payload: { role: 'admin' } })
    t.equal(member.statusCode, 403, 'a member cannot promote themselves')
    const memberOther = await as(app, alice, { method: 'PATCH', url: `${USERS}/${bob.id}`, payload: { isActive: false } })
    t.equal(memberOther.statusCode, 403, 'nor deactivate anyone')
    t.same(await allRows(), before, 'nothing changed')
  })

  t.test('another admin may demote or deactivate an admin', async (t) => {
    const [second] = await createUsers(app, db.url, ['admin']) as [TestUser]
    const res = await as(app, second, { method: 'PATCH', url: `${USERS}/${admin.id}`, payload: { role: 'member' } })
    t.equal(res.statusCode, 200)
    t.equal((await row(admin.id))!.role, 'member')
    t.equal((await as(app, admin, { method: 'GET', url: USERS })).statusCode, 403, 'the demoted admin lost access at once')
    const restore = await as(app, second, { method: 'PATCH', url: `${USERS}/${admin.id}`, payload: { role: 'admin' } })
    t.equal(restore.statusCode, 200)
    t.equal((await row(admin.id))!.role, 'admin')
  })
})
