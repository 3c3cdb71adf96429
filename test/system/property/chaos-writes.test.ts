// Property-based bad-input tests (fast-check, through app.inject), property
// 3 of 4: chaos writes. Every write route with arbitrary JSON (valid bodies
// in valid encodings, arbitrary values under the route's keys and unknown
// ones, poisoned bodies, any JSON), actors (the admin, two members,
// credentials that must fail) and targets (the fixture's rows, rows earlier
// successes created, random and invalid ids) → a 2xx changes exactly the
// rows it names, anything else changes no row; every answer passes the
// checks of test/helpers/property/requests.ts within a deadline.
//
// The other properties are beside this file (poisoned-writes, chaos-reads,
// model); each file builds its own app and database. fast-check prints the
// seed and the shrunk counterexample of a failure; PROPERTY_SEED=<seed>
// replays it, PROPERTY_RUNS_SCALE multiplies the runs.
import assert from 'node:assert/strict'
import t from 'tap'
import fc from 'fast-check'
import { diffRows, rowHashes } from '../../helpers/checksum'
import { setUpWorld, type Actor, type IdKind } from '../../helpers/property/fixture'
import { SPECS, STALE_ETAGS, SURROGATES, UNKNOWN_KEYS, applyPoison, encode, encodeLoose, encodingArb, invalidIds, poisonArb, type BodySpec } from '../../helpers/property/poison'
import { API, CONTRACT_4XX, JSON_CT, assertNoPollution, checkAnswer, clip, send, show, statusSummary, type Req } from '../../helpers/property/requests'
import { NUM_RUNS, SEED } from '../../helpers/property/runs'
import {
  contactCreate, contactPatch, interactionCreate, oppCreate, oppPatch, orgCreate, orgPatch, text, userCreate, userPatch, type Body
} from '../../helpers/property/values'

