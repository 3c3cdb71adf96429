// The model of property 4, its reads: a row, a list of organizations (with a
// search the model matches as ILIKE would) or of an organization's children
// equals what the model holds, for what the caller may see.
import assert from 'node:assert/strict'
import type { ModelCore } from './model-core'
import type { OpOf } from './model-ops'
import {
  CONTACT_KEYS, INTERACTION_KEYS, OPP_KEYS, ORG_KEYS, ORG_SUMMARY_KEYS, contactRepr, interactionRepr, oppRepr, orgRepr, pickKeys, type OrgRow
} from './model-state'
import { checkAnswer, show } from './requests'

const isAscii = (s: string): boolean => /^[\x20-\x7e]*$/.test(s)
/** Whether PostgreSQL's ILIKE substring match must hold (true/false), or undefined where case folding beyond ASCII makes it uncertain. */
function ilike (name: string, search: string): boolean | undefined {
  if (name.includes(search)) return true
  if (isAscii(name) && isAscii(search)) return name.toLowerCase().includes(search.toLowerCase())
  return undefined
}

export async function get (m: ModelCore, op: OpOf<'get'>): Promise<number> {
  const s = m.state
  if (op.what === 'org') {
    const { id, row } = m.pick(s.organizations, op.ref, undefined, (o) => m.orgVisible(op.actor, o))
    const expect = m.gate(op.actor) ?? (m.orgVisible(op.actor, row) ? 200 : 404)
    const { req, res } = await m.request(op.actor, 'GET', `/organizations/${id}`)
    const body = checkAnswer(req, res, [expect])
    if (expect === 200) m.same('organization', body, { ...orgRepr(row!), ...m.counts(id) }, [...ORG_KEYS, 'contactCount', 'interactionCount', 'opportunityCount'], req)
    return res.statusCode
  }
  if (op.what === 'contact') {
    const { id, row } = m.pick(s.contacts, op.ref, undefined, (c) => m.contactVisible(op.actor, c))
    const expect = m.gate(op.actor) ?? (m.contactVisible(op.actor, row) ? 200 : 404)
    const { req, res } = await m.request(op.actor, 'GET', `/contacts/${id}`)
    const body = checkAnswer(req, res, [expect])
    if (expect === 200) m.same('contact', body, contactRepr(row!), CONTACT_KEYS, req)
    return res.statusCode
  }
  const { id, row } = m.pick(s.opportunities, op.ref, undefined, (o) => m.oppVisible(op.actor, o))
  const expect = m.gate(op.actor) ?? (m.oppVisible(op.actor, row) ? 200 : 404)
  const { req, res } = await m.request(op.actor, 'GET', `/opportunities/${id}`)
  const body = checkAnswer(req, res, [expect])
  if (expect === 200) m.same('opportunity', body, oppRepr(row!), OPP_KEYS, req)
  return res.statusCode
}

export async function listOrgs (m: ModelCore, op: OpOf<'listOrgs'>): Promise<number> {
  const s = m.state
  const query = ['limit=200', ...(op.search !== null ? [`search=${encodeURIComponent(op.search)}`] : []), ...(op.priority !== null ? [`priorityLevel=${op.priority}`] : [])].join('&')
  const expect = m.gate(op.actor) ?? 200
  const { req, res } = await m.request(op.actor, 'GET', `/organizations?${query}`)
  const body = checkAnswer(req, res, [expect])
  if (expect !== 200) return res.statusCode
  const candidates = [...s.organizations.values()].filter((o) => m.orgVisible(op.actor, o) && (op.priority === null || o.priority_level === op.priority))
  const match = (o: OrgRow): boolean | undefined => op.search === null ? true : ilike(o.name, op.search)
  const returned = body.data as Array<Record<string, unknown>>
  const where = `${show(req)} → ${returned.length} rows`
  for (const item of returned) {
    const row = candidates.find((o) => o.id === item.id)
    assert.ok(row !== undefined, `listed an organization the caller may not see or that does not match the filters (${String(item.id)}): ${where}`)
    assert.notEqual(match(row), false, `listed an organization whose name does not contain the search (${JSON.stringify(row.name)}): ${where}`)
    m.same('listed organization', item, { ...pickKeys(orgRepr(row), ORG_SUMMARY_KEYS), ...m.counts(row.id) }, [...ORG_SUMMARY_KEYS, 'contactCount', 'interactionCount', 'opportunityCount'], req)
  }
  const sure = candidates.filter((o) => match(o) === true)
  const possible = candidates.filter((o) => match(o) !== false)
  if (possible.length <= 200) {
    const ids = new Set(returned.map((item) => item.id))
    const missing = sure.filter((o) => !ids.has(o.id)).map((o) => JSON.stringify(o.name))
    assert.deepEqual(missing, [], `organizations that match are missing: ${where}`)
    assert.equal(body.page.hasMore, false, `hasMore: ${where}`)
  } else {
    assert.equal(returned.length, 200, `a full page: ${where}`)
  }
  return res.statusCode
}

export async function listChildren (m: ModelCore, op: OpOf<'listChildren'>): Promise<number> {
  const s = m.state
  const { id: orgId, row: org } = m.pick(s.organizations, op.ref, undefined, (o) => m.orgVisible(op.actor, o))
  const stageQuery = op.what === 'opportunities' && op.stage !== null ? `&stage=${op.stage}` : ''
  const expect = m.gate(op.actor) ?? (m.orgVisible(op.actor, org) ? 200 : 404)
  const { req, res } = await m.request(op.actor, 'GET', `/organizations/${orgId}/${op.what}?limit=200${stageQuery}`)
  const body = checkAnswer(req, res, [expect])
  if (expect !== 200) return res.statusCode
  const items = body.data as Array<Record<string, unknown>>
  let expected: Array<Record<string, unknown>>
  let keys: string[]
  if (op.what === 'contacts') {
    expected = [...s.contacts.values()].filter((c) => c.organization_id === orgId && !c.is_deleted).map(contactRepr)
    keys = CONTACT_KEYS
  } else if (op.what === 'interactions') {
    expected = [...s.interactions.values()].filter((i) => i.organization_id === orgId).map(interactionRepr)
    keys = INTERACTION_KEYS
  } else {
    expected = [...s.opportunities.values()].filter((o) => o.organization_id === orgId && (op.stage === null || o.stage === op.stage)).map(oppRepr)
    keys = OPP_KEYS
  }
  const byId = (a: Record<string, unknown>, b: Record<string, unknown>): number => String(a.id).localeCompare(String(b.id))
  assert.deepEqual(items.map((item) => pickKeys(item, keys)).sort(byId), expected.sort(byId), `the list differs from the model: ${show(req)}`)
  return res.statusCode
}
