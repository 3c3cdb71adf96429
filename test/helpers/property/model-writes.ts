// The model of property 4, its writes: each operation predicts its status
// (401 for an inactive caller, 403 for a member on an admin route, the status
// of a poisoned body, 404 for a row the caller may not see, 400/403/409/412 as
// the service decides), checks the answer against the model, and applies a
// success to it.
import type { ModelCore } from './model-core'
import type { OpOf } from './model-ops'
import {
  CONTACT_KEYS, INTERACTION_KEYS, OPP_KEYS, ORG_KEYS, USER_KEYS, contactRepr, interactionRepr, money2, oppRepr, orgRepr, userRepr,
  type ContactRow, type InteractionRow, type OppRow, type OrgRow, type UserRow
} from './model-state'
import { SPECS } from './poison'
import { checkAnswer } from './requests'
import type { Body } from './values'

export async function createOrg (m: ModelCore, op: OpOf<'createOrg'>): Promise<number> {
  const s = m.state
  const fields: Body = { ...op.fields }
  const assigned = m.assigneeId(op.assignee, op.actor)
  if (assigned !== undefined) fields.assignedUserId = assigned
  const encoded = m.body(fields, op.poison, op.enc, SPECS.org)
  const expect = m.gate(op.actor) ?? (op.poison !== undefined ? encoded.status : undefined) ?? m.assigneeError(op.actor, assigned) ?? 201
  const { req, res } = await m.request(op.actor, 'POST', '/organizations', encoded)
  const body = checkAnswer(req, res, [expect])
  if (expect === 201) {
    const row: OrgRow = {
      id: body.id,
      name: fields.name as string,
      industry_segment: (fields.industrySegment as string | undefined) ?? null,
      priority_level: (fields.priorityLevel as string | undefined) ?? 'C',
      primary_email: (fields.primaryEmail as string | undefined) ?? null,
      primary_phone: (fields.primaryPhone as string | undefined) ?? null,
      website: (fields.website as string | undefined) ?? null,
      annual_revenue: fields.annualRevenue === undefined || fields.annualRevenue === null ? null : String(fields.annualRevenue),
      assigned_user_id: assigned ?? m.user(op.actor).id,
      is_deleted: false
    }
    s.organizations.set(row.id, row)
    m.created('organizations', body)
    m.same('created organization', body, { ...orgRepr(row), contactCount: 0, interactionCount: 0, opportunityCount: 0 }, [...ORG_KEYS, 'contactCount', 'interactionCount', 'opportunityCount'], req)
  }
  return res.statusCode
}

export async function patchOrg (m: ModelCore, op: OpOf<'patchOrg'>): Promise<number> {
  const s = m.state
  const { id, row } = m.pick(s.organizations, op.ref, undefined, (o) => m.orgVisible(op.actor, o))
  const fields: Body = { ...op.fields }
  const assigned = m.assigneeId(op.assignee, op.actor)
  if (assigned !== undefined) fields.assignedUserId = assigned
  if (Object.keys(fields).length === 0) fields.priorityLevel = 'D'
  const visible = m.orgVisible(op.actor, row)
  const ifMatch = await m.ifMatch(op.ifMatch, op.actor, `/organizations/${id}`, visible)
  const encoded = m.body(fields, op.poison, op.enc, SPECS.org)
  const expect = m.gate(op.actor) ?? (op.poison !== undefined ? encoded.status : undefined) ?? m.assigneeError(op.actor, assigned) ??
    (!visible ? 404 : op.ifMatch === 'stale' ? 412 : 200)
  const { req, res } = await m.request(op.actor, 'PATCH', `/organizations/${id}`, encoded, ifMatch)
  const body = checkAnswer(req, res, [expect])
  if (expect === 200 && row !== undefined) {
    const map: Record<string, keyof OrgRow> = {
      name: 'name',
      industrySegment: 'industry_segment',
      priorityLevel: 'priority_level',
      primaryEmail: 'primary_email',
      primaryPhone: 'primary_phone',
      website: 'website',
      assignedUserId: 'assigned_user_id'
    }
    for (const [key, column] of Object.entries(map)) if (fields[key] !== undefined) (row as unknown as Record<string, unknown>)[column] = fields[key]
    if (fields.annualRevenue !== undefined) row.annual_revenue = fields.annualRevenue === null ? null : String(fields.annualRevenue)
    m.touched.add(`organizations/${id}`)
    m.same('patched organization', body, { ...orgRepr(row), ...m.counts(id) }, [...ORG_KEYS, 'contactCount', 'interactionCount', 'opportunityCount'], req)
  }
  return res.statusCode
}

