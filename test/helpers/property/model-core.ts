// The model of property 4, its core: the state it predicts, what each actor
// may see, the requests it sends, and the final check that every row of every
// table equals the model. The operations themselves are in model-writes.ts and
// model-reads.ts; model.ts runs them.
import assert from 'node:assert/strict'
import type pg from 'pg'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { TestUser } from '../api'
import { tableChecksums } from '../checksum'
import type { Actor, Fixture } from './fixture'
import { DATA_TABLES, pickKeys, snapshot, type ContactRow, type DataTable, type OppRow, type OrgRow, type State, type UserRow } from './model-state'
import type { Assignee, IfMatchMode, Ref } from './model-ops'
import { applyPoison, encode, type BodySpec, type Encoded, type Encoding, type Poison } from './poison'
import { API, checkAnswer, send, show, type Method, type Req } from './requests'
import type { Body } from './values'

/** Stages an organization's opportunityCount leaves out. */
const CLOSED = new Set(['closed-won', 'closed-lost'])

/** A row picked by ModelCore.pick: its id, and the row when the map holds it. */
interface Picked<T> { id: string; row: T | undefined }

/** The state, the helpers and the final check the operations of model-writes.ts and model-reads.ts share. */
export class ModelCore {
  state!: State
  private start0!: State
  touched = new Set<string>()
  createdAt = new Map<string, number>()

  constructor (private readonly app: FastifyInstance, private readonly client: pg.Client, readonly fx: Fixture) {}

  async start (): Promise<void> {
    this.start0 = await snapshot(this.client)
    this.state = await snapshot(this.client)
    this.touched = new Set()
    this.createdAt = new Map()
  }

  user (actor: Actor): TestUser { return this.fx[actor] }
  row (actor: Actor): UserRow | undefined { return this.state.users.get(this.user(actor).id) }

  /** 401 for an inactive caller, 403 for a member on an admin route. */
  gate (actor: Actor, adminOnly = false): number | undefined {
    const row = this.row(actor)
    if (row === undefined || !row.is_active) return 401
    if (adminOnly && row.role !== 'admin') return 403
    return undefined
  }

  pick<T> (map: Map<string, T>, ref: Ref, filter: (row: T) => boolean = () => true, visible: (row: T) => boolean = () => true): Picked<T> {
    if ('id' in ref) return { id: ref.id, row: map.get(ref.id) }
    const keys = [...map.keys()].filter((k) => filter(map.get(k)!) && (!ref.mine || visible(map.get(k)!))).sort()
    if (keys.length === 0) return { id: '00000000-0000-4000-8000-000000000001', row: undefined }
    const id = keys[ref.n % keys.length]!
    return { id, row: map.get(id) }
  }

  orgVisible (actor: Actor, org: OrgRow | undefined): boolean {
    const row = this.row(actor)
    return org !== undefined && !org.is_deleted && row !== undefined && (row.role === 'admin' || org.assigned_user_id === row.id)
  }

  contactVisible (actor: Actor, contact: ContactRow | undefined): boolean {
    return contact !== undefined && !contact.is_deleted && this.orgVisible(actor, this.state.organizations.get(contact.organization_id))
  }

  oppVisible (actor: Actor, opp: OppRow | undefined): boolean {
    return opp !== undefined && this.orgVisible(actor, this.state.organizations.get(opp.organization_id))
  }

  counts (orgId: string): Record<string, number> {
    return {
      contactCount: [...this.state.contacts.values()].filter((c) => c.organization_id === orgId && !c.is_deleted).length,
      interactionCount: [...this.state.interactions.values()].filter((i) => i.organization_id === orgId).length,
      opportunityCount: [...this.state.opportunities.values()].filter((o) => o.organization_id === orgId && !CLOSED.has(o.stage)).length
    }
  }

  async request (actor: Actor, method: Method, path: string, encoded?: Encoded, ifMatch?: string): Promise<{ req: Req; res: LightMyRequestResponse }> {
    const headers: Record<string, string> = { ...this.user(actor).headers }
    if (encoded?.contentType !== undefined && encoded.contentType !== '') headers['content-type'] = encoded.contentType
    if (ifMatch !== undefined) headers['if-match'] = ifMatch
    const req: Req = { method, url: `${API}${path}`, headers, who: actor, ...(encoded !== undefined ? { payload: encoded.payload } : {}) }
    return { req, res: await send(this.app, req) }
  }

