// The world each property file runs in: its own freshly migrated database and
// app, and a fixture in it: users (an admin, two members, an inactive one, two
// more), credentials that must fail, and a few rows of every kind (own,
// another member's, soft-deleted, in a deleted organization) with their ETags.
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { createSigner } from 'fast-jwt'
import type { FastifyInstance } from 'fastify'
import { createUsers, type TestUser } from '../api'
import { buildTestApp } from '../app'
import { createTestDatabase } from '../database'
import { API, JSON_CT, checkAnswer, send, type Method, type Req } from './requests'
import type { Body } from './values'

export interface Fixture {
  admin: TestUser
  m1: TestUser
  m2: TestUser
  inactive: TestUser
  u1: { id: string; email: string }
  u2: { id: string; email: string }
  org: { own: string; own2: string; other: string; deleted: string }
  contact: { own: string; own2: string; other: string; deleted: string; inDeletedOrg: string }
  opp: { own: string; other: string; inDeletedOrg: string }
  interaction: string
  etag: { org: string; contact: string; opp: string }
  badCreds: Array<{ name: string; headers: Record<string, string> }>
}

export type Actor = 'admin' | 'm1' | 'm2'

async function buildFixture (app: FastifyInstance, url: string, client: pg.Client): Promise<Fixture> {
  const [admin, m1, m2, inactive, u1, u2] = await createUsers(app, url, ['admin', 'member', 'member', 'member', 'member', 'member']) as [TestUser, TestUser, TestUser, TestUser, TestUser, TestUser]
  await client.query('UPDATE users SET is_active = FALSE WHERE id = $1', [inactive.id])
  const call = async (user: TestUser, method: Method, path: string, body: Body | undefined, status: number): Promise<any> => {
    const req: Req = { method, url: `${API}${path}`, headers: { ...user.headers, ...(body !== undefined ? { 'content-type': JSON_CT } : {}) }, who: user.role, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}) }
    const res = await send(app, req)
    return checkAnswer(req, res, [status])
  }
  const own = (await call(m1, 'POST', '/organizations', { name: "Acme 100% o'brien_\\", priorityLevel: 'A', annualRevenue: 2500000 }, 201)).id as string
  const own2 = (await call(m1, 'POST', '/organizations', { name: 'Ünïcode 😀 \u202eRTL', industrySegment: 'saas' }, 201)).id as string
  const other = (await call(m2, 'POST', '/organizations', { name: 'Other member', primaryEmail: 'o@example.test' }, 201)).id as string
  const deleted = (await call(m1, 'POST', '/organizations', { name: 'Deleted' }, 201)).id as string
  const contact = {
    own: (await call(m1, 'POST', `/organizations/${own}/contacts`, { firstName: 'Ann', lastName: "O'Neil", isPrimary: true }, 201)).id as string,
    own2: (await call(m1, 'POST', `/organizations/${own}/contacts`, { firstName: 'Bob', lastName: '%_%' }, 201)).id as string,
    other: (await call(m2, 'POST', `/organizations/${other}/contacts`, { firstName: 'Cy', lastName: 'Other' }, 201)).id as string,
    deleted: (await call(m1, 'POST', `/organizations/${own}/contacts`, { firstName: 'Del', lastName: 'Eted' }, 201)).id as string,
    inDeletedOrg: (await call(m1, 'POST', `/organizations/${deleted}/contacts`, { firstName: 'In', lastName: 'Deleted' }, 201)).id as string
  }
  const opp = {
    own: (await call(m1, 'POST', `/organizations/${own}/opportunities`, { name: 'Deal', value: '125000.00', closeDate: '2026-12-31' }, 201)).id as string,
    other: (await call(m2, 'POST', `/organizations/${other}/opportunities`, { name: 'Their deal', stage: 'proposal' }, 201)).id as string,
    inDeletedOrg: (await call(m1, 'POST', `/organizations/${deleted}/opportunities`, { name: 'Gone deal' }, 201)).id as string
  }
  const interaction = (await call(m1, 'POST', `/organizations/${own}/interactions`, { type: 'call', subject: 'Hello', contactId: contact.own }, 201)).id as string
  await call(m1, 'DELETE', `/contacts/${contact.deleted}`, undefined, 204)
  await call(m1, 'DELETE', `/organizations/${deleted}`, undefined, 204)

  const etagOf = async (path: string): Promise<string> => {
    const req: Req = { method: 'GET', url: `${API}${path}`, headers: m1.headers, who: 'm1' }
    const res = await send(app, req)
    checkAnswer(req, res, [200])
    return String(res.headers.etag)
  }
  const etag = { org: await etagOf(`/organizations/${own}`), contact: await etagOf(`/contacts/${contact.own}`), opp: await etagOf(`/opportunities/${opp.own}`) }

  const secret = app.config.jwtSecret
  const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  const signWith = (key: string, algorithm: 'HS256' | 'HS512', payload: Record<string, unknown>): string => createSigner({ key, algorithm, noTimestamp: true })(payload)
  const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })
  const badCreds = [
    { name: 'no credentials', headers: {} },
    { name: 'empty Authorization', headers: { authorization: '' } },
    { name: 'Basic', headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } },
    { name: 'Bearer alone', headers: { authorization: 'Bearer' } },
    { name: 'lowercase scheme, junk token', headers: { authorization: 'bearer x.y.z' } },
    { name: 'junk token', headers: bearer('not.a.jwt') },
    { name: 'huge token', headers: bearer('A'.repeat(20_000)) },
    { name: 'SQL token', headers: bearer("' OR 1=1 --") },
    { name: 'forged signature', headers: bearer(signWith('another-secret-that-is-at-least-32-characters', 'HS256', { sub: admin.id })) },
    { name: 'alg none', headers: bearer(`${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: admin.id })}.`) },
    { name: 'HS512', headers: bearer(signWith(secret, 'HS512', { sub: admin.id })) },
    { name: 'expired', headers: bearer(signWith(secret, 'HS256', { sub: admin.id, exp: Math.floor(Date.now() / 1000) - 60 })) },
    { name: 'unknown user', headers: bearer(app.signToken(randomUUID())) },
    { name: 'inactive user', headers: inactive.headers },
    { name: 'sub SQL', headers: bearer(signWith(secret, 'HS256', { sub: "' OR 1=1 --" })) },
    { name: 'sub object', headers: bearer(signWith(secret, 'HS256', { sub: { $ne: null } })) },
    { name: 'sub number', headers: bearer(signWith(secret, 'HS256', { sub: 2 ** 53 })) },
    { name: 'sub __proto__', headers: bearer(signWith(secret, 'HS256', { sub: '__proto__' })) },
    { name: 'no sub', headers: bearer(signWith(secret, 'HS256', { user: admin.id })) },
    { name: 'sub urn:uuid', headers: bearer(signWith(secret, 'HS256', { sub: `urn:uuid:${admin.id}` })) }
  ]
  return {
    admin,
    m1,
    m2,
    inactive,
    u1: { id: u1.id, email: u1.email },
    u2: { id: u2.id, email: u2.email },
    org: { own, own2, other, deleted },
    contact,
    opp,
    interaction,
    etag,
    badCreds
  }
}

