// Concurrency at scale (the reliability issue): 50 clients updating one
// organization (and one contact, one opportunity) with the same If-Match
// ETag → exactly one 200 and 49 × 412 per version, the winner's write is
// what everyone reads next; 50 read-modify-write clients retrying on 412 →
// no lost update; 50 concurrent contact creates (one organization, then
// several, mixed with deletes and concurrent primaries) → every count, from
// every endpoint and from SQL, exact, and exactly one live primary.
//
// organizations.test.ts and contacts.test.ts race two writers; this file
// scales the same properties to 50, through app.inject and a real socket.
import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { as, createUsers, type TestUser } from '../helpers/api'
import { buildTestApp } from '../helpers/app'
import { createTestDatabase, withClient } from '../helpers/database'
import { checkSocketResponse } from '../helpers/openapi-oracle'

const API = '/api/v1'
const CLIENTS = 50

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)

t.test('concurrency', async (t) => {
  const db = await createTestDatabase('concurrency')
  t.teardown(db.drop)
  // Thousands of requests from one user: the per-user rate limit is not under test here.
  const app: FastifyInstance = await buildTestApp(t, db.url, { RATE_LIMIT_MAX: '1000000', DASHBOARD_REFRESH_INTERVAL_MS: '0' })
  const [admin, owner] = await createUsers(app, db.url, ['admin', 'member']) as [TestUser, TestUser]

  const sql = async <R extends Record<string, unknown>>(text: string, values: unknown[] = []): Promise<R[]> =>
    await withClient(db.url, async (c) => (await c.query<R>(text, values)).rows)
  const sqlCount = async (text: string, values: unknown[] = []): Promise<number> =>
    Number((await sql<{ n: string }>(text, values))[0]!.n)

  async function post (user: TestUser, url: string, payload: object): Promise<Record<string, any>> {
    const res = await as(app, user, { method: 'POST', url, payload })
    if (res.statusCode !== 201) throw new Error(`POST ${url}: ${res.statusCode} ${res.body}`)
    return res.json()
  }

  /** 50 PATCHes carrying the same current ETag, all in flight at once: one 200, 49 × 412, and the winner is what reads see. */
  async function raceRound (t: Test, what: string, url: string, field: string, valueOf: (client: number) => unknown,
    send: (options: { method: 'PATCH'; url: string; payload: object; headers: Record<string, string> }) => Promise<{ statusCode: number; etag: string | undefined; json: () => Record<string, any> }>,
    rowValue: () => Promise<unknown>): Promise<void> {
    const before = await as(app, owner, { method: 'GET', url })
    t.equal(before.statusCode, 200)
    const tag = before.headers.etag as string
    t.match(tag, /^"[\w-]+"$/)

    const results = await Promise.all(range(CLIENTS).map(async (i) =>
      await send({ method: 'PATCH', url, payload: { [field]: valueOf(i) }, headers: { 'if-match': tag } })))
    const codes = results.map((r) => r.statusCode)
    const winners = results.filter((r) => r.statusCode === 200)
    const losers = results.filter((r) => r.statusCode === 412)
    t.equal(winners.length, 1, `${what}: exactly one 200 (got ${JSON.stringify(countBy(codes))})`)
    t.equal(losers.length, CLIENTS - 1, `${what}: ${CLIENTS - 1} × 412`)
    t.ok(losers.every((r) => r.json().code === 'PRECONDITION_FAILED'), `${what}: every loser's body is the 412 error`)
    const winner = winners[0]!
    const won = winner.json()[field]
    t.ok(range(CLIENTS).some((i) => valueOf(i) === won), `${what}: the winner's value is one that was sent`)
    t.not(winner.etag, tag, `${what}: the winner got a new ETag`)

    t.equal(await rowValue(), won, `${what}: the database holds the winner's value`)
    const after = await as(app, owner, { method: 'GET', url })
    t.equal(after.statusCode, 200)
    t.equal(after.json()[field], won, `${what}: GET returns the winner's change`)
    t.equal(after.headers.etag, winner.etag, `${what}: GET returns the winner's ETag`)
    const adminView = await as(app, admin, { method: 'GET', url })
    t.equal(adminView.json()[field], won, `${what}: another user (another cache generation) reads the winner's change too`)
    const stale = await as(app, owner, { method: 'PATCH', url, payload: { [field]: valueOf(0) }, headers: { 'if-match': tag } })
    t.equal(stale.statusCode, 412, `${what}: the old tag stays stale`)
  }

  const inject = (user: TestUser) => async (options: { method: 'PATCH'; url: string; payload: object; headers: Record<string, string> }) => {
    const res: LightMyRequestResponse = await as(app, user, options)
    return { statusCode: res.statusCode, etag: res.headers.etag as string | undefined, json: () => res.json() }
  }

  t.test('50 PATCHes with the same If-Match: exactly one wins per version', async (t) => {
    const org = await post(owner, `${API}/organizations`, { name: 'Contended Org' })
    const orgUrl = `${API}/organizations/${org.id as string}`
    const orgName = async (): Promise<unknown> => (await sql('SELECT name FROM organizations WHERE id = $1', [org.id]))[0]!.name
    for (let round = 0; round < 3; round++) {
      await raceRound(t, `organization round ${round}`, orgUrl, 'name', (i) => `Round ${round} client ${i}`, inject(owner), orgName)
    }

    // Over real sockets: 50 HTTP connections at once.
    await app.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
    const overHttp = async (options: { method: 'PATCH'; url: string; payload: object; headers: Record<string, string> }) => {
      const res = await fetch(`${base}${options.url}`, {
        method: options.method,
        headers: { ...options.headers, ...owner.headers, 'content-type': 'application/json' },
        body: JSON.stringify(options.payload)
      })
      const bytes = Buffer.from(await res.arrayBuffer())
      checkSocketResponse(app, { method: options.method, url: options.url, statusCode: res.status, headers: { ...Object.fromEntries(res.headers), 'content-encoding': undefined }, body: bytes }) // fetch has decoded the body
      const body = JSON.parse(bytes.toString('utf8')) as Record<string, any>
      return { statusCode: res.status, etag: res.headers.get('etag') ?? undefined, json: () => body }
    }
    await raceRound(t, 'organization over sockets', orgUrl, 'name', (i) => `Socket client ${i}`, overHttp, orgName)

    const contact = await post(owner, `${API}/organizations/${org.id as string}/contacts`, { firstName: 'Many', lastName: 'Writers' })
    await raceRound(t, 'contact', `${API}/contacts/${contact.id as string}`, 'title', (i) => `Title ${i}`, inject(owner),
      async () => (await sql('SELECT title FROM contacts WHERE id = $1', [contact.id]))[0]!.title)
    const opportunity = await post(owner, `${API}/organizations/${org.id as string}/opportunities`, { name: 'Deal', value: '10.00' })
    await raceRound(t, 'opportunity', `${API}/opportunities/${opportunity.id as string}`, 'value', (i) => `${1000 + i}.00`, inject(owner),
      async () => (await sql<{ v: string }>('SELECT value::text AS v FROM opportunities WHERE id = $1', [opportunity.id]))[0]!.v)
  })

  t.test('50 read-modify-write clients retrying on 412: no lost update', async (t) => {
    const org = await post(owner, `${API}/organizations`, { name: 'Counter Org', annualRevenue: 0, website: 'w' })
    const url = `${API}/organizations/${org.id as string}`
    const attempts: number[] = []
    const unexpected: string[] = []
    await Promise.all(range(CLIENTS).map(async (client) => {
      for (let attempt = 1; attempt <= 500; attempt++) {
        // Half the clients read as the owner and half as an admin: two cache generations.
        const reader = client % 2 === 0 ? owner : admin
        const read = await as(app, reader, { method: 'GET', url })
        if (read.statusCode !== 200) { unexpected.push(`GET ${read.statusCode}`); continue }
        const current = read.json()
        const res = await as(app, owner, {
          method: 'PATCH',
          url,
          headers: { 'if-match': read.headers.etag as string },
          payload: { annualRevenue: (current.annualRevenue as number) + 1, website: `${current.website as string}|${client}` }
        })
        if (res.statusCode === 200) { attempts.push(attempt); return }
        if (res.statusCode !== 412) unexpected.push(`PATCH ${res.statusCode} ${res.body}`)
        // Randomized backoff growing with the attempts, as a real client would.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(25 * attempt, 250)))
      }
      unexpected.push(`client ${client} never succeeded`)
    }))
    t.same(unexpected, [], 'only 200s and 412s, and every client eventually succeeded')
    t.equal(attempts.length, CLIENTS, 'every client succeeded exactly once')
    t.ok(attempts.some((n) => n > 1), `there was contention: ${attempts.reduce((a, b) => a + b, 0)} attempts for ${CLIENTS} increments`)

    const [row] = await sql<{ annual_revenue: string; website: string }>('SELECT annual_revenue, website FROM organizations WHERE id = $1', [org.id])
    t.equal(row!.annual_revenue, String(CLIENTS), 'annualRevenue = 0 + 50 increments: none lost')
    const appended = row!.website.split('|').slice(1).map(Number).sort((a, b) => a - b)
    t.same(appended, range(CLIENTS), 'every client\'s append is there exactly once')
    for (const user of [owner, admin]) {
      const res = await as(app, user, { method: 'GET', url })
      t.equal(res.json().annualRevenue, CLIENTS, `${user.role} reads the final value through the API`)
      t.equal(res.json().website, row!.website)
    }
  })

  t.test('50 concurrent contact creates: every count exact, one live primary', async (t) => {
    const orgName = 'Crowded Org'
    const org = await post(owner, `${API}/organizations`, { name: orgName })
    const orgId = org.id as string
    const contactsUrl = `${API}/organizations/${orgId}/contacts`
    // Warm the caches so that stale entries would show.
    t.equal((await as(app, owner, { method: 'GET', url: `${contactsUrl}?limit=200` })).json().data.length, 0)
    t.equal((await as(app, owner, { method: 'GET', url: `${API}/organizations/${orgId}` })).json().contactCount, 0)

    const primaries = new Set(range(CLIENTS).filter((i) => i % 5 === 0)) // 10 of the 50 ask to be the primary
    const created = await Promise.all(range(CLIENTS).map(async (i) =>
      await as(app, i % 3 === 0 ? admin : owner, { method: 'POST', url: contactsUrl, payload: { firstName: `Crowd${i}`, lastName: 'Member', ...(primaries.has(i) ? { isPrimary: true } : {}) } })))
    t.same(countBy(created.map((r) => r.statusCode)), { 201: CLIENTS }, 'all 50 created')
    const ids = created.map((r) => r.json().id as string)
    t.equal(new Set(ids).size, CLIENTS, '50 distinct ids')

    await expectContactCounts(t, orgId, orgName, ids, primaries, created)
  })

  t.test('50 concurrent creates over five organizations, with deletes and reads in flight', async (t) => {
    const orgs = await Promise.all(range(5).map(async (k) => await post(owner, `${API}/organizations`, { name: `Spread Org ${k}` })))
    // Ten contacts to delete while the creates run, two per organization.
    const doomed: string[][] = []
    for (const org of orgs) {
      doomed.push([
        (await post(owner, `${API}/organizations/${org.id as string}/contacts`, { firstName: 'Doomed', lastName: 'A' })).id,
        (await post(owner, `${API}/organizations/${org.id as string}/contacts`, { firstName: 'Doomed', lastName: 'B', isPrimary: true })).id
      ])
    }
    const primariesOf = new Map<number, Set<number>>()
    const writes = range(CLIENTS).map(async (i) => {
      const k = i % orgs.length
      const isPrimary = i % 4 === 0
      if (isPrimary) primariesOf.set(k, (primariesOf.get(k) ?? new Set()).add(i))
      return await as(app, i % 2 === 0 ? owner : admin, { method: 'POST', url: `${API}/organizations/${orgs[k]!.id as string}/contacts`, payload: { firstName: `Spread${i}`, lastName: `Org${k}`, isPrimary } })
    })
    const deletes = doomed.flat().map(async (id) => await as(app, owner, { method: 'DELETE', url: `${API}/contacts/${id}` }))
    // Readers during the writes: whatever they see, they must never be served stale data afterwards.
    const reads = range(20).map(async (i) => await as(app, owner, { method: 'GET', url: `${API}/organizations/${orgs[i % orgs.length]!.id as string}` }))
    const [created, deleted, read] = await Promise.all([Promise.all(writes), Promise.all(deletes), Promise.all(reads)])
    t.same(countBy(created.map((r) => r.statusCode)), { 201: CLIENTS })
    t.same(countBy(deleted.map((r) => r.statusCode)), { 204: doomed.flat().length })
    t.same(countBy(read.map((r) => r.statusCode)), { 200: read.length })

    for (const [k, org] of orgs.entries()) {
      const mine = created.filter((r) => r.json().organizationId === org.id)
      t.equal(mine.length, CLIENTS / orgs.length, `organization ${k}: 10 created`)
      const primaries = new Set(mine.filter((r) => r.json().isPrimary === true).map((r) => Number(/^Spread(\d+)$/.exec(r.json().firstName as string)![1])))
      t.same([...primaries].sort(), [...(primariesOf.get(k) ?? [])].sort(), `organization ${k}: the primary requests`)
      await expectContactCounts(t, org.id as string, `Spread Org ${k}`, mine.map((r) => r.json().id as string), primaries, mine)
    }
    const all = await sqlCount('SELECT count(*) AS n FROM contacts WHERE NOT is_deleted AND organization_id = ANY($1::uuid[])', [orgs.map((o) => o.id)])
    t.equal(all, CLIENTS, 'the 50 new contacts, the 10 deleted ones gone')
  })

  t.test('50 If-Match PATCHes queued behind a busy pool: still one 200 and 49 × 412, never a 500', async (t) => {
    // Two connections, both held for longer than Prisma's default 2 s wait
    // for a transaction to start (and less than DATABASE_CONNECT_TIMEOUT_MS):
    // every PATCH waits for the pool, then they serialize on the row lock.
    const small = await buildTestApp(t, db.url, { RATE_LIMIT_MAX: '1000000', DASHBOARD_REFRESH_INTERVAL_MS: '0', DATABASE_POOL_SIZE: '2', DATABASE_CONNECT_TIMEOUT_MS: '6000' })
    const org = (await as(small, owner, { method: 'POST', url: `${API}/organizations`, payload: { name: 'Queued Org' } })).json()
    const url = `${API}/organizations/${org.id as string}`
    const tag = (await as(small, owner, { method: 'GET', url })).headers.etag as string
    const held = [small.db.pool.query('SELECT pg_sleep(2.5)'), small.db.pool.query('SELECT pg_sleep(2.5)')]
    while (small.db.metrics().idleConnections > 0 || small.db.metrics().totalConnections < 2) await new Promise((resolve) => setTimeout(resolve, 10))
    const results = await Promise.all(range(CLIENTS).map(async (i) =>
      await as(small, owner, { method: 'PATCH', url, payload: { name: `Queued ${i}` }, headers: { 'if-match': tag } })))
    await Promise.all(held)
    t.same(countBy(results.map((r) => r.statusCode)), { 200: 1, 412: CLIENTS - 1 }, 'one 200, 49 × 412: waiting for a connection is not an error')
    const winner = results.find((r) => r.statusCode === 200)?.json().name
    t.same(await sql('SELECT name FROM organizations WHERE id = $1', [org.id]), [{ name: winner }], 'the winner\'s write is in the database')

    // Past DATABASE_CONNECT_TIMEOUT_MS the answer is the contract's 503 with Retry-After, and nothing is written.
    const tight = await buildTestApp(t, db.url, { RATE_LIMIT_MAX: '1000000', DASHBOARD_REFRESH_INTERVAL_MS: '0', DATABASE_POOL_SIZE: '1', DATABASE_POOL_MIN: '1', DATABASE_CONNECT_TIMEOUT_MS: '300' })
    t.equal((await as(tight, owner, { method: 'GET', url })).statusCode, 200)
    const blocker = tight.db.pool.query('SELECT pg_sleep(1)')
    while (tight.db.metrics().idleConnections > 0) await new Promise((resolve) => setTimeout(resolve, 10))
    const shed = await Promise.all(range(5).map(async (i) => await as(tight, owner, { method: 'PATCH', url, payload: { name: `Shed ${i}` }, headers: { 'if-match': '*' } })))
    await blocker
    t.same(countBy(shed.map((r) => r.statusCode)), { 503: 5 }, 'an exhausted pool: 503')
    t.ok(shed.every((r) => r.headers['retry-after'] === '5' && r.json().code === 'DATABASE_UNAVAILABLE'))
    t.same(await sql('SELECT name FROM organizations WHERE id = $1', [org.id]), [{ name: winner }], 'nothing was written')
  })

  /**
   * The organization's live contacts are exactly `ids`, seen the same by the
   * nested list (one page and paged), the organization's contactCount (GET
   * by id and the listing function), the dashboard after a refresh and
   * direct SQL; exactly one of them is the primary, one that asked to be.
   */
  async function expectContactCounts (
    t: Test,
    orgId: string,
    orgName: string,
    ids: string[],
    askedPrimary: Set<number>,
    created: LightMyRequestResponse[]
  ): Promise<void> {
    const n = ids.length
    const expectedIds = [...ids].sort()
    t.equal(await sqlCount('SELECT count(*) AS n FROM contacts WHERE organization_id = $1 AND NOT is_deleted', [orgId]), n, `SQL: ${n} live contacts`)
    t.same((await sql<{ id: string }>('SELECT id FROM contacts WHERE organization_id = $1 AND NOT is_deleted ORDER BY id', [orgId])).map((r) => r.id), expectedIds, 'SQL: exactly the created ids')

    for (const user of [owner, admin]) {
      const list = await as(app, user, { method: 'GET', url: `${API}/organizations/${orgId}/contacts?limit=200` })
      t.equal(list.statusCode, 200)
      t.same(list.json().data.map((c: { id: string }) => c.id).sort(), expectedIds, `${user.role}: the list holds exactly the created contacts`)
      t.equal(list.json().page.hasMore, false)
      const paged: string[] = []
      for (let offset = 0; ; offset += 7) {
        const page = (await as(app, user, { method: 'GET', url: `${API}/organizations/${orgId}/contacts?limit=7&offset=${offset}` })).json()
        paged.push(...page.data.map((c: { id: string }) => c.id))
        if (page.page.hasMore !== true) break
      }
      t.same([...paged].sort(), expectedIds, `${user.role}: pages of 7 cover every contact once`)
      t.equal(new Set(paged).size, n, 'no contact on two pages')
      const livePrimaries = list.json().data.filter((c: { isPrimary: boolean }) => c.isPrimary)
      t.equal(livePrimaries.length, 1, `${user.role}: exactly one primary in the list`)

      const byId = await as(app, user, { method: 'GET', url: `${API}/organizations/${orgId}` })
      t.equal(byId.json().contactCount, n, `${user.role}: contactCount on GET by id`)
      const listed = (await as(app, user, { method: 'GET', url: `${API}/organizations?search=${encodeURIComponent(orgName)}&limit=200` })).json()
      const item = listed.data.find((o: { id: string }) => o.id === orgId)
      t.equal(item?.contactCount, n, `${user.role}: contactCount in the listing`)
    }

    const primaryRows = await sql<{ id: string; first_name: string }>('SELECT id, first_name FROM contacts WHERE organization_id = $1 AND is_primary AND NOT is_deleted', [orgId])
    t.equal(primaryRows.length, 1, 'SQL: exactly one live primary')
    t.equal(await sqlCount('SELECT count(*) AS n FROM contacts WHERE organization_id = $1 AND is_primary', [orgId]), 1, 'SQL: no deleted primary either')
    const winner = Number(/(\d+)$/.exec(primaryRows[0]!.first_name)![1])
    t.ok(askedPrimary.has(winner), 'the primary is one of the contacts created with isPrimary: true')
    const winnerResponse = created.find((r) => r.json().id === primaryRows[0]!.id)
    t.equal(winnerResponse?.json().isPrimary, true)
    const api = await as(app, owner, { method: 'GET', url: `${API}/contacts/${primaryRows[0]!.id}` })
    t.equal(api.json().isPrimary, true, 'the API agrees on the primary')

    const refresh = await as(app, admin, { method: 'POST', url: `${API}/admin/dashboard/refresh` })
    t.equal(refresh.statusCode, 200)
    const dashboard = (await as(app, owner, { method: 'GET', url: `${API}/dashboard` })).json()
    const ownerContacts = await sqlCount('SELECT count(*) AS n FROM contacts c JOIN organizations o ON o.id = c.organization_id WHERE o.assigned_user_id = $1 AND NOT o.is_deleted AND NOT c.is_deleted', [owner.id])
    t.equal(dashboard.totalContacts, ownerContacts, 'the dashboard\'s totalContacts equals SQL after a refresh')
  }
})

function countBy (values: number[]): Record<number, number> {
  const counts: Record<number, number> = {}
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1
  return counts
}