t.test('property-based bad input: chaos writes', async (t) => {
  const { app, client, fx, actors, ids, allIds, started } = await setUpWorld(t, 'property_chaos_writes')

  await t.test('chaos writes: a 2xx changes exactly the rows it names, any other answer none', async (t) => {
    interface WriteRoute { name: string; method: 'POST' | 'PATCH' | 'DELETE'; path: (id: string) => string; spec: BodySpec; valid?: fc.Arbitrary<Body>; table?: string; target?: string; idKind?: IdKind }
    const routes: WriteRoute[] = [
      { name: 'createUser', method: 'POST', path: () => '/users', spec: SPECS.user, valid: userCreate, table: 'users' },
      { name: 'patchUser', method: 'PATCH', path: (id) => `/users/${id}`, spec: SPECS.user, valid: userPatch, target: 'users', idKind: 'user' },
      { name: 'createOrg', method: 'POST', path: () => '/organizations', spec: SPECS.org, valid: orgCreate, table: 'organizations' },
      { name: 'patchOrg', method: 'PATCH', path: (id) => `/organizations/${id}`, spec: SPECS.org, valid: orgPatch, target: 'organizations', idKind: 'org' },
      { name: 'deleteOrg', method: 'DELETE', path: (id) => `/organizations/${id}`, spec: SPECS.none, target: 'organizations', idKind: 'org' },
      { name: 'createContact', method: 'POST', path: (id) => `/organizations/${id}/contacts`, spec: SPECS.contact, valid: contactCreate, table: 'contacts', idKind: 'org' },
      { name: 'patchContact', method: 'PATCH', path: (id) => `/contacts/${id}`, spec: SPECS.contact, valid: contactPatch, target: 'contacts', idKind: 'contact' },
      { name: 'deleteContact', method: 'DELETE', path: (id) => `/contacts/${id}`, spec: SPECS.none, target: 'contacts', idKind: 'contact' },
      { name: 'createInteraction', method: 'POST', path: (id) => `/organizations/${id}/interactions`, spec: SPECS.interaction, valid: interactionCreate, table: 'interactions', idKind: 'org' },
      { name: 'createOpp', method: 'POST', path: (id) => `/organizations/${id}/opportunities`, spec: SPECS.opp, valid: oppCreate, table: 'opportunities', idKind: 'org' },
      { name: 'patchOpp', method: 'PATCH', path: (id) => `/opportunities/${id}`, spec: SPECS.opp, valid: oppPatch, target: 'opportunities', idKind: 'opp' },
      { name: 'refreshDashboard', method: 'POST', path: () => '/admin/dashboard/refresh', spec: SPECS.none }
    ]
    const anyValue = fc.oneof(
      { weight: 3, arbitrary: text(300) },
      { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
      { weight: 1, arbitrary: fc.constantFrom<unknown>(null, true, false, 0, -1, 1.5, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, -0, '', ' ', [], {}, [null], ['x'], { __proto__: null }, fx.m1.id, fx.org.own, 'A', 'closed-won', 'call', 'admin', '2024-02-29', '1.23', '1e3') },
      { weight: 1, arbitrary: fc.constantFrom(...SURROGATES, '\u0000', 'x'.repeat(256), '😀'.repeat(256)) }
    )
    const bodyKey = (route: WriteRoute): fc.Arbitrary<string> => fc.oneof(
      { weight: 5, arbitrary: fc.constantFrom(...route.spec.keys) },
      { weight: 1, arbitrary: fc.constantFrom(...UNKNOWN_KEYS) }
    )
    const bodyFor = (route: WriteRoute): fc.Arbitrary<{ payload?: string | Buffer; contentType?: string }> => fc.oneof(
      { weight: route.valid !== undefined ? 8 : 0, arbitrary: fc.tuple(route.valid ?? fc.constant({}), encodingArb).map(([b, enc]) => encode(b, enc)) },
      { weight: 3, arbitrary: fc.dictionary(bodyKey(route), anyValue, { maxKeys: 5 }).map((b) => ({ payload: JSON.stringify(b), contentType: JSON_CT })) },
      { weight: 2, arbitrary: fc.tuple(route.valid ?? fc.constant({}), poisonArb()).map(([b, p]) => applyPoison(b, route.spec, p)) },
      { weight: 1, arbitrary: fc.json({ maxDepth: 4 }).map((payload) => ({ payload, contentType: JSON_CT })) },
      { weight: route.method === 'POST' ? 0 : 1, arbitrary: fc.constant({}) }
    )
    const cred = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom<Actor>('admin', 'admin', 'm1', 'm2').map((a) => ({ name: a, headers: actors[a].headers })) },
      { weight: 1, arbitrary: fc.constantFrom(...fx.badCreds) }
    )
    // Rows created by earlier successes are targets too (the fixture's own may be deleted by then).
    const grown: Record<IdKind, string[]> = { org: [...ids.org], contact: [...ids.contact], opp: [...ids.opp], user: [...ids.user] }
    const kindOfTable: Record<string, IdKind> = { users: 'user', organizations: 'org', contacts: 'contact', opportunities: 'opp' }
    const idArb = (route: WriteRoute): fc.Arbitrary<string | { grown: number }> => fc.oneof(
      { weight: route.idKind !== undefined ? 8 : 0, arbitrary: fc.nat().map((n) => ({ grown: n })) },
      { weight: 4, arbitrary: fc.constantFrom(...(route.idKind !== undefined ? ids[route.idKind] : allIds)) },
      { weight: 2, arbitrary: fc.constantFrom(...allIds) },
      { weight: 1, arbitrary: fc.constantFrom(...allIds).map((id) => id.toUpperCase()) },
      { weight: 1, arbitrary: fc.uuid() },
      { weight: 1, arbitrary: fc.constantFrom(...invalidIds(fx.org.own).map(([raw]) => encodeLoose(raw))) }
    )
    const requestArb = fc.constantFrom(...routes).chain((route) => fc.record({
      route: fc.constant(route),
      id: idArb(route),
      body: bodyFor(route),
      cred,
      ifMatch: fc.option(fc.constantFrom('*', ...STALE_ETAGS.slice(0, 5), fx.etag.org, fx.etag.contact, fx.etag.opp), { freq: 5 })
    }))
    let before = await rowHashes(client)
    const successes = new Map<string, number>()
    await fc.assert(fc.asyncProperty(requestArb, async (generated) => {
      const { id: choice, ...rest } = generated
      const pool = grown[generated.route.idKind ?? 'org']
      const r = { ...rest, id: typeof choice === 'string' ? choice : pool[choice.grown % pool.length]! }
      const headers: Record<string, string> = { ...r.cred.headers }
      if (r.body.contentType !== undefined && r.body.contentType !== '') headers['content-type'] = r.body.contentType
      if (r.ifMatch !== null) headers['if-match'] = r.ifMatch
      const req: Req = { method: r.route.method, url: `${API}${r.route.path(r.id)}`, headers, who: r.cred.name, ...(r.body.payload !== undefined ? { payload: r.body.payload } : {}) }
      const res = await send(app, req)
      const body = checkAnswer(req, res, [200, 201, 204, ...CONTRACT_4XX])
      const after = await rowHashes(client)
      const diff = diffRows(before, after)
      const where = `${show(req)} → ${res.statusCode} ${clip(res.body, 200)}: ${JSON.stringify(diff)}`
      assert.deepEqual(diff.removed, [], `rows disappeared: ${where}`)
      if (res.statusCode >= 300) {
        assert.deepEqual(diff, { added: [], removed: [], changed: [] }, `a rejected write changed rows: ${where}`)
      } else {
        successes.set(r.route.name, (successes.get(r.route.name) ?? 0) + 1)
        const { table, target } = r.route
        if (table !== undefined) {
          assert.deepEqual(diff.added, [`${table}/${body.id as string}`], `a create added other rows: ${where}`)
          if (kindOfTable[table] !== undefined) grown[kindOfTable[table]].push(body.id)
        } else assert.deepEqual(diff.added, [], `rows were added: ${where}`)
        let changed = diff.changed
        if (target !== undefined) {
          assert.ok(changed.includes(`${target}/${r.id.toLowerCase()}`), `the target row did not change: ${where}`)
          changed = changed.filter((key) => key !== `${target}/${r.id.toLowerCase()}`)
        }
        if (r.route.name === 'createContact' || r.route.name === 'patchContact') {
          // Setting a primary contact clears the previous primary of the same organization, and nothing else.
          const organizationId = String(body.organizationId)
          for (const key of changed) {
            assert.ok(key.startsWith('contacts/'), `a row outside contacts changed: ${where}`)
            const { rows } = await client.query('SELECT organization_id::text AS o, is_primary FROM contacts WHERE id = $1', [key.slice('contacts/'.length)])
            assert.deepEqual(rows[0], { o: organizationId, is_primary: false }, `a contact of another organization changed: ${where}`)
            assert.equal(body.isPrimary, true, `other contacts changed without a primary change: ${where}`)
          }
        } else {
          assert.deepEqual(changed, [], `rows other than the target changed: ${where}`)
        }
      }
      before = after
      assertNoPollution()
    }), { numRuns: NUM_RUNS.chaosWrites, includeErrorInReport: true, ...SEED })
    t.ok(successes.size >= 6, `successful writes on many routes: ${JSON.stringify(Object.fromEntries(successes))}`)
  })

  t.comment(statusSummary(started))
})
