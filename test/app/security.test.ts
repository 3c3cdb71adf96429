// Security (contract §2, §4): forged tokens are refused; a member can never
// read, list, count, change or infer another member's rows through any
// endpoint, filter, search, cache entry or ETag; and neither error bodies nor
// log lines carry secrets, SQL or the values a client submitted.
//
// test/auth.test.ts already refuses: a missing or malformed header, another
// secret, a tampered payload, expired tokens, alg none (unsigned and with an
// HS256 signature), HS512, an HS256 header over an HS512 signature, a missing
// or non-string or non-UUID sub, unknown and inactive users. This file adds
// the other algorithms (HS384, RS256/PS256/ES256/EdDSA with real key pairs,
// the RS256→HS256 key-confusion trick, an embedded jwk), alg none spelt
// otherwise, an empty secret, nbf in the future, and tokens outside the
// Authorization header.
import { createHmac, generateKeyPairSync, randomUUID, sign as cryptoSign, constants, type KeyObject } from 'node:crypto'
import { Writable } from 'node:stream'
import pino from 'pino'
import t, { type Test } from 'tap'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { buildApp, loggerOptions } from '../../src/app'
import { as, createUsers, type TestUser } from '../helpers/api'
import { buildTestApp, closeOnTeardown, testConfig } from '../helpers/app'
import { withOracle } from '../helpers/openapi-oracle'
import { createTestDatabase, withClient } from '../helpers/database'

