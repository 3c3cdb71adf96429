// The soak's scratch database: created, migrated and seeded for one run
// (dropped by run.ts at the end), and what the workers need to know of it.
import { performance } from 'node:perf_hooks'
import type pg from 'pg'
import { applyMigrations } from '../../src/lib/migrator'
import { loadListSpec } from '../lib/list-spec'
import { withClient } from '../lib/postgres'
import { urlForDatabase } from '../lib/urls'
import { seedDatabase } from '../seed/seed-data'
import type { SoakOptions } from './options'
import type { MemberData, User } from './workers'

export interface Dataset { name: string; url: string; organizations: number; users: number; members: User[]; admin: User; seedSeconds: number }

export async function prepareDatabase (opts: SoakOptions, name: string, sign: (sub: string) => string): Promise<Dataset> {
  await withClient(opts.adminUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS "${name}"`)
    await client.query(`CREATE DATABASE "${name}"`)
  })
  const url = urlForDatabase(opts.adminUrl, name)
  const migrated = await applyMigrations({ connectionString: url })
  console.log(`database ${name}: ${migrated.applied.length} migrations applied`)
  const started = performance.now()
  const today = new Date(`${new Date().toISOString().slice(0, 10)}T00:00:00Z`)
  const rows = await withClient(url, async (client) => {
    // The seed's progress lines (one per step) would drown the report: not shown.
    const result = await seedDatabase(client, { organizations: opts.organizations, seed: 1, now: today, reset: false, log: () => undefined })
    return result.rows
  })
  const seedSeconds = (performance.now() - started) / 1000
  console.log(`seeded ${Object.entries(rows).map(([t, n]) => `${n} ${t}`).join(', ')} in ${seedSeconds.toFixed(1)} s`)
  return await withClient(url, async (client) => {
    // The members with the most organizations (a realistic spread: the seed skews ownership).
    const { rows: memberRows } = await client.query<{ id: string; email: string }>(`
      SELECT u.id, u.email FROM users u JOIN organizations o ON o.assigned_user_id = u.id AND NOT o.is_deleted
      WHERE u.role = 'member' AND u.is_active GROUP BY u.id, u.email ORDER BY count(*) DESC, u.id LIMIT $1`, [opts.members])
    const { rows: [adminRow] } = await client.query<{ id: string; email: string }>("SELECT id, email FROM users WHERE role = 'admin' AND is_active ORDER BY created_at LIMIT 1")
    if (adminRow === undefined || memberRows.length < opts.members) throw new Error(`the seed made ${memberRows.length} members with organizations and ${adminRow === undefined ? 'no' : 'an'} admin; ${opts.members} members are needed`)
    const members = memberRows.map((r): User => ({ id: r.id, email: r.email, role: 'member', token: sign(r.id) }))
    return { name, url, organizations: rows.organizations ?? opts.organizations, users: rows.users ?? 0, members, admin: { id: adminRow.id, email: adminRow.email, role: 'admin', token: sign(adminRow.id) }, seedSeconds }
  })
}

export async function loadMemberData (pool: pg.Pool, member: User): Promise<MemberData> {
  const { rows: orgs } = await pool.query<{ id: string }>('SELECT id FROM organizations WHERE assigned_user_id = $1 AND NOT is_deleted ORDER BY id', [member.id])
  const { rows: contacts } = await pool.query<{ id: string }>(`
    SELECT c.id FROM contacts c JOIN organizations o ON o.id = c.organization_id
    WHERE o.assigned_user_id = $1 AND NOT o.is_deleted AND NOT c.is_deleted ORDER BY md5(c.id::text) LIMIT 2000`, [member.id])
  const { rows: opportunities } = await pool.query<{ id: string }>(`
    SELECT p.id FROM opportunities p JOIN organizations o ON o.id = p.organization_id
    WHERE o.assigned_user_id = $1 AND NOT o.is_deleted ORDER BY md5(p.id::text) LIMIT 2000`, [member.id])
  return {
    orgs: orgs.map((r) => r.id),
    contacts: contacts.map((r) => r.id),
    opportunities: opportunities.map((r) => r.id),
    spec: await loadListSpec(pool, member.id)
  }
}