export type IdKind = 'org' | 'contact' | 'opp' | 'user'

interface Teardown { teardown (fn: () => unknown): void }

export interface World {
  app: FastifyInstance
  /** A connection of the test's own to its database, for checksums and snapshots. */
  client: pg.Client
  fx: Fixture
  actors: Record<Actor, TestUser>
  /** The fixture's ids by kind, and all of them (the interaction's too). */
  ids: Record<IdKind, string[]>
  allIds: string[]
  /** When the fixture was ready (Date.now()). */
  started: number
}

/** A fresh database and app for one test file (both closed at its end), and the fixture in them. */
export async function setUpWorld (t: Teardown, label: string): Promise<World> {
  const db = await createTestDatabase(label)
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url, {
    // The properties send thousands of requests: neither the rate limit nor load
    // shedding on a busy shared machine is what they test.
    RATE_LIMIT_MAX: '10000000',
    MAX_EVENT_LOOP_DELAY_MS: '0',
    DASHBOARD_REFRESH_INTERVAL_MS: '0'
  })
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  t.teardown(async () => await client.end())
  const fx = await buildFixture(app, db.url, client)
  const actors: Record<Actor, TestUser> = { admin: fx.admin, m1: fx.m1, m2: fx.m2 }
  const started = Date.now()

  const ids: Record<IdKind, string[]> = {
    org: Object.values(fx.org),
    contact: Object.values(fx.contact),
    opp: Object.values(fx.opp),
    user: [fx.admin.id, fx.m1.id, fx.m2.id, fx.inactive.id, fx.u1.id, fx.u2.id]
  }
  const allIds = [...Object.values(ids).flat(), fx.interaction]
  return { app, client, fx, actors, ids, allIds, started }
}