export async function deleteOrg (m: ModelCore, op: OpOf<'deleteOrg'>): Promise<number> {
  const s = m.state
  const { id, row } = m.pick(s.organizations, op.ref, undefined, (o) => m.orgVisible(op.actor, o))
  const expect = m.gate(op.actor) ?? (m.orgVisible(op.actor, row) ? 204 : 404)
  const { req, res } = await m.request(op.actor, 'DELETE', `/organizations/${id}`)
  checkAnswer(req, res, [expect])
  if (expect === 204) {
    row!.is_deleted = true
    m.touched.add(`organizations/${id}`)
  }
  return res.statusCode
}

export async function createContact (m: ModelCore, op: OpOf<'createContact'>): Promise<number> {
  const s = m.state
  const { id: orgId, row: org } = m.pick(s.organizations, op.ref, undefined, (o) => m.orgVisible(op.actor, o))
  const encoded = m.body(op.fields, op.poison, op.enc, SPECS.contact)
  const expect = m.gate(op.actor) ?? (op.poison !== undefined ? encoded.status : undefined) ?? (m.orgVisible(op.actor, org) ? 201 : 404)
  const { req, res } = await m.request(op.actor, 'POST', `/organizations/${orgId}/contacts`, encoded)
  const body = checkAnswer(req, res, [expect])
  if (expect === 201) {
    const f = op.fields
    if (f.isPrimary === true) m.clearPrimary(orgId)
    const row: ContactRow = {
      id: body.id,
      organization_id: orgId,
      first_name: f.firstName as string,
      last_name: f.lastName as string,
      email: (f.email as string | undefined) ?? null,
      phone: (f.phone as string | undefined) ?? null,
      title: (f.title as string | undefined) ?? null,
      is_primary: f.isPrimary === true,
      is_deleted: false
    }
    s.contacts.set(row.id, row)
    m.created('contacts', body)
    m.same('created contact', body, contactRepr(row), CONTACT_KEYS, req)
  }
  return res.statusCode
}

export async function patchContact (m: ModelCore, op: OpOf<'patchContact'>): Promise<number> {
  const s = m.state
  const { id, row } = m.pick(s.contacts, op.ref, undefined, (c) => m.contactVisible(op.actor, c))
  const fields: Body = Object.keys(op.fields).length > 0 ? op.fields : { title: 'VP' }
  const visible = m.contactVisible(op.actor, row)
  const ifMatch = await m.ifMatch(op.ifMatch, op.actor, `/contacts/${id}`, visible)
  const encoded = m.body(fields, op.poison, op.enc, SPECS.contact)
  const expect = m.gate(op.actor) ?? (op.poison !== undefined ? encoded.status : undefined) ?? (!visible ? 404 : op.ifMatch === 'stale' ? 412 : 200)
  const { req, res } = await m.request(op.actor, 'PATCH', `/contacts/${id}`, encoded, ifMatch)
  const body = checkAnswer(req, res, [expect])
  if (expect === 200 && row !== undefined) {
    if (fields.isPrimary === true) m.clearPrimary(row.organization_id, id)
    const map: Record<string, keyof ContactRow> = { firstName: 'first_name', lastName: 'last_name', email: 'email', phone: 'phone', title: 'title', isPrimary: 'is_primary' }
    for (const [key, column] of Object.entries(map)) if (fields[key] !== undefined) (row as unknown as Record<string, unknown>)[column] = fields[key]
    m.touched.add(`contacts/${id}`)
    m.same('patched contact', body, contactRepr(row), CONTACT_KEYS, req)
  }
  return res.statusCode
}

