// The soak's mix: 80 % reads and 20 % writes by weight, each operation one
// or two requests through call(), and the closed loop that drives a worker.
import { performance } from 'node:perf_hooks'
import { PRIORITIES } from '../lib/list-spec'
import { etagOf, idOf } from './http-client'
import type { Kind } from './recorder'
import { call, listQuery, readOrg, writableOrg } from './requests'
import { keep, pick, type Context, type Worker } from './workers'

const STAGES = ['prospecting', 'qualification', 'proposal', 'negotiation', 'closed-won', 'closed-lost'] as const
const INDUSTRIES = ['Technology', 'Healthcare', 'Retail', 'Manufacturing', 'Financial Services', 'Energy']

type Op = (ctx: Context, w: Worker) => Promise<void>

const ops: Record<string, { kind: Kind; weight: number; run: Op }> = {
  // ---- reads: 80
  'list-organizations': {
    kind: 'read',
    weight: 28,
    run: async (ctx, w) => {
      let query: string
      if (w.user.role === 'member') {
        query = listQuery(w, ctx.specs.get(w.user.id), 0)
      } else if (w.random() < 0.5) {
        const member = pick(w, ctx.members)
        query = `assignedUserId=${member.id}&${listQuery(w, ctx.specs.get(member.id), 0)}`
      } else {
        query = listQuery(w, undefined, ctx.orgTotal)
      }
      await call(ctx, w, 'list-organizations', 'read', 'GET', `/api/v1/organizations?${query}`)
    }
  },
  'get-organization': {
    kind: 'read',
    weight: 18,
    run: async (ctx, w) => { await call(ctx, w, 'get-organization', 'read', 'GET', `/api/v1/organizations/${readOrg(w)}`) }
  },
  'list-contacts': {
    kind: 'read',
    weight: 8,
    run: async (ctx, w) => { await call(ctx, w, 'list-contacts', 'read', 'GET', `/api/v1/organizations/${readOrg(w)}/contacts?limit=${pick(w, [10, 20, 50])}`) }
  },
  'list-interactions': {
    kind: 'read',
    weight: 8,
    run: async (ctx, w) => {
      const since = w.random() < 0.3 ? `&since=${encodeURIComponent(new Date(Date.now() - pick(w, [7, 30, 90]) * 86_400_000).toISOString().slice(0, 10) + 'T00:00:00.000Z')}` : ''
      const offset = w.random() < 0.2 ? '&offset=10' : ''
      await call(ctx, w, 'list-interactions', 'read', 'GET', `/api/v1/organizations/${readOrg(w)}/interactions?limit=${pick(w, [10, 20])}${offset}${since}`)
    }
  },
  'list-opportunities': {
    kind: 'read',
    weight: 6,
    run: async (ctx, w) => {
      const stage = w.random() < 0.3 ? `?stage=${pick(w, STAGES)}` : ''
      await call(ctx, w, 'list-opportunities', 'read', 'GET', `/api/v1/organizations/${readOrg(w)}/opportunities${stage}`)
    }
  },
  dashboard: {
    kind: 'read',
    weight: 5,
    run: async (ctx, w) => { await call(ctx, w, 'dashboard', 'read', 'GET', '/api/v1/dashboard') }
  },
  'get-contact': {
    kind: 'read',
    weight: 3,
    run: async (ctx, w) => {
      const id = w.createdContacts.length > 0 && w.random() < 0.2 ? pick(w, w.createdContacts).id : w.contacts.length > 0 ? pick(w, w.contacts) : undefined
      if (id === undefined) return await ops['get-organization']!.run(ctx, w)
      await call(ctx, w, 'get-contact', 'read', 'GET', `/api/v1/contacts/${id}`)
    }
  },
  'get-opportunity': {
    kind: 'read',
    weight: 2,
    run: async (ctx, w) => {
      const id = w.createdOpps.length > 0 && w.random() < 0.2 ? pick(w, w.createdOpps).id : w.opportunities.length > 0 ? pick(w, w.opportunities) : undefined
      if (id === undefined) return await ops['get-organization']!.run(ctx, w)
      await call(ctx, w, 'get-opportunity', 'read', 'GET', `/api/v1/opportunities/${id}`)
    }
  },
  me: {
    kind: 'read',
    weight: 2,
    run: async (ctx, w) => { await call(ctx, w, 'me', 'read', 'GET', '/api/v1/users/me') }
  },
  // ---- writes: 20
  'create-interaction': {
    kind: 'write',
    weight: 7,
    run: async (ctx, w) => {
      const withContact = w.createdContacts.length > 0 && w.random() < 0.3 ? pick(w, w.createdContacts) : undefined
      const orgId = withContact?.orgId ?? writableOrg(w)
      if (orgId === undefined) return await ops['create-organization']!.run(ctx, w)
      const type = pick(w, ['call', 'email', 'meeting', 'note'] as const)
      await call(ctx, w, 'create-interaction', 'write', 'POST', `/api/v1/organizations/${orgId}/interactions`, {
        body: {
          type,
          subject: `Soak ${type} ${w.index}-${w.counter++}`,
          ...(w.random() < 0.6 ? { notes: `Notes of a ${type}: `.padEnd(40 + Math.floor(w.random() * 400), 'lorem ipsum ') } : {}),
          ...(withContact === undefined ? {} : { contactId: withContact.id })
        }
      })
    }
  },
  'create-contact': {
    kind: 'write',
    weight: 3,
    run: async (ctx, w) => {
      const orgId = writableOrg(w)
      if (orgId === undefined) return await ops['create-organization']!.run(ctx, w)
      const n = w.counter++
      const answer = await call(ctx, w, 'create-contact', 'write', 'POST', `/api/v1/organizations/${orgId}/contacts`, {
        body: {
          firstName: pick(w, ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Ken']),
          lastName: `Soak${w.index}x${n}`,
          ...(w.random() < 0.7 ? { email: `soak.${w.index}.${n}@example.test` } : {}),
          ...(w.random() < 0.5 ? { title: pick(w, ['CTO', 'Buyer', 'Office Manager']) } : {}),
          isPrimary: w.random() < 0.1
        }
      })
      if (answer !== undefined) keep(w.createdContacts, { id: idOf(answer), orgId })
    }
  },
  'update-organization': {
    kind: 'write',
    weight: 3,
    run: async (ctx, w) => {
      const orgId = writableOrg(w)
      if (orgId === undefined) return await ops['create-organization']!.run(ctx, w)
      // Read the current tag, then PATCH with If-Match. No other worker writes
      // this organization, so the tag only goes stale if the representation
      // changes by itself (an interaction leaving the 90-day count between the
      // GET and the PATCH): a 412 then gets one retry with a fresh tag.
      for (let attempt = 0; attempt < 2; attempt++) {
        const current = await call(ctx, w, 'update-organization:get', 'read', 'GET', `/api/v1/organizations/${orgId}`)
        if (current === undefined) return
        const body = w.random() < 0.5
          ? { annualRevenue: Math.floor(w.random() * 500) * 100_000 }
          : w.random() < 0.5 ? { primaryPhone: `+1 555 ${String(w.counter++ % 10_000).padStart(4, '0')}` } : { industrySegment: pick(w, INDUSTRIES) }
        const answer = await call(ctx, w, 'update-organization', 'write', 'PATCH', `/api/v1/organizations/${orgId}`, {
          body, headers: { 'if-match': etagOf(current) }, allow412: attempt === 0
        })
        if (answer === undefined || answer.status !== 412) return
      }
    }
  },
  'create-opportunity': {
    kind: 'write',
    weight: 3,
    run: async (ctx, w) => {
      const orgId = writableOrg(w)
      if (orgId === undefined) return await ops['create-organization']!.run(ctx, w)
      const answer = await call(ctx, w, 'create-opportunity', 'write', 'POST', `/api/v1/organizations/${orgId}/opportunities`, {
        body: {
          name: `Soak deal ${w.index}-${w.counter++}`,
          value: `${1000 + Math.floor(w.random() * 250_000)}.${String(Math.floor(w.random() * 100)).padStart(2, '0')}`,
          ...(w.random() < 0.7 ? { closeDate: new Date(Date.now() + Math.floor(w.random() * 180) * 86_400_000).toISOString().slice(0, 10) } : {})
        }
      })
      if (answer !== undefined) keep(w.createdOpps, { id: idOf(answer), orgId, etag: etagOf(answer), stage: 'prospecting' })
    }
  },
  'update-opportunity': {
    kind: 'write',
    weight: 2,
    run: async (ctx, w) => {
      if (w.createdOpps.length === 0) return await ops['create-opportunity']!.run(ctx, w)
      const opp = pick(w, w.createdOpps)
      // Only this worker writes its opportunities, so the tag it holds is current.
      const next = STAGES[(STAGES.indexOf(opp.stage as typeof STAGES[number]) + 1) % STAGES.length]!
      const answer = await call(ctx, w, 'update-opportunity', 'write', 'PATCH', `/api/v1/opportunities/${opp.id}`, {
        body: { stage: next, ...(w.random() < 0.5 ? { value: `${Math.floor(w.random() * 300_000)}.00` } : {}) },
        headers: { 'if-match': opp.etag }
      })
      if (answer !== undefined) { opp.etag = etagOf(answer); opp.stage = next }
    }
  },
  'create-organization': {
    kind: 'write',
    weight: 1,
    run: async (ctx, w) => {
      const answer = await call(ctx, w, 'create-organization', 'write', 'POST', '/api/v1/organizations', {
        body: {
          name: `Soak ${pick(w, ['Northwind', 'Contoso', 'Initech', 'Globex'])} ${w.index}-${w.counter++} ${pick(w, ['Ltd', 'Inc', 'GmbH'])}`,
          priorityLevel: pick(w, PRIORITIES),
          industrySegment: pick(w, INDUSTRIES),
          ...(w.random() < 0.5 ? { annualRevenue: Math.floor(w.random() * 1000) * 10_000 } : {})
        }
      })
      if (answer !== undefined) keep(w.createdOrgs, idOf(answer))
    }
  },
  delete: {
    kind: 'write',
    weight: 1,
    run: async (ctx, w) => {
      // Only what this worker created: no other worker holds these ids.
      if (w.createdContacts.length > 0 && (w.createdOrgs.length === 0 || w.random() < 0.6)) {
        const contact = w.createdContacts.splice(Math.floor(w.random() * w.createdContacts.length), 1)[0]!
        await call(ctx, w, 'delete-contact', 'write', 'DELETE', `/api/v1/contacts/${contact.id}`)
      } else if (w.createdOrgs.length > 0) {
        const orgId = w.createdOrgs.splice(Math.floor(w.random() * w.createdOrgs.length), 1)[0]!
        // Forget what hangs off it first: it all disappears with the organization.
        w.createdContacts = w.createdContacts.filter((c) => c.orgId !== orgId)
        w.createdOpps = w.createdOpps.filter((o) => o.orgId !== orgId)
        await call(ctx, w, 'delete-organization', 'write', 'DELETE', `/api/v1/organizations/${orgId}`)
      } else {
        await ops['create-organization']!.run(ctx, w)
      }
    }
  }
}

export const OP_TABLE = Object.entries(ops).map(([name, op]) => ({ name, ...op }))
const OP_WEIGHT = OP_TABLE.reduce((sum, op) => sum + op.weight, 0)

function chooseOp (w: Worker): Op {
  let r = w.random() * OP_WEIGHT
  for (const op of OP_TABLE) {
    r -= op.weight
    if (r < 0) return op.run
  }
  return OP_TABLE[0]!.run
}

export async function drive (ctx: Context, w: Worker): Promise<void> {
  while (!ctx.stopped && performance.now() < ctx.stopAt) {
    try {
      await chooseOp(w)(ctx, w)
    } catch (err) {
      // A 2xx the harness could not understand (no ETag, bad JSON): a failure too.
      ctx.recorder.fail({ atS: ctx.recorder.elapsedS(), op: 'harness', method: '-', path: '-', error: (err as Error).message })
    }
  }
}