const API = '/api/v1'
const now = (): number => Math.floor(Date.now() / 1000)
const b64 = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A JWT with any header, signed by `signer` over "header.payload" (null: no signature). */
function jwt (header: object, payload: object, signer: ((input: string) => Buffer) | null): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${signer === null ? '' : signer(input).toString('base64url')}`
}
const hmac = (algorithm: 'sha256' | 'sha384' | 'sha512', secret: string | Buffer) => (input: string): Buffer => createHmac(algorithm, secret).update(input).digest()

t.test('security', async (t) => {
  const db = await createTestDatabase('security')
  t.teardown(db.drop)
  const app: FastifyInstance = await buildTestApp(t, db.url, { RATE_LIMIT_MAX: '1000000', DASHBOARD_REFRESH_INTERVAL_MS: '0' })
  const secret = testConfig(db.url).jwtSecret
  const [admin, memberA, memberB] = await createUsers(app, db.url, ['admin', 'member', 'member']) as [TestUser, TestUser, TestUser]
  const sql = async <R extends Record<string, unknown>>(text: string, values: unknown[] = []): Promise<R[]> =>
    await withClient(db.url, async (c) => (await c.query<R>(text, values)).rows)

  t.test('tokens signed any other way than HS256 with JWT_SECRET answer 401', async (t) => {
    const claims = { sub: memberA.id, iat: now(), exp: now() + 600 }
    const adminClaims = { sub: admin.id, iat: now(), exp: now() + 600 }
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const ed = generateKeyPairSync('ed25519')
    const rsaSign = (key: KeyObject) => (input: string): Buffer => cryptoSign('sha256', Buffer.from(input), key)
    const publicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' })

    // The hand-made HS256 token is accepted: each case below differs from it in one way only.
    const control = await app.inject({ method: 'GET', url: `${API}/users/me`, headers: { authorization: `Bearer ${jwt({ alg: 'HS256', typ: 'JWT' }, claims, hmac('sha256', secret))}` } })
    t.equal(control.statusCode, 200, 'control: a crafted HS256 token with the secret is accepted')

    const cases: Array<[string, string]> = [
      ['alg "None", no signature', jwt({ alg: 'None', typ: 'JWT' }, adminClaims, null)],
      ['alg "NONE", no signature', jwt({ alg: 'NONE', typ: 'JWT' }, adminClaims, null)],
      ['alg "nOnE", no signature', jwt({ alg: 'nOnE' }, adminClaims, null)],
      ['alg none, no signature and no trailing dot', `${b64({ alg: 'none' })}.${b64(adminClaims)}`],
      ['no alg at all', jwt({ typ: 'JWT' }, claims, hmac('sha256', secret))],
      ['HS384 with the right secret', jwt({ alg: 'HS384', typ: 'JWT' }, claims, hmac('sha384', secret))],
      ['HS256 header over an HS384 signature', jwt({ alg: 'HS256', typ: 'JWT' }, claims, hmac('sha384', secret))],
      ['HS256 with an empty secret', jwt({ alg: 'HS256', typ: 'JWT' }, claims, hmac('sha256', ''))],
      ['HS256 with the secret\'s first 31 characters', jwt({ alg: 'HS256', typ: 'JWT' }, claims, hmac('sha256', secret.slice(0, 31)))],
      ['HS256 with the secret upper-cased', jwt({ alg: 'HS256', typ: 'JWT' }, claims, hmac('sha256', secret.toUpperCase()))],
      ['RS256 signed with a generated RSA key', jwt({ alg: 'RS256', typ: 'JWT' }, claims, rsaSign(rsa.privateKey))],
      ['RS256 with the public key embedded as a jwk header', jwt({ alg: 'RS256', typ: 'JWT', jwk: rsa.publicKey.export({ format: 'jwk' }) }, claims, rsaSign(rsa.privateKey))],
      ['RS256 with a jku header', jwt({ alg: 'RS256', typ: 'JWT', jku: 'http://127.0.0.1:1/keys.json', kid: 'k1' }, claims, rsaSign(rsa.privateKey))],
      ['HS256 keyed with an RSA public key (key confusion)', jwt({ alg: 'HS256', typ: 'JWT' }, claims, hmac('sha256', publicPem))],
      ['RS256 header over an HMAC of the secret', jwt({ alg: 'RS256', typ: 'JWT' }, claims, hmac('sha256', secret))],
      ['PS256 signed with a generated RSA key', jwt({ alg: 'PS256', typ: 'JWT' }, claims, (input) => cryptoSign('sha256', Buffer.from(input), { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }))],
      ['ES256 signed with a generated EC key', jwt({ alg: 'ES256', typ: 'JWT' }, claims, (input) => cryptoSign('sha256', Buffer.from(input), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }))],
      ['EdDSA signed with a generated Ed25519 key', jwt({ alg: 'EdDSA', typ: 'JWT' }, claims, (input) => cryptoSign(null, Buffer.from(input), ed.privateKey))],
      ['HS256 with a kid header and the wrong secret', jwt({ alg: 'HS256', typ: 'JWT', kid: '../../../../dev/null' }, claims, hmac('sha256', ''))],
      ['not valid yet (nbf in an hour)', jwt({ alg: 'HS256', typ: 'JWT' }, { ...claims, nbf: now() + 3600 }, hmac('sha256', secret))],
      ['expired a second ago', jwt({ alg: 'HS256', typ: 'JWT' }, { ...claims, exp: now() - 1 }, hmac('sha256', secret))],
      ['sub an empty string', jwt({ alg: 'HS256', typ: 'JWT' }, { ...claims, sub: '' }, hmac('sha256', secret))],
      ['sub null', jwt({ alg: 'HS256', typ: 'JWT' }, { ...claims, sub: null }, hmac('sha256', secret))],
      ['sub an array of the id', jwt({ alg: 'HS256', typ: 'JWT' }, { ...claims, sub: [memberA.id] }, hmac('sha256', secret))],
      ['a valid token twice', `${jwt({ alg: 'HS256', typ: 'JWT' }, claims, hmac('sha256', secret))} ${jwt({ alg: 'HS256', typ: 'JWT' }, claims, hmac('sha256', secret))}`]
    ]
    for (const [what, token] of cases) {
      for (const url of [`${API}/users/me`, `${API}/organizations`]) {
        const res = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } })
        t.equal(res.statusCode, 401, `${what} (${url}): 401`)
        t.equal(res.headers['www-authenticate'], 'Bearer', `${what}: WWW-Authenticate: Bearer`)
        t.match(res.json(), { statusCode: 401, error: 'Unauthorized', code: 'UNAUTHORIZED' })
        t.notOk(res.body.includes(token), `${what}: the token is not echoed`)
      }
    }
    // The admin-only and write endpoints are behind the same check.
    const noneAdmin = `Bearer ${jwt({ alg: 'none' }, adminClaims, null)}`
    const rs256Admin = `Bearer ${jwt({ alg: 'RS256' }, adminClaims, rsaSign(rsa.privateKey))}`
    const usersBefore = await sql('SELECT id, email, role, is_active FROM users ORDER BY id')
    for (const authorization of [noneAdmin, rs256Admin]) {
      for (const [method, url, payload] of [['GET', `${API}/users`, undefined], ['POST', `${API}/users`, { email: `forged${randomUUID()}@example.test`, name: 'F', role: 'admin' }],
        ['PATCH', `${API}/users/${memberA.id}`, { role: 'admin' }], ['POST', `${API}/admin/dashboard/refresh`, undefined], ['GET', `${API}/admin/runtime`, undefined]] as const) {
        const res = await app.inject({ method, url, headers: { authorization }, ...(payload === undefined ? {} : { payload }) })
        t.equal(res.statusCode, 401, `${method} ${url} with a forged admin token: 401`)
        t.equal(res.headers['www-authenticate'], 'Bearer')
      }
    }
    t.same(await sql('SELECT id, email, role, is_active FROM users ORDER BY id'), usersBefore, 'no user was created or changed')

    // A valid token anywhere but the Authorization header does not authenticate.
    const valid = memberA.headers.authorization.slice(7)
    for (const [what, options] of [
      ['in the query string', { url: `${API}/users/me?access_token=${valid}` }],
      ['in a cookie', { url: `${API}/users/me`, headers: { cookie: `token=${valid}; access_token=${valid}` } }],
      ['in X-Access-Token', { url: `${API}/users/me`, headers: { 'x-access-token': valid } }],
      ['under another scheme', { url: `${API}/users/me`, headers: { authorization: `Token ${valid}` } }]
    ] as Array<[string, InjectOptions]>) {
      const res = await app.inject({ method: 'GET', ...options })
      t.equal(res.statusCode, 401, `a valid token ${what}: 401`)
      t.equal(res.headers['www-authenticate'], 'Bearer')
    }
  })

  t.test('a member cannot reach, count or infer another member\'s rows', async (t) => {
    const TOKEN = `qzx${randomUUID().replace(/-/g, '').slice(0, 10)}` // in member A's rows only
    const SHARED = 'Shared Widgets' // in both members' organization names
    const RANDOM = randomUUID()
    const post = async (user: TestUser, url: string, payload: object): Promise<Record<string, any>> => {
      const res = await as(app, user, { method: 'POST', url, payload })
      if (res.statusCode !== 201) throw new Error(`POST ${url}: ${res.statusCode} ${res.body}`)
      return res.json()
    }

    // Member A: distinctive data of every kind.
    const aOrgs = [
      await post(memberA, `${API}/organizations`, { name: `Alpha ${TOKEN} Holdings`, priorityLevel: 'A', industrySegment: `Segment-${TOKEN}`, primaryEmail: `ceo@${TOKEN}.test`, annualRevenue: 999_000_000 }),
      await post(memberA, `${API}/organizations`, { name: `${SHARED} ${TOKEN}`, priorityLevel: 'A', industrySegment: 'Bravo Segment' }),
      await post(memberA, `${API}/organizations`, { name: `Third ${TOKEN} Org`, priorityLevel: 'C' })
    ]
    const aContacts: Array<Record<string, any>> = []
    const aOpportunities: Array<Record<string, any>> = []
    for (const org of aOrgs) {
      aContacts.push(await post(memberA, `${API}/organizations/${org.id as string}/contacts`, { firstName: `Ann${TOKEN}`, lastName: 'Alpha', email: `ann@${TOKEN}.test`, isPrimary: true }))
      aContacts.push(await post(memberA, `${API}/organizations/${org.id as string}/contacts`, { firstName: 'Second', lastName: `Alpha${TOKEN}` }))
      await post(memberA, `${API}/organizations/${org.id as string}/interactions`, { type: 'call', subject: `Call about ${TOKEN}`, contactId: aContacts.at(-1)!.id })
      await post(memberA, `${API}/organizations/${org.id as string}/interactions`, { type: 'note', subject: `Note ${TOKEN}` })
      aOpportunities.push(await post(memberA, `${API}/organizations/${org.id as string}/opportunities`, { name: `Deal ${TOKEN}`, stage: 'proposal', value: '500000.00' }))
      aOpportunities.push(await post(memberA, `${API}/organizations/${org.id as string}/opportunities`, { name: `Won ${TOKEN}`, stage: 'closed-won', value: '900000.00', closeDate: new Date().toISOString().slice(0, 10) }))
    }
    // Member B: a little data with known figures.
    const bOrg = await post(memberB, `${API}/organizations`, { name: `${SHARED} Bravo`, priorityLevel: 'A', industrySegment: 'Bravo Segment' })
    const bOrg2 = await post(memberB, `${API}/organizations`, { name: 'Bravo Two', priorityLevel: 'C' })
    const bContact = await post(memberB, `${API}/organizations/${bOrg.id as string}/contacts`, { firstName: 'Bea', lastName: 'Bravo', isPrimary: true })
    await post(memberB, `${API}/organizations/${bOrg.id as string}/interactions`, { type: 'meeting', subject: 'Bravo meeting', contactId: bContact.id })
    await post(memberB, `${API}/organizations/${bOrg.id as string}/opportunities`, { name: 'Bravo deal', stage: 'negotiation', value: '10.00' })
    await post(memberB, `${API}/organizations/${bOrg.id as string}/opportunities`, { name: 'Bravo won', stage: 'closed-won', value: '7.00', closeDate: new Date().toISOString().slice(0, 10) })
    const bIds = [bOrg.id, bOrg2.id].sort()
    const aOrgIds = new Set(aOrgs.map((o) => o.id as string))
    const aIds = [...aOrgIds, ...aContacts.map((c) => c.id as string), ...aOpportunities.map((o) => o.id as string)]

    const snapshot = async (): Promise<unknown> => await sql(`SELECT
      (SELECT json_agg(o ORDER BY o.id) FROM organizations o) AS organizations,
      (SELECT json_agg(c ORDER BY c.id) FROM contacts c) AS contacts,
      (SELECT json_agg(i ORDER BY i.id) FROM interactions i) AS interactions,
      (SELECT json_agg(p ORDER BY p.id) FROM opportunities p) AS opportunities,
      (SELECT json_agg(u ORDER BY u.id) FROM users u) AS users`)
    /** Nothing of A's in a body B receives: no id, no distinctive value. */
    const noneOfA = (t: Test, res: LightMyRequestResponse, what: string): void => {
      t.notOk(res.body.includes(TOKEN), `${what}: none of A's values`)
      const leaked = aIds.filter((id) => res.body.includes(id))
      t.same(leaked, [], `${what}: none of A's ids`)
    }

    t.test('control: the admin sees A\'s rows, so the 404s below are about scope', async (t) => {
      for (const url of [`${API}/organizations/${aOrgs[0]!.id as string}`, `${API}/contacts/${aContacts[0]!.id as string}`, `${API}/opportunities/${aOpportunities[0]!.id as string}`,
        `${API}/organizations/${aOrgs[0]!.id as string}/contacts`, `${API}/organizations/${aOrgs[0]!.id as string}/interactions`, `${API}/organizations/${aOrgs[0]!.id as string}/opportunities`]) {
        t.equal((await as(app, admin, { method: 'GET', url })).statusCode, 200, `admin: GET ${url}`)
      }
      const adminSearch = (await as(app, admin, { method: 'GET', url: `${API}/organizations?search=${TOKEN}&limit=200` })).json()
      t.equal(adminSearch.data.length, 3, 'the search term does match A\'s organizations')
    })

    t.test('by id, nested lists, writes: 404 exactly like a missing row, and nothing changes', async (t) => {
      const before = await snapshot()
      const a0 = aOrgs[0]!.id as string
      const aTag = (await as(app, memberA, { method: 'GET', url: `${API}/organizations/${a0}` })).headers.etag as string
      const cTag = (await as(app, memberA, { method: 'GET', url: `${API}/contacts/${aContacts[0]!.id as string}` })).headers.etag as string
      const pTag = (await as(app, memberA, { method: 'GET', url: `${API}/opportunities/${aOpportunities[0]!.id as string}` })).headers.etag as string
      const attempts: Array<[string, (id: string) => InjectOptions, string, Array<string | undefined>]> = [
        ['GET organization', (id) => ({ method: 'GET', url: `${API}/organizations/${id}` }), a0, [undefined]],
        ['HEAD organization', (id) => ({ method: 'HEAD', url: `${API}/organizations/${id}` }), a0, [undefined]],
        ['PATCH organization', (id) => ({ method: 'PATCH', url: `${API}/organizations/${id}`, payload: { name: 'Hijacked' } }), a0, [undefined, aTag, '*', '"bogus"']],
        ['PATCH organization (reassign to B)', (id) => ({ method: 'PATCH', url: `${API}/organizations/${id}`, payload: { assignedUserId: memberB.id } }), a0, [undefined, aTag, '*']],
        ['DELETE organization', (id) => ({ method: 'DELETE', url: `${API}/organizations/${id}` }), a0, [undefined]],
        ['GET contacts of', (id) => ({ method: 'GET', url: `${API}/organizations/${id}/contacts?limit=200` }), a0, [undefined]],
        ['GET interactions of', (id) => ({ method: 'GET', url: `${API}/organizations/${id}/interactions?since=2000-01-01T00:00:00Z` }), a0, [undefined]],
        ['GET opportunities of', (id) => ({ method: 'GET', url: `${API}/organizations/${id}/opportunities?stage=closed-won` }), a0, [undefined]],
        ['POST contact under', (id) => ({ method: 'POST', url: `${API}/organizations/${id}/contacts`, payload: { firstName: 'Intruder', lastName: 'B', isPrimary: true } }), a0, [undefined]],
        ['POST interaction under', (id) => ({ method: 'POST', url: `${API}/organizations/${id}/interactions`, payload: { type: 'note', subject: 'Intruder' } }), a0, [undefined]],
        ['POST interaction under, naming A\'s contact', (id) => ({ method: 'POST', url: `${API}/organizations/${id}/interactions`, payload: { type: 'note', subject: 'Intruder', contactId: aContacts[0]!.id } }), a0, [undefined]],
        ['POST opportunity under', (id) => ({ method: 'POST', url: `${API}/organizations/${id}/opportunities`, payload: { name: 'Intruder', value: '1.00' } }), a0, [undefined]],
        ['GET contact', (id) => ({ method: 'GET', url: `${API}/contacts/${id}` }), aContacts[0]!.id, [undefined]],
        ['PATCH contact', (id) => ({ method: 'PATCH', url: `${API}/contacts/${id}`, payload: { title: 'Hijacked', isPrimary: true } }), aContacts[1]!.id, [undefined, cTag, '*', '"bogus"']],
        ['DELETE contact', (id) => ({ method: 'DELETE', url: `${API}/contacts/${id}` }), aContacts[0]!.id, [undefined]],
        ['GET opportunity', (id) => ({ method: 'GET', url: `${API}/opportunities/${id}` }), aOpportunities[0]!.id, [undefined]],
        ['PATCH opportunity', (id) => ({ method: 'PATCH', url: `${API}/opportunities/${id}`, payload: { stage: 'closed-lost' } }), aOpportunities[0]!.id, [undefined, pTag, '*', '"bogus"']]
      ]
      for (const [what, request, aId, ifMatches] of attempts) {
        for (const ifMatch of ifMatches) {
          const label = `member B: ${what} A's${ifMatch === undefined ? '' : ` (If-Match ${ifMatch})`}`
          const withHeader = (options: InjectOptions): InjectOptions => ifMatch === undefined ? options : { ...options, headers: { 'if-match': ifMatch } }
          const res = await as(app, memberB, withHeader(request(aId)))
          t.equal(res.statusCode, 404, `${label}: 404`)
          const missing = await as(app, memberB, withHeader(request(RANDOM)))
          t.equal(missing.statusCode, 404)
          t.equal(res.body, missing.body, `${label}: the same body as for an id that does not exist`)
          t.equal(res.headers.etag, undefined, `${label}: no ETag`)
          t.same(Object.keys(res.headers).filter((h) => !['date', 'x-request-id', 'x-response-time'].includes(h)).sort(),
            Object.keys(missing.headers).filter((h) => !['date', 'x-request-id', 'x-response-time'].includes(h)).sort(), `${label}: the same headers`)
          noneOfA(t, res, label)
        }
      }
      t.same(await snapshot(), before, 'no row of any table changed or appeared')
    })

    t.test('references to A\'s rows from B\'s own resources', async (t) => {
      const before = await snapshot()
      const viaA = await as(app, memberB, { method: 'POST', url: `${API}/organizations/${bOrg.id as string}/interactions`, payload: { type: 'call', subject: 'x', contactId: aContacts[0]!.id } })
      const viaRandom = await as(app, memberB, { method: 'POST', url: `${API}/organizations/${bOrg.id as string}/interactions`, payload: { type: 'call', subject: 'x', contactId: RANDOM } })
      t.equal(viaA.statusCode, 400, 'an interaction on B\'s organization naming A\'s contact: 400')
      t.equal(viaA.body, viaRandom.body, 'exactly as for a contact that does not exist')
      for (const assignee of [memberA.id, RANDOM]) {
        const create = await as(app, memberB, { method: 'POST', url: `${API}/organizations`, payload: { name: 'Gift', assignedUserId: assignee } })
        t.equal(create.statusCode, 403, 'a member cannot create for someone else (whoever they are)')
        t.same(create.json(), { statusCode: 403, error: 'Forbidden', message: 'Members can only assign organizations to themselves', code: 'FORBIDDEN' })
        const move = await as(app, memberB, { method: 'PATCH', url: `${API}/organizations/${bOrg2.id as string}`, payload: { assignedUserId: assignee } })
        t.equal(move.statusCode, 403, 'nor hand their organization to someone else')
        t.same(move.json(), create.json())
      }
      for (const [method, url, payload] of [['GET', `${API}/users`, undefined], ['GET', `${API}/users?limit=200`, undefined],
        ['PATCH', `${API}/users/${memberA.id}`, { name: 'Renamed' }], ['PATCH', `${API}/users/${RANDOM}`, { name: 'Renamed' }],
        ['POST', `${API}/users`, { email: `b-made@${TOKEN}.test`, name: 'X' }], ['GET', `${API}/admin/runtime`, undefined], ['POST', `${API}/admin/dashboard/refresh`, undefined]] as const) {
        const res = await as(app, memberB, { method, url, ...(payload === undefined ? {} : { payload }) })
        t.equal(res.statusCode, 403, `member B: ${method} ${url}: 403 (admin only)`)
        t.equal(res.json().message, 'This endpoint is for administrators')
        noneOfA(t, res, `${method} ${url}`)
      }
      t.same(await snapshot(), before, 'nothing changed')
    })

    t.test('lists with every filter and search show only B\'s rows, with B\'s own counts', async (t) => {
      const bList = await as(app, memberB, { method: 'GET', url: `${API}/organizations?limit=200` })
      t.same(bList.json().data.map((o: { id: string }) => o.id).sort(), bIds, 'B lists exactly B\'s organizations')
      const counts = Object.fromEntries(bList.json().data.map((o: Record<string, unknown>) => [o.id, [o.contactCount, o.interactionCount, o.opportunityCount]]))
      t.same(counts, { [bOrg.id]: [1, 1, 1], [bOrg2.id]: [0, 0, 0] }, 'counts are B\'s own, whatever A has')
      const queries = [
        `search=${TOKEN}`, `search=${TOKEN.toUpperCase()}`, `search=${TOKEN.slice(3, 9)}`, 'search=Alpha', 'search=Holdings', 'search=Third',
        `search=${encodeURIComponent(SHARED)}`, 'search=a', `industrySegment=Segment-${TOKEN}`, `industrySegment=${encodeURIComponent('Bravo Segment')}`,
        'priorityLevel=A', 'priorityLevel=B', 'priorityLevel=C', 'priorityLevel=D', `assignedUserId=${memberA.id}`, `assignedUserId=${memberA.id}&search=${TOKEN}`,
        `assignedUserId=${admin.id}`, `search=${TOKEN}&priorityLevel=A&industrySegment=Segment-${TOKEN}`, 'limit=1', 'limit=1&offset=1', 'limit=1&offset=2', 'offset=5', 'limit=200&offset=0'
      ]
      for (const query of queries) {
        const res = await as(app, memberB, { method: 'GET', url: `${API}/organizations?${query}` })
        t.equal(res.statusCode, 200, query)
        const ids = res.json().data.map((o: { id: string }) => o.id)
        t.ok(ids.every((id: string) => bIds.includes(id)), `${query}: only B's organizations`)
        noneOfA(t, res, query)
        if (query.startsWith('assignedUserId=')) {
          const without = await as(app, memberB, { method: 'GET', url: `${API}/organizations?${query.replace(/^assignedUserId=[^&]+&?/, '')}` })
          t.equal(res.body, without.body, `${query}: assignedUserId is ignored for a member`)
        }
      }
      const shared = await as(app, memberB, { method: 'GET', url: `${API}/organizations?search=${encodeURIComponent(SHARED)}` })
      t.same(shared.json().data.map((o: { id: string }) => o.id), [bOrg.id], 'a term in both members\' names: B\'s only')
      const segment = await as(app, memberB, { method: 'GET', url: `${API}/organizations?industrySegment=${encodeURIComponent('Bravo Segment')}` })
      t.same(segment.json().data.map((o: { id: string }) => o.id), [bOrg.id], 'a segment both members use: B\'s only')
      const tokenSearch = (await as(app, memberB, { method: 'GET', url: `${API}/organizations?search=${TOKEN}` })).json()
      t.same(tokenSearch, { data: [], page: { limit: 50, offset: 0, hasMore: false } }, 'A\'s unique term: nothing, and no hint of more')
      const paged = (await as(app, memberB, { method: 'GET', url: `${API}/organizations?limit=2` })).json()
      t.equal(paged.page.hasMore, false, 'B\'s two organizations fill the page: hasMore does not count A\'s')

      for (const [url, expected] of [[`${API}/organizations/${bOrg.id as string}/contacts?limit=200`, 1], [`${API}/organizations/${bOrg.id as string}/interactions?limit=200`, 1],
        [`${API}/organizations/${bOrg.id as string}/opportunities?limit=200`, 2], [`${API}/organizations/${bOrg2.id as string}/contacts`, 0]] as const) {
        const res = await as(app, memberB, { method: 'GET', url })
        t.equal(res.json().data.length, expected, `${url}: B's own rows only`)
        noneOfA(t, res, url)
      }
      const byId = await as(app, memberB, { method: 'GET', url: `${API}/organizations/${bOrg.id as string}` })
      t.match(byId.json(), { contactCount: 1, interactionCount: 1, opportunityCount: 1 }, 'B\'s organization by id: B\'s counts')

      const refresh = await as(app, admin, { method: 'POST', url: `${API}/admin/dashboard/refresh` })
      t.equal(refresh.statusCode, 200)
      const dashboard = await as(app, memberB, { method: 'GET', url: `${API}/dashboard` })
      const { refreshedAt, ...figures } = dashboard.json()
      t.ok(refreshedAt)
      t.same(figures, { userId: memberB.id, totalOrganizations: 2, highPriorityOrgs: 1, totalContacts: 1, interactionsThisMonth: 1, activeOpportunities: 1, wonRevenueThisQuarter: '7.00' }, 'B\'s dashboard: B\'s figures only')
      const aDashboard = (await as(app, memberA, { method: 'GET', url: `${API}/dashboard` })).json()
      t.match(aDashboard, { userId: memberA.id, totalOrganizations: 3, totalContacts: 6, wonRevenueThisQuarter: '2700000.00' }, 'control: A\'s figures are there, and different')
      for (const url of [`${API}/dashboard?userId=${memberA.id}`, `${API}/users/me?id=${memberA.id}`]) {
        const res = await as(app, memberB, { method: 'GET', url })
        if (res.statusCode === 200) t.equal(res.json().userId ?? res.json().id, memberB.id, `${url}: a user id in the query is not obeyed`)
        else t.equal(res.statusCode, 400, `${url}: refused`)
        noneOfA(t, res, url)
      }
    })

    t.test('cache and ETags: A\'s entries and tags never answer B', async (t) => {
      const a0 = aOrgs[0]!.id as string
      // The same URL, A first (MISS then HIT), then B.
      for (const url of [`${API}/organizations?search=${encodeURIComponent(SHARED)}&limit=20`, `${API}/organizations?limit=199`, `${API}/users/me?fresh=1`]) {
        const first = await as(app, memberA, { method: 'GET', url })
        const second = await as(app, memberA, { method: 'GET', url })
        t.equal(first.statusCode, 200)
        t.equal(first.headers['x-cache'], 'MISS', `A: ${url} MISS`)
        t.equal(second.headers['x-cache'], 'HIT', `A: ${url} HIT`)
        const b = await as(app, memberB, { method: 'GET', url })
        t.equal(b.statusCode, 200)
        t.equal(b.headers['x-cache'], 'MISS', `B: ${url} is a miss of B's own`)
        t.not(b.body, first.body, `B: ${url} is not A's body`)
        noneOfA(t, b, `B: ${url}`)
        const bAgain = await as(app, memberB, { method: 'GET', url })
        t.equal(bAgain.headers['x-cache'], 'HIT')
        t.equal(bAgain.body, b.body, 'B\'s hit is B\'s own body')
        const conditional = await as(app, memberB, { method: 'GET', url, headers: { 'if-none-match': first.headers.etag as string } })
        t.equal(conditional.statusCode, 200, `B with A's ETag on ${url}: 200 with B's body, not 304`)
        t.equal(conditional.body, b.body)
        t.equal((await as(app, memberA, { method: 'GET', url, headers: { 'if-none-match': first.headers.etag as string } })).statusCode, 304, 'control: A\'s own tag gives A a 304')
      }

      // A's resources, cached for A: B gets 404, also with A's ETag, and never a 304.
      for (const url of [`${API}/organizations/${a0}`, `${API}/contacts/${aContacts[0]!.id as string}`, `${API}/opportunities/${aOpportunities[0]!.id as string}`,
        `${API}/organizations/${a0}/contacts`, `${API}/organizations/${a0}/interactions`, `${API}/organizations/${a0}/opportunities`]) {
        const first = await as(app, memberA, { method: 'GET', url })
        t.equal(first.statusCode, 200)
        t.equal((await as(app, memberA, { method: 'GET', url })).headers['x-cache'], 'HIT', `A: ${url} cached`)
        for (const ifNoneMatch of [undefined, first.headers.etag as string, `W/${first.headers.etag as string}`, '*']) {
          const res = await as(app, memberB, { method: 'GET', url, ...(ifNoneMatch === undefined ? {} : { headers: { 'if-none-match': ifNoneMatch } }) })
          t.equal(res.statusCode, 404, `B: ${url}${ifNoneMatch === undefined ? '' : ` If-None-Match ${ifNoneMatch}`}: 404, not A's entry nor 304`)
          t.equal(res.headers.etag, undefined)
          noneOfA(t, res, `B: ${url}`)
        }
      }

      // A's writes change nothing B can observe: B's tags still match (304), B's figures stay.
      const bViews = [`${API}/organizations?limit=200`, `${API}/organizations?search=${encodeURIComponent(SHARED)}`, `${API}/organizations/${bOrg.id as string}`, `${API}/organizations/${bOrg.id as string}/contacts`]
      const bTags = await Promise.all(bViews.map(async (url) => (await as(app, memberB, { method: 'GET', url })).headers.etag as string))
      const extra = await post(memberA, `${API}/organizations`, { name: `${SHARED} ${TOKEN} Extra`, priorityLevel: 'A', industrySegment: 'Bravo Segment' })
      aIds.push(extra.id as string)
      await post(memberA, `${API}/organizations/${extra.id as string}/contacts`, { firstName: 'Extra', lastName: TOKEN, isPrimary: true })
      await as(app, memberA, { method: 'PATCH', url: `${API}/organizations/${a0}`, payload: { name: `${SHARED} ${TOKEN} Renamed` } })
      await as(app, memberA, { method: 'DELETE', url: `${API}/organizations/${aOrgs[2]!.id as string}` })
      for (const [i, url] of bViews.entries()) {
        const res = await as(app, memberB, { method: 'GET', url, headers: { 'if-none-match': bTags[i]! } })
        t.equal(res.statusCode, 304, `B: ${url} unchanged by A's writes (same ETag)`)
      }
      await as(app, admin, { method: 'POST', url: `${API}/admin/dashboard/refresh` })
      const { refreshedAt: _at, ...bFigures } = (await as(app, memberB, { method: 'GET', url: `${API}/dashboard` })).json()
      t.same(bFigures, { userId: memberB.id, totalOrganizations: 2, highPriorityOrgs: 1, totalContacts: 1, interactionsThisMonth: 1, activeOpportunities: 1, wonRevenueThisQuarter: '7.00' }, 'B\'s figures unchanged by A\'s writes')

      // The dashboard: per user too, although it hangs on one generation for everyone.
      await as(app, admin, { method: 'POST', url: `${API}/admin/dashboard/refresh` })
      const aDash = await as(app, memberA, { method: 'GET', url: `${API}/dashboard` })
      t.equal(aDash.headers['x-cache'], 'MISS')
      t.equal((await as(app, memberA, { method: 'GET', url: `${API}/dashboard` })).headers['x-cache'], 'HIT')
      const bDash = await as(app, memberB, { method: 'GET', url: `${API}/dashboard` })
      t.equal(bDash.headers['x-cache'], 'MISS', 'B: the dashboard is a miss of B\'s own')
      t.equal(bDash.json().userId, memberB.id)
      t.equal(bDash.json().totalOrganizations, 2)
      const bDashTagged = await as(app, memberB, { method: 'GET', url: `${API}/dashboard`, headers: { 'if-none-match': aDash.headers.etag as string } })
      t.equal(bDashTagged.statusCode, 200, 'B with A\'s dashboard ETag: 200, not 304')
      t.equal(bDashTagged.json().userId, memberB.id)
      t.equal(bDashTagged.headers['x-cache'], 'HIT')
    })
  })

  t.test('error bodies and logs carry no secrets, SQL or submitted values', async (t) => {
    const DB_PASSWORD = `dbpw-${randomUUID()}`
    const JWT_SECRET = `jwt-secret-${randomUUID()}`
    const url = new URL(db.url)
    url.password = DB_PASSWORD // the local server trusts the connection; the password is still sent around in config
    const config = testConfig(url.toString(), { LOG_LEVEL: 'info', JWT_SECRET, RATE_LIMIT_MAX: '1000000', DASHBOARD_REFRESH_INTERVAL_MS: '0', DATABASE_QUERY_TIMEOUT_MS: '1500', SLOW_QUERY_MS: '1' })
    const chunks: string[] = []
    const stream = new Writable({ write (chunk, _enc, done) { chunks.push(String(chunk)); done() } })
    const logged = await buildApp({ config, loggerInstance: pino(loggerOptions(config), stream) })
    closeOnTeardown(t, logged)
    await logged.ready()
    withOracle(logged)
    const [lAdmin, lMember] = await createUsers(logged, db.url, ['admin', 'member']) as [TestUser, TestUser]
    const V = `val${randomUUID().replace(/-/g, '').slice(0, 12)}` // every submitted distinctive value contains this
    const bodies: Array<[string, LightMyRequestResponse]> = []
    const call = async (what: string, user: TestUser | null, options: InjectOptions, status: number | number[]): Promise<LightMyRequestResponse> => {
      const res = user === null ? await logged.inject(options) : await as(logged, user, options)
      t.ok(([] as number[]).concat(status).includes(res.statusCode), `${what}: ${String(status)} (got ${res.statusCode})`)
      bodies.push([what, res])
      return res
    }

    const org = (await call('create an organization', lMember, { method: 'POST', url: `${API}/organizations`, payload: { name: 'Log Probe Org' } }, 201)).json()
    const contact = (await call('create a contact', lMember, { method: 'POST', url: `${API}/organizations/${org.id as string}/contacts`, payload: { firstName: 'Log', lastName: 'Probe' } }, 201)).json()

    // 409: duplicate emails (values in the unique index's error detail).
    const email = `dup.${V}@example.test`
    await call('create a user', lAdmin, { method: 'POST', url: `${API}/users`, payload: { email, name: `Name ${V}` } }, 201)
    await call('409 duplicate email', lAdmin, { method: 'POST', url: `${API}/users`, payload: { email, name: 'Again' } }, 409)
    await call('409 duplicate email, other case', lAdmin, { method: 'POST', url: `${API}/users`, payload: { email: email.toUpperCase(), name: 'Again' } }, 409)
    await call('409 email clash on PATCH', lAdmin, { method: 'PATCH', url: `${API}/users/${lMember.id}`, payload: { email } }, 409)

    // 400: invalid values, each naming the field but never echoing the value.
    const invalid: Array<[string, InjectOptions]> = [
      ['bad email', { method: 'POST', url: `${API}/organizations`, payload: { name: 'x', primaryEmail: `not-an-email-${V}` } }],
      ['too long name', { method: 'POST', url: `${API}/organizations`, payload: { name: V.repeat(30) } }],
      ['bad priority', { method: 'POST', url: `${API}/organizations`, payload: { name: 'x', priorityLevel: V } }],
      ['bad revenue', { method: 'POST', url: `${API}/organizations`, payload: { name: 'x', annualRevenue: V } }],
      ['bad money', { method: 'POST', url: `${API}/organizations/${org.id as string}/opportunities`, payload: { name: 'x', value: `12${V}` } }],
      ['bad close date', { method: 'POST', url: `${API}/organizations/${org.id as string}/opportunities`, payload: { name: 'x', closeDate: `2026-${V}` } }],
      ['bad priority on PATCH', { method: 'PATCH', url: `${API}/organizations/${org.id as string}`, payload: { name: 'x', website: null, priorityLevel: `A${V}` } }],
      ['bad interaction type', { method: 'POST', url: `${API}/organizations/${org.id as string}/interactions`, payload: { type: V, subject: 'x' } }],
      ['contactId of nobody', { method: 'POST', url: `${API}/organizations/${org.id as string}/interactions`, payload: { type: 'note', subject: `subject ${V}`, contactId: randomUUID() } }],
      ['bad limit', { method: 'GET', url: `${API}/organizations?limit=${V}` }],
      ['bad since', { method: 'GET', url: `${API}/organizations/${org.id as string}/interactions?since=${V}` }],
      // (Paths are logged, as resource addresses: the distinctive values go in bodies and query strings.)
      ['bad id', { method: 'GET', url: `${API}/organizations/not-a-uuid?limit=${V}` }],
      ['broken JSON', { method: 'POST', url: `${API}/organizations`, payload: `{"name": ${V}}`, headers: { 'content-type': 'application/json' } }],
      ['prototype pollution', { method: 'POST', url: `${API}/organizations`, payload: `{"name": "x", "__proto__": {"${V}": 1}}`, headers: { 'content-type': 'application/json' } }],
      ['NUL in a value', { method: 'POST', url: `${API}/organizations`, payload: `{"name": "${V}\\u0000"}`, headers: { 'content-type': 'application/json' } }]
    ]
    for (const [what, options] of invalid) {
      const res = await call(`400 ${what}`, lMember, options, 400)
      t.same(Object.keys(res.json()).sort(), ['code', 'error', 'message', 'statusCode'], `${what}: the contract's error body`)
    }
    const unknownProperty = await call('400 unknown property', lMember, { method: 'POST', url: `${API}/organizations`, payload: { name: 'x', nickname: V } }, 400)
    t.equal(unknownProperty.json().message, 'body.nickname is not allowed', 'names the field, not its value')

    // 401 / 404 with values in the URL.
    await call('401 forged token', null, { method: 'GET', url: `${API}/organizations?search=${V}`, headers: { authorization: `Bearer ${jwt({ alg: 'HS256' }, { sub: lMember.id, note: V }, hmac('sha256', 'wrong'))}` } }, 401)
    await call('404 organization, a value in the query string', lMember, { method: 'GET', url: `${API}/organizations/${randomUUID()}?${V}=1` }, 404)
    await call('404 organization (no query)', lMember, { method: 'GET', url: `${API}/organizations/${randomUUID()}` }, 404)
    await call('404 route with a query string', lMember, { method: 'GET', url: `${API}/no-such-route?token=${V}` }, 404)
    await call('search term', lMember, { method: 'GET', url: `${API}/organizations?search=${V}` }, 200)

    // Database errors whose messages carry the submitted values: a trigger
    // raises one (as a CHECK or a custom constraint would), and a lock held
    // elsewhere makes an INSERT with the value hit the statement timeout.
    await sql(`CREATE FUNCTION security_test_probe() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.title LIKE 'explode%' THEN
          RAISE EXCEPTION 'probe refused title %', NEW.title USING DETAIL = 'Failing row contains (' || NEW.title || ')', HINT = NEW.title;
        END IF;
        RETURN NEW;
      END $$`)
    await sql('CREATE TRIGGER security_test_probe BEFORE INSERT OR UPDATE ON contacts FOR EACH ROW EXECUTE FUNCTION security_test_probe()')
    t.teardown(async () => { await sql('DROP TRIGGER IF EXISTS security_test_probe ON contacts') })
    const dbError = await call('database error on PATCH', lMember, { method: 'PATCH', url: `${API}/contacts/${contact.id as string}`, payload: { title: `explode ${V}` } }, 500)
    t.same(dbError.json(), { statusCode: 500, error: 'Internal Server Error', message: 'Internal server error', code: 'INTERNAL_ERROR' })
    await call('database error on POST', lMember, { method: 'POST', url: `${API}/organizations/${org.id as string}/contacts`, payload: { firstName: 'x', lastName: 'y', title: `explode ${V}` } }, 500)

    await withClient(db.url, async (locker) => {
      await locker.query('BEGIN')
      await locker.query('SELECT id FROM organizations WHERE id = $1 FOR UPDATE', [org.id])
      try {
        // The client's query timeout or the server's statement_timeout, whichever fires first: both are 503.
        const timedOut = await call('statement timeout on an INSERT', lMember, { method: 'POST', url: `${API}/organizations/${org.id as string}/contacts`, payload: { firstName: `Slow ${V}`, lastName: V, email: `slow.${V}@example.test` } }, [503])
        t.equal(timedOut.json().code, 'DATABASE_UNAVAILABLE')
      } finally {
        await locker.query('ROLLBACK')
      }
    })
    t.equal((await sql('SELECT count(*)::int AS n FROM contacts WHERE last_name = $1', [V]))[0]!.n, 0, 'nothing was inserted by the failed requests')

    const secrets: Array<[string, string]> = [
      ['the JWT secret', JWT_SECRET], ['the database password', DB_PASSWORD], ['the database URL', url.toString()], ['the database URL without password', db.url],
      ['a member\'s JWT', lMember.headers.authorization.slice(7)], ['an admin\'s JWT', lAdmin.headers.authorization.slice(7)],
      ['a JWT signature', lMember.headers.authorization.split('.')[2]!]
    ]
    const sqlText = [/\bSELECT\b/, /\bINSERT\s+INTO\b/i, /\bUPDATE\s+"?\w+"?\s+SET\b/i, /\bWHERE\b/, /\bFROM\s+"?(public|organizations|contacts|users)/i, /\$\d+/, /probe refused/, /Failing row/]
    for (const [what, res] of bodies) {
      for (const [name, value] of secrets) t.notOk(res.body.includes(value), `${what}: the body has no ${name}`)
      for (const pattern of sqlText) t.notMatch(res.body, pattern, `${what}: the body has no SQL (${String(pattern)})`)
      if (res.statusCode >= 400) {
        t.notOk(res.body.includes(V), `${what}: the error body does not echo a submitted value`)
        t.notMatch(res.body, /\bat \S+ \(|\.ts:\d+|\.js:\d+/, `${what}: no stack trace`)
      }
      t.notOk(JSON.stringify(res.headers).includes(JWT_SECRET) || JSON.stringify(res.headers).includes(DB_PASSWORD), `${what}: no secret in a header`)
    }

    await logged.close()
    const raw = chunks.join('')
    const lines = raw.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
    t.ok(lines.some((l) => l.msg === 'incoming request'), 'request lines were logged at info level')
    t.ok(lines.some((l) => l.level === 50 && l.msg === 'unhandled error'), 'the database errors were logged')
    t.ok(lines.some((l) => l.msg === 'slow query'), 'slow queries were logged (every query, threshold 1 ms)')
    for (const [name, value] of secrets) t.notOk(raw.includes(value), `no log line has ${name}`)
    const withValue = lines.filter((l) => JSON.stringify(l).includes(V))
    t.same(withValue, [], 'no log line has a submitted value (search terms, bodies, SQL parameters, database messages)')
    for (const pattern of sqlText) {
      const offending = lines.filter((l) => pattern.test(JSON.stringify(l)))
      t.same(offending, [], `no log line has SQL text (${String(pattern)})`)
    }
  })
})