export async function deleteContact (m: ModelCore, op: OpOf<'deleteContact'>): Promise<number> {
  const s = m.state
  const { id, row } = m.pick(s.contacts, op.ref, undefined, (c) => m.contactVisible(op.actor, c))
  const expect = m.gate(op.actor) ?? (m.contactVisible(op.actor, row) ? 204 : 404)
  const { req, res } = await m.request(op.actor, 'DELETE', `/contacts/${id}`)
  checkAnswer(req, res, [expect])
  if (expect === 204) {
    row!.is_deleted = true
    row!.is_primary = false
    m.touched.add(`contacts/${id}`)
  }
  return res.statusCode
}

export async function createInteraction (m: ModelCore, op: OpOf<'createInteraction'>): Promise<number> {
  const s = m.state
  const { id: orgId, row: org } = m.pick(s.organizations, op.ref, undefined, (o) => m.orgVisible(op.actor, o))
  const fields: Body = { ...op.fields }
  const c = op.contact
  let contactId: string | undefined
  if (c.kind === 'id') contactId = c.id
  else if (c.kind === 'any') contactId = m.pick(s.contacts, { n: c.n, mine: false }).row?.id
  else if (c.kind === 'sameOrg') contactId = m.pick(s.contacts, { n: c.n, mine: false }, (row) => row.organization_id === orgId).row?.id
  if (contactId !== undefined) fields.contactId = contactId
  const contact = contactId === undefined ? undefined : s.contacts.get(contactId)
  const encoded = m.body(fields, op.poison, op.enc, SPECS.interaction)
  const badContact = contactId !== undefined && (contact === undefined || contact.organization_id !== orgId || contact.is_deleted)
  const expect = m.gate(op.actor) ?? (op.poison !== undefined ? encoded.status : undefined) ?? (!m.orgVisible(op.actor, org) ? 404 : badContact ? 400 : 201)
  const { req, res } = await m.request(op.actor, 'POST', `/organizations/${orgId}/interactions`, encoded)
  const body = checkAnswer(req, res, [expect])
  if (expect === 201) {
    const row: InteractionRow = {
      id: body.id,
      organization_id: orgId,
      contact_id: contactId ?? null,
      user_id: m.user(op.actor).id,
      type: fields.type as string,
      subject: fields.subject as string,
      notes: (fields.notes as string | undefined) ?? null
    }
    s.interactions.set(row.id, row)
    m.created('interactions', body)
    m.same('created interaction', body, interactionRepr(row), INTERACTION_KEYS, req)
  }
  return res.statusCode
}

export async function createOpp (m: ModelCore, op: OpOf<'createOpp'>): Promise<number> {
  const s = m.state
  const { id: orgId, row: org } = m.pick(s.organizations, op.ref, undefined, (o) => m.orgVisible(op.actor, o))
  const encoded = m.body(op.fields, op.poison, op.enc, SPECS.opp)
  const expect = m.gate(op.actor) ?? (op.poison !== undefined ? encoded.status : undefined) ?? (m.orgVisible(op.actor, org) ? 201 : 404)
  const { req, res } = await m.request(op.actor, 'POST', `/organizations/${orgId}/opportunities`, encoded)
  const body = checkAnswer(req, res, [expect])
  if (expect === 201) {
    const f = op.fields
    const row: OppRow = {
      id: body.id,
      organization_id: orgId,
      name: f.name as string,
      stage: (f.stage as string | undefined) ?? 'prospecting',
      value: money2(f.value ?? 0),
      close_date: (f.closeDate as string | undefined) ?? null
    }
    s.opportunities.set(row.id, row)
    m.created('opportunities', body)
    m.same('created opportunity', body, oppRepr(row), OPP_KEYS, req)
  }
  return res.statusCode
}

