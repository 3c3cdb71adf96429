// Property-based bad-input tests (fast-check, through app.inject), property
// 1 of 4: poisoned writes. Valid writes on every write route, spoiled in one
// or two ways (credentials, id, scope, body, If-Match, assignee, contact,
// email, self-demotion) → the predicted 4xx, and every table byte-identical
// (row counts + md5 over all columns) after every request. The body spoilers
// are in test/helpers/property/poison.ts (wrong types, huge strings, deep
// JSON, NUL bytes, lone surrogates, bytes that are not UTF-8, numbers past
// 2^53, duplicate and prototype-pollution keys, over 1 MiB…); every answer
// passes the checks of test/helpers/property/requests.ts within a deadline.
// Last, the regressions in request bodies the properties found (lone
// surrogates and bytes that are not UTF-8 were stored as U+FFFD).
//
// The other properties are beside this file (chaos-reads, chaos-writes,
// model); each file builds its own app and database. fast-check prints the
// seed and the shrunk counterexample of a failure; PROPERTY_SEED=<seed>
// replays it, PROPERTY_RUNS_SCALE multiplies the runs.
import assert from 'node:assert/strict'
import t from 'tap'
import fc from 'fast-check'
import { tableChecksums } from '../../helpers/checksum'
import { setUpWorld, type Actor, type IdKind } from '../../helpers/property/fixture'
import {
  PARSER_POISONS, POISON_KINDS, SPECS, STALE_ETAGS, applyPoison, encode, encodeLoose, invalidIds, poisonArb,
  type BodySpec, type Encoded, type Poison
} from '../../helpers/property/poison'
import { API, JSON_CT, assertNoPollution, checkAnswer, send, show, statusSummary, type Req } from '../../helpers/property/requests'
import { NUM_RUNS, SEED } from '../../helpers/property/runs'
import {
  contactCreate, contactPatch, interactionCreate, oppCreate, oppPatch, orgCreate, orgPatch, userCreate, userPatch, type Body
} from '../../helpers/property/values'

const flipCase = (s: string): string => [...s].map((c, i) => i % 2 === 0 ? c.toUpperCase() : c.toLowerCase()).join('')