  /** The If-Match header a mode stands for; 'fresh' reads the current ETag first (a GET the model also checks). */
  async ifMatch (mode: IfMatchMode, actor: Actor, path: string, visible: boolean): Promise<string | undefined> {
    if (mode === 'none') return undefined
    if (mode === 'star') return '*'
    if (mode === 'stale') return '"stale"'
    const { req, res } = await this.request(actor, 'GET', path)
    checkAnswer(req, res, [this.gate(actor) ?? (visible ? 200 : 404)])
    return res.statusCode === 200 ? String(res.headers.etag) : '"gone"'
  }

  body (fields: Body, poison: Poison | undefined, enc: Encoding, spec: BodySpec): Encoded {
    return poison !== undefined ? applyPoison(fields, spec, poison) : encode(fields, enc)
  }

  assigneeId (assignee: Assignee, actor: Actor): string | undefined {
    if (assignee === 'omit') return undefined
    if (assignee === 'self') return this.user(actor).id
    if ('id' in assignee) return assignee.id
    return this.pick(this.state.users, assignee).id
  }

  /** 403/400 for an assignee the caller may not use, as OrganizationService.checkAssignee decides. */
  assigneeError (actor: Actor, assigned: string | undefined): number | undefined {
    if (assigned === undefined || assigned === this.user(actor).id) return undefined
    if (this.row(actor)!.role !== 'admin') return 403
    return this.state.users.get(assigned)?.is_active === true ? undefined : 400
  }

  clearPrimary (organizationId: string, except?: string): void {
    for (const contact of this.state.contacts.values()) {
      if (contact.organization_id === organizationId && contact.is_primary && contact.id !== except) {
        contact.is_primary = false
        this.touched.add(`contacts/${contact.id}`)
      }
    }
  }

  created (table: DataTable, body: any): void {
    this.createdAt.set(`${table}/${body.id as string}`, Date.parse(body.createdAt))
  }

  same (what: string, answer: any, expected: Record<string, unknown>, keys: string[], req: Req): void {
    assert.deepEqual(pickKeys(answer, keys), expected, `${what} differs from the model: ${show(req)}`)
  }

  /** Every row of every table equals the model; timestamps of untouched rows are unchanged, and new rows carry the createdAt they were answered with. */
  async verify (): Promise<void> {
    const actual = await snapshot(this.client)
    for (const table of DATA_TABLES) {
      const expected = this.state[table] as Map<string, unknown>
      const found = actual[table] as Map<string, unknown>
      const problems: string[] = []
      for (const id of new Set([...expected.keys(), ...found.keys()])) {
        const want = expected.get(id)
        const got = found.get(id)
        try {
          assert.deepEqual(got, want)
        } catch {
          problems.push(`${id}: database ${JSON.stringify(got)} ≠ model ${JSON.stringify(want)}`)
        }
      }
      assert.deepEqual(problems.slice(0, 5), [], `table ${table}: ${found.size} rows, model ${expected.size}; ${problems.length} rows differ`)
    }
    const stampProblems: string[] = []
    for (const [key, stamp] of actual.stamps) {
      const before = this.start0.stamps.get(key)
      if (before !== undefined) {
        if (!this.touched.has(key) && (before.created !== stamp.created || before.updated !== stamp.updated)) stampProblems.push(`${key} untouched but its timestamps changed: ${JSON.stringify(before)} → ${JSON.stringify(stamp)}`)
        if (before.created !== stamp.created) stampProblems.push(`${key} created_at changed`)
      } else if (String(this.createdAt.get(key)) !== stamp.createdMs) {
        stampProblems.push(`${key} created_at ${stamp.created} ≠ the answered createdAt ${String(this.createdAt.get(key))}`)
      }
    }
    assert.deepEqual(stampProblems.slice(0, 5), [], `${stampProblems.length} timestamp problems`)
    const sums = await tableChecksums(this.client)
    for (const table of DATA_TABLES) assert.equal(sums[table].rows, this.state[table].size, `row count of ${table}`)
  }
}