export async function patchOpp (m: ModelCore, op: OpOf<'patchOpp'>): Promise<number> {
  const s = m.state
  const { id, row } = m.pick(s.opportunities, op.ref, undefined, (o) => m.oppVisible(op.actor, o))
  const fields: Body = Object.keys(op.fields).length > 0 ? op.fields : { stage: 'negotiation' }
  const visible = m.oppVisible(op.actor, row)
  const ifMatch = await m.ifMatch(op.ifMatch, op.actor, `/opportunities/${id}`, visible)
  const encoded = m.body(fields, op.poison, op.enc, SPECS.opp)
  const expect = m.gate(op.actor) ?? (op.poison !== undefined ? encoded.status : undefined) ?? (!visible ? 404 : op.ifMatch === 'stale' ? 412 : 200)
  const { req, res } = await m.request(op.actor, 'PATCH', `/opportunities/${id}`, encoded, ifMatch)
  const body = checkAnswer(req, res, [expect])
  if (expect === 200 && row !== undefined) {
    if (fields.name !== undefined) row.name = fields.name as string
    if (fields.stage !== undefined) row.stage = fields.stage as string
    if (fields.value !== undefined) row.value = money2(fields.value)
    if (fields.closeDate !== undefined) row.close_date = fields.closeDate as string | null
    m.touched.add(`opportunities/${id}`)
    m.same('patched opportunity', body, oppRepr(row), OPP_KEYS, req)
  }
  return res.statusCode
}

export async function createUser (m: ModelCore, op: OpOf<'createUser'>): Promise<number> {
  const s = m.state
  const encoded = m.body(op.fields, op.poison, op.enc, SPECS.user)
  const mail = String(op.fields.email).toLowerCase()
  const taken = [...s.users.values()].some((u) => u.email.toLowerCase() === mail)
  const expect = m.gate(op.actor, true) ?? (op.poison !== undefined ? encoded.status : undefined) ?? (taken ? 409 : 201)
  const { req, res } = await m.request(op.actor, 'POST', '/users', encoded)
  const body = checkAnswer(req, res, [expect])
  if (expect === 201) {
    const row: UserRow = { id: body.id, email: op.fields.email as string, name: op.fields.name as string, role: (op.fields.role as string | undefined) ?? 'member', is_active: true }
    s.users.set(row.id, row)
    m.created('users', body)
    m.same('created user', body, userRepr(row), USER_KEYS, req)
  }
  return res.statusCode
}

export async function patchUser (m: ModelCore, op: OpOf<'patchUser'>): Promise<number> {
  const s = m.state
  const self = m.user(op.actor).id
  // The two members stay active members (they are the actors); any other user, or the caller, is a target.
  const { id, row } = op.target === 'self'
    ? { id: self, row: s.users.get(self) }
    : m.pick(s.users, op.target, (u) => u.id !== m.fx.m1.id && u.id !== m.fx.m2.id)
  const fields: Body = Object.keys(op.fields).length > 0 ? op.fields : { name: 'Renamed' }
  const encoded = m.body(fields, op.poison, op.enc, SPECS.user)
  const mail = fields.email === undefined ? undefined : String(fields.email).toLowerCase()
  const clash = mail !== undefined && [...s.users.values()].some((u) => u.id !== id && u.email.toLowerCase() === mail)
  const demotesSelf = id === self && (fields.isActive === false || (fields.role !== undefined && fields.role !== 'admin'))
  const expect = m.gate(op.actor, true) ?? (op.poison !== undefined ? encoded.status : undefined) ??
    (demotesSelf ? 409 : row === undefined ? 404 : clash ? 409 : 200)
  const { req, res } = await m.request(op.actor, 'PATCH', `/users/${id}`, encoded)
  const body = checkAnswer(req, res, [expect])
  if (expect === 200 && row !== undefined) {
    if (fields.email !== undefined) row.email = fields.email as string
    if (fields.name !== undefined) row.name = fields.name as string
    if (fields.role !== undefined) row.role = fields.role as string
    if (fields.isActive !== undefined) row.is_active = fields.isActive as boolean
    m.touched.add(`users/${id}`)
    m.same('patched user', body, userRepr(row), USER_KEYS, req)
  }
  return res.statusCode
}
