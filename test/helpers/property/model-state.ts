// The model of property 4, its state: every row of the five data tables as
// the database holds it (the columns the API writes, as PostgreSQL prints
// them) and the timestamps of every row; how the API represents each row.
import type pg from 'pg'

export interface UserRow { id: string; email: string; name: string; role: string; is_active: boolean }
export interface OrgRow {
  id: string;
  name: string;
  industry_segment: string | null;
  priority_level: string;
  primary_email: string | null
  primary_phone: string | null;
  website: string | null;
  annual_revenue: string | null;
  assigned_user_id: string;
  is_deleted: boolean
}
export interface ContactRow {
  id: string;
  organization_id: string;
  first_name: string;
  last_name: string;
  email: string | null
  phone: string | null;
  title: string | null;
  is_primary: boolean;
  is_deleted: boolean
}
export interface InteractionRow {
  id: string
  organization_id: string
  contact_id: string | null
  user_id: string
  type: string
  subject: string
  notes: string | null
}
export interface OppRow { id: string; organization_id: string; name: string; stage: string; value: string; close_date: string | null }
interface Stamp { created: string; updated: string | null; createdMs: string }
export interface State {
  users: Map<string, UserRow>
  organizations: Map<string, OrgRow>
  contacts: Map<string, ContactRow>
  interactions: Map<string, InteractionRow>
  opportunities: Map<string, OppRow>
  stamps: Map<string, Stamp>
}
export type DataTable = Exclude<keyof State, 'stamps'>
export const DATA_TABLES: DataTable[] = ['users', 'organizations', 'contacts', 'interactions', 'opportunities']

export async function snapshot (client: pg.Client): Promise<State> {
  const rows = async <T extends { id: string }>(sql: string): Promise<Map<string, T>> => new Map((await client.query<T>(sql)).rows.map((row) => [row.id, row]))
  const stamps = await client.query<Stamp & { key: string }>(DATA_TABLES.map((table) =>
    `SELECT '${table}/' || id AS key, created_at::text AS created, ${table === 'interactions' ? 'NULL' : 'updated_at::text'} AS updated,
            floor(extract(epoch FROM created_at) * 1000)::bigint::text AS "createdMs" FROM ${table}`).join(' UNION ALL '))
  return {
    users: await rows<UserRow>('SELECT id::text, email::text, name, role, is_active FROM users'),
    organizations: await rows<OrgRow>(`SELECT id::text, name, industry_segment, priority_level::text, primary_email, primary_phone, website,
      annual_revenue::text, assigned_user_id::text, is_deleted FROM organizations`),
    contacts: await rows<ContactRow>('SELECT id::text, organization_id::text, first_name, last_name, email, phone, title, is_primary, is_deleted FROM contacts'),
    interactions: await rows<InteractionRow>('SELECT id::text, organization_id::text, contact_id::text, user_id::text, type::text, subject, notes FROM interactions'),
    opportunities: await rows<OppRow>('SELECT id::text, organization_id::text, name, stage::text, value::text, close_date::text FROM opportunities'),
    stamps: new Map(stamps.rows.map(({ key, ...stamp }) => [key, stamp]))
  }
}

/** numeric(14,2) as PostgreSQL prints it. */
export function money2 (value: unknown): string {
  const [whole, decimals = ''] = String(value).split('.')
  return `${whole!}.${decimals.padEnd(2, '0')}`
}

const omitNullish = (o: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined))

export function orgRepr (row: OrgRow): Record<string, unknown> {
  return omitNullish({
    id: row.id,
    name: row.name,
    industrySegment: row.industry_segment,
    priorityLevel: row.priority_level,
    primaryEmail: row.primary_email,
    primaryPhone: row.primary_phone,
    website: row.website,
    annualRevenue: row.annual_revenue === null ? null : Number(row.annual_revenue),
    assignedUserId: row.assigned_user_id
  })
}
export const ORG_KEYS = ['id', 'name', 'industrySegment', 'priorityLevel', 'primaryEmail', 'primaryPhone', 'website', 'annualRevenue', 'assignedUserId']
export const ORG_SUMMARY_KEYS = ['id', 'name', 'industrySegment', 'priorityLevel', 'primaryEmail', 'primaryPhone', 'annualRevenue']
export function contactRepr (row: ContactRow): Record<string, unknown> {
  return omitNullish({
    id: row.id,
    organizationId: row.organization_id,
    firstName: row.first_name,
    lastName: row.last_name,
    email: row.email,
    phone: row.phone,
    title: row.title,
    isPrimary: row.is_primary
  })
}
export const CONTACT_KEYS = ['id', 'organizationId', 'firstName', 'lastName', 'email', 'phone', 'title', 'isPrimary']
export function interactionRepr (row: InteractionRow): Record<string, unknown> {
  return omitNullish({
    id: row.id,
    organizationId: row.organization_id,
    contactId: row.contact_id,
    userId: row.user_id,
    type: row.type,
    subject: row.subject,
    notes: row.notes
  })
}
export const INTERACTION_KEYS = ['id', 'organizationId', 'contactId', 'userId', 'type', 'subject', 'notes']
export function oppRepr (row: OppRow): Record<string, unknown> {
  return omitNullish({ id: row.id, organizationId: row.organization_id, name: row.name, stage: row.stage, value: row.value, closeDate: row.close_date })
}
export const OPP_KEYS = ['id', 'organizationId', 'name', 'stage', 'value', 'closeDate']
export function userRepr (row: UserRow): Record<string, unknown> {
  return { id: row.id, email: row.email, name: row.name, role: row.role, isActive: row.is_active }
}
export const USER_KEYS = ['id', 'email', 'name', 'role', 'isActive']

export const pickKeys = (o: Record<string, unknown>, keys: string[]): Record<string, unknown> => omitNullish(Object.fromEntries(keys.map((k) => [k, o[k]])))