t.test('property-based bad input: poisoned writes', async (t) => {
  const { app, client, fx, actors, ids, started } = await setUpWorld(t, 'property_poisoned')

  await t.test('poisoned writes answer their 4xx and leave every table byte-identical', async (t) => {
    interface Base {
      route: string
      method: 'POST' | 'PATCH' | 'DELETE'
      path: (id: string) => string
      id?: string
      idKind?: IdKind
      actor: Actor
      body?: Body
      spec: BodySpec
      ifMatch?: string
      adminOnly?: boolean
      scoped?: boolean
      poisons: ReadonlyArray<RequestPoison['kind']>
    }
    type RequestPoison =
      | { kind: 'auth'; n: number }
      | { kind: 'body'; poison: Poison }
      | { kind: 'id'; n: number; uuid: string; how: 'invalid' | 'random' | 'wrongKind' | 'deleted' | 'extreme' }
      | { kind: 'member'; who: 'm1' | 'm2' }
      | { kind: 'scope' }
      | { kind: 'ifMatch'; n: number }
      | { kind: 'assignee'; n: number; asMember: boolean }
      | { kind: 'contact'; n: number; uuid: string }
      | { kind: 'dupEmail'; n: number }
      | { kind: 'self'; n: number }

    const freshEmail = fc.tuple(fc.constantFrom("o'brien", '100%', 'a_b', "'--", 'x'), fc.uuid()).map(([local, u]) => `${local}.${u.slice(0, 8)}${u.slice(-4)}@fresh.example.test`)
    const ownerActor = fc.constantFrom<Actor>('admin', 'm1')
    const withIfMatch = fc.constantFrom<string | undefined>(undefined, '*')
    const nonEmpty = (arb: fc.Arbitrary<Body>, fallback: Body): fc.Arbitrary<Body> => arb.map((b) => Object.keys(b).length > 0 ? b : fallback)
    const generic = ['auth', 'body'] as const
    const bases: Array<fc.Arbitrary<Base>> = [
      fc.record({ body: fc.tuple(userCreate, freshEmail).map(([b, e]) => ({ ...b, email: e })) }).map(({ body }) => ({
        route: 'POST /users', method: 'POST' as const, path: () => '/users', actor: 'admin' as const, body, spec: SPECS.user, adminOnly: true, poisons: [...generic, 'member', 'dupEmail']
      })),
      fc.record({ body: nonEmpty(userPatch.map(({ email: _e, ...rest }) => rest), { name: 'x' }) }).map(({ body }) => ({
        route: 'PATCH /users/:id', method: 'PATCH' as const, path: (id: string) => `/users/${id}`, id: fx.u1.id, idKind: 'user' as const, actor: 'admin' as const, body, spec: SPECS.user, adminOnly: true, poisons: [...generic, 'id', 'member', 'dupEmail', 'self']
      })),
      fc.record({ actor: ownerActor, body: orgCreate, self: fc.boolean() }).map(({ actor, body, self }) => ({
        route: 'POST /organizations', method: 'POST' as const, path: () => '/organizations', actor, body: self ? { ...body, assignedUserId: actors[actor].id } : body, spec: SPECS.org, poisons: [...generic, 'assignee']
      })),
      fc.record({ actor: ownerActor, body: nonEmpty(orgPatch, { priorityLevel: 'B' }), ifMatch: fc.constantFrom<string | undefined>(undefined, '*', fx.etag.org) }).map(({ actor, body, ifMatch }) => ({
        route: 'PATCH /organizations/:id', method: 'PATCH' as const, path: (id: string) => `/organizations/${id}`, id: fx.org.own, idKind: 'org' as const, actor, body, spec: SPECS.org, ifMatch, scoped: true, poisons: [...generic, 'id', 'scope', 'ifMatch', 'assignee']
      })),
      fc.record({ actor: ownerActor }).map(({ actor }) => ({
        route: 'DELETE /organizations/:id', method: 'DELETE' as const, path: (id: string) => `/organizations/${id}`, id: fx.org.own2, idKind: 'org' as const, actor, spec: SPECS.none, scoped: true, poisons: [...generic, 'id', 'scope']
      })),
      fc.record({ actor: ownerActor, body: contactCreate }).map(({ actor, body }) => ({
        route: 'POST /organizations/:id/contacts', method: 'POST' as const, path: (id: string) => `/organizations/${id}/contacts`, id: fx.org.own, idKind: 'org' as const, actor, body, spec: SPECS.contact, scoped: true, poisons: [...generic, 'id', 'scope']
      })),
      fc.record({ actor: ownerActor, body: nonEmpty(contactPatch, { title: 'CEO' }), ifMatch: fc.constantFrom<string | undefined>(undefined, '*', fx.etag.contact) }).map(({ actor, body, ifMatch }) => ({
        route: 'PATCH /contacts/:id', method: 'PATCH' as const, path: (id: string) => `/contacts/${id}`, id: fx.contact.own, idKind: 'contact' as const, actor, body, spec: SPECS.contact, ifMatch, scoped: true, poisons: [...generic, 'id', 'scope', 'ifMatch']
      })),
      fc.record({ actor: ownerActor }).map(({ actor }) => ({
        route: 'DELETE /contacts/:id', method: 'DELETE' as const, path: (id: string) => `/contacts/${id}`, id: fx.contact.own2, idKind: 'contact' as const, actor, spec: SPECS.none, scoped: true, poisons: [...generic, 'id', 'scope']
      })),
      fc.record({ actor: ownerActor, body: interactionCreate, withContact: fc.boolean() }).map(({ actor, body, withContact }) => ({
        route: 'POST /organizations/:id/interactions', method: 'POST' as const, path: (id: string) => `/organizations/${id}/interactions`, id: fx.org.own, idKind: 'org' as const, actor, body: withContact ? { ...body, contactId: fx.contact.own2 } : body, spec: SPECS.interaction, scoped: true, poisons: [...generic, 'id', 'scope', 'contact']
      })),
      fc.record({ actor: ownerActor, body: oppCreate }).map(({ actor, body }) => ({
        route: 'POST /organizations/:id/opportunities', method: 'POST' as const, path: (id: string) => `/organizations/${id}/opportunities`, id: fx.org.own, idKind: 'org' as const, actor, body, spec: SPECS.opp, scoped: true, poisons: [...generic, 'id', 'scope']
      })),
      fc.record({ actor: ownerActor, body: nonEmpty(oppPatch, { stage: 'closed-won' }), ifMatch: withIfMatch }).map(({ actor, body, ifMatch }) => ({
        route: 'PATCH /opportunities/:id', method: 'PATCH' as const, path: (id: string) => `/opportunities/${id}`, id: fx.opp.own, idKind: 'opp' as const, actor, body, spec: SPECS.opp, ifMatch, scoped: true, poisons: [...generic, 'id', 'scope', 'ifMatch']
      }))
    ]

    const poisonFor = (base: Base): fc.Arbitrary<RequestPoison> => fc.constantFrom(...base.poisons).chain((kind): fc.Arbitrary<RequestPoison> => {
      switch (kind) {
        case 'auth': return fc.nat().map((n) => ({ kind, n }))
        case 'body': return poisonArb(base.method === 'DELETE' ? PARSER_POISONS : POISON_KINDS).map((poison) => ({ kind, poison }))
        case 'id': return fc.record({ n: fc.nat(), uuid: fc.uuid(), how: fc.constantFrom('invalid', 'invalid', 'random', 'wrongKind', 'deleted', 'extreme') }).map((p) => ({ kind, ...p }))
        case 'member': return fc.constantFrom('m1', 'm2').map((who) => ({ kind, who }))
        case 'scope': return fc.constant({ kind })
        case 'ifMatch': return fc.nat().map((n) => ({ kind, n }))
        case 'assignee': return fc.record({ n: fc.nat(), asMember: fc.boolean() }).map((p) => ({ kind, ...p }))
        case 'contact': return fc.record({ n: fc.nat(), uuid: fc.uuid() }).map((p) => ({ kind, ...p }))
        case 'dupEmail': return fc.nat().map((n) => ({ kind, n }))
        case 'self': return fc.nat().map((n) => ({ kind, n }))
      }
    })

    function build (base: Base, poisons: RequestPoison[]): { req: Req; expect: number[] } {
      let headers: Record<string, string> = actors[base.actor].headers
      let who: string = base.actor
      let id = base.id ?? ''
      let encodedId: string | undefined
      const body: Body = { ...base.body }
      let bodyPoison: Poison | undefined
      let ifMatch = base.ifMatch
      const expect = new Set<number>()
      const setActor = (actor: Actor): void => { headers = actors[actor].headers; who = actor }
      for (const p of poisons) {
        switch (p.kind) {
          case 'auth': { const cred = fx.badCreds[p.n % fx.badCreds.length]!; headers = cred.headers; who = cred.name; expect.add(401); break }
          case 'body': bodyPoison = p.poison; break
          case 'id': {
            const kind = base.idKind!
            if (p.how === 'invalid') {
              const list = invalidIds(id)
              const [raw, statuses] = list[p.n % list.length]!
              encodedId = encodeLoose(raw)
              statuses.forEach((s) => expect.add(s))
              break
            }
            encodedId = undefined
            if (p.how === 'random') id = p.uuid
            else if (p.how === 'extreme') id = ['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', p.uuid.toUpperCase()][p.n % 3]!
            else if (p.how === 'wrongKind') {
              const others = (Object.keys(ids) as IdKind[]).filter((k) => k !== kind).flatMap((k) => ids[k]).concat(fx.interaction)
              id = others[p.n % others.length]!
            } else {
              const deleted = {
                org: [fx.org.deleted],
                contact: [fx.contact.deleted, fx.contact.inDeletedOrg],
                opp: [fx.opp.inDeletedOrg],
                user: [p.uuid]
              }[kind]
              id = deleted[p.n % deleted.length]!
            }
            expect.add(404)
            break
          }
          case 'member': setActor(p.who); expect.add(403); break
          case 'scope': setActor('m2'); expect.add(404); expect.add(403); break
          case 'ifMatch': {
            const etag = base.route.startsWith('PATCH /organizations') ? fx.etag.org : base.route.startsWith('PATCH /contacts') ? fx.etag.contact : fx.etag.opp
            const stale = [...STALE_ETAGS, `W/${etag}`, etag.slice(0, -2) + '"', `${etag.slice(0, -1)}x"`, etag.toLowerCase() === etag ? etag.toUpperCase() : etag.toLowerCase()]
            ifMatch = stale[p.n % stale.length]
            expect.add(412)
            break
          }
          case 'assignee':
            if (p.asMember) {
              setActor('m1')
              body.assignedUserId = [fx.admin.id, fx.m2.id, fx.u1.id][p.n % 3]
              expect.add(403)
            } else {
              setActor('admin')
              body.assignedUserId = [fx.inactive.id, '00000000-0000-4000-8000-000000000000', fx.org.own, fx.contact.own][p.n % 4]
              expect.add(400)
            }
            break
          case 'contact':
            body.contactId = [fx.contact.other, fx.contact.deleted, fx.contact.inDeletedOrg, fx.org.own, p.uuid][p.n % 5]
            expect.add(400)
            break
          case 'dupEmail': {
            const taken = base.route === 'POST /users' ? [fx.u1.email, fx.u2.email, fx.admin.email, fx.inactive.email] : [fx.u2.email, fx.admin.email, fx.m1.email, fx.inactive.email]
            const pickEmail = taken[p.n % taken.length]!
            body.email = p.n % 2 === 0 ? pickEmail.toUpperCase() : flipCase(pickEmail)
            expect.add(409)
            break
          }
          case 'self':
            id = p.n % 2 === 0 ? fx.admin.id : fx.admin.id.toUpperCase()
            encodedId = undefined
            Object.assign(body, p.n % 4 < 2 ? { isActive: false } : { role: 'member' })
            expect.add(409)
            break
        }
      }
      let encoded: Encoded | undefined
      if (bodyPoison !== undefined) {
        encoded = applyPoison(body, base.spec, bodyPoison)
        expect.add(encoded.status)
      } else if (base.method !== 'DELETE') {
        encoded = encode(body, 'plain')
      }
      const reqHeaders: Record<string, string> = { ...headers }
      if (encoded?.contentType !== undefined && encoded.contentType !== '') reqHeaders['content-type'] = encoded.contentType
      if (ifMatch !== undefined) reqHeaders['if-match'] = ifMatch
      const req: Req = { method: base.method, url: `${API}${base.path(encodedId ?? id)}`, headers: reqHeaders, who, ...(encoded !== undefined ? { payload: encoded.payload } : {}) }
      return { req, expect: [...expect] }
    }

    const initial = await tableChecksums(client)
    const seen = new Map<string, number>()
    await fc.assert(fc.asyncProperty(
      fc.oneof(...bases).chain((base) => fc.tuple(fc.constant(base), fc.array(poisonFor(base), { minLength: 1, maxLength: 2 }))),
      async ([base, poisons]) => {
        const { req, expect } = build(base, poisons)
        const res = await send(app, req)
        checkAnswer(req, res, expect)
        seen.set(base.route, (seen.get(base.route) ?? 0) + 1)
        assert.deepEqual(await tableChecksums(client), initial, `a rejected write changed a table: ${show(req)} → ${res.statusCode}`)
        assertNoPollution()
      }
    ), { numRuns: NUM_RUNS.poisoned, includeErrorInReport: true, ...SEED })
    t.equal(seen.size, bases.length, `every write route was exercised: ${JSON.stringify(Object.fromEntries(seen))}`)
    t.same(await tableChecksums(client), initial, 'row counts and checksums of every table are unchanged')
  })

  await t.test('regressions found by the properties: request bodies', async (t) => {
    // A lone surrogate (\ud800) was stored as U+FFFD behind a 201: the client's text silently changed.
    for (const payload of ['{"name":"\\ud800"}', '{"name":"a\\udfffb"}', '{"name":"\\udc00\\ud800"}', '{"name":"x","industrySegment":"\\\\\\ud800"}']) {
      const res = await send(app, { method: 'POST', url: `${API}/organizations`, headers: { ...fx.admin.headers, 'content-type': JSON_CT }, payload, who: 'admin' })
      t.equal(res.statusCode, 400, payload)
      t.match(res.json().message, /^body must not contain unpaired surrogates/)
    }
    const bytes = await send(app, { method: 'POST', url: `${API}/organizations`, headers: { ...fx.admin.headers, 'content-type': JSON_CT }, payload: Buffer.from([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), who: 'admin' })
    t.equal(bytes.statusCode, 400, 'bytes that are not UTF-8 (0xFF) are refused, not stored as U+FFFD')
    t.match(bytes.json().message, /^body must be valid UTF-8/)
    const pair = await send(app, { method: 'POST', url: `${API}/organizations`, headers: { ...fx.admin.headers, 'content-type': JSON_CT }, payload: '{"name":"\\ud83d\\ude00 \\\\ud800"}', who: 'admin' })
    t.equal(pair.statusCode, 201, 'an escaped pair and the text \\ud800 are fine')
    t.equal(pair.json().name, '😀 \\ud800')
  })

  t.comment(statusSummary(started))
})
