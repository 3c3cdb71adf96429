// The SQL of one seed (see seed-data.ts for how it is loaded).
//
// Every row is produced inside PostgreSQL by INSERT ... SELECT over
// generate_series: Node only sends ~4 statements per chunk of organizations,
// so a million organizations (~18 M rows) load in minutes.
//
// Reproducible: each "random" value is hashint8extended(row key, salt) where
// the salt is derived from (seed, table, purpose), and each id is the md5 of
// '<seed>:<table>:<row number>' shaped as a version-4 UUID. Times are epoch
// seconds counted back from an anchor (00:00 UTC of opts.now's date) and
// turned into timestamptz with to_timestamp(), so the session time zone does
// not matter. Same seed + same date => the same bytes, ids included.
//
// Because the ids are a function of row numbers, children reference their
// parents by recomputing the parent's id and per-organization values (owner,
// creation time, contact count) from the same hashes — no joins needed.
//
// Layouts (same rows either way, only their physical order differs):
// 'clustered' writes each chunk of organizations with its children, so an
// organization's children sit on neighbouring heap pages; 'live' orders each
// child table's rows by creation time over all organizations, as rows that
// arrived over time lie, so an organization's children are spread over the
// whole heap. The sort is on the narrow generating subquery (keys and
// per-organization values); the wide columns are computed after it.
import { createHash } from 'node:crypto'
import { DEAL_KIND, FIRST, LAST, LEGAL, MAILBOX, NOTES, ORG_INDUSTRY, ORG_NOUN, ORG_PREFIX, STAGES, SUBJECTS, TITLES, TLD } from './words'

const DAY = 86_400

/** How many members (users besides the one admin) a seed of this many organizations makes. */
export function seededMembers (organizations: number): number {
  return Math.max(3, Math.round(organizations / 2000))
}

/** An SQL string literal. */
export const q = (s: string): string => `'${s.replace(/'/g, "''")}'`
const arr = (list: readonly string[]): string => `ARRAY[${list.map(q).join(',')}]::text[]`

/** SQL expressions for deterministic pseudo-random values of one (seed, table). */
class Rand {
  constructor (private readonly seed: number, private readonly table: string) {}

  private salt (purpose: string): string {
    const digest = createHash('md5').update(`${this.seed}:${this.table}:${purpose}`).digest()
    return digest.readBigInt64BE(0).toString()
  }

  private hash (purpose: string, key: string): string {
    return `hashint8extended(${key}, ${this.salt(purpose)})`
  }

  /** Uniform float8 in [0, 1). */
  u (purpose: string, key: string): string {
    return `((${this.hash(purpose, key)} & 4503599627370495)::float8 / 4503599627370496)`
  }

  /** Uniform integer in [0, m); m may be an SQL expression. */
  int (purpose: string, key: string, m: number | string): string {
    return `((${this.hash(purpose, key)} & 2147483647) % ${m})`
  }

  /** 1-based index chosen with the given relative weights. */
  weighted (purpose: string, key: string, weights: number[]): string {
    const total = weights.reduce((a, b) => a + b, 0)
    const cuts = weights.slice(0, -1).map((_, i) => weights.slice(0, i + 1).reduce((a, b) => a + b, 0) / total)
    return `(1 + width_bucket(${this.u(purpose, key)}, ARRAY[${cuts.join(',')}]::float8[]))`
  }

  pick (list: readonly string[], purpose: string, key: string): string {
    return `(${arr(list)})[1 + ${this.int(purpose, key, list.length)}]`
  }
}

export const SEED_LAYOUTS = ['clustered', 'live'] as const
export type SeedLayout = typeof SEED_LAYOUTS[number]

/** The statements of one seed; `n` in the expressions is the organization number. */
export function seedStatements (organizations: number, seed: number, now: Date, layout: SeedLayout = 'clustered') {
  // Live: each child statement emits its rows in creation-time order.
  const order = layout === 'live' ? 'ORDER BY created ' : ''
  const anchorMs = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())
  const A = anchorMs / 1000 // anchor, epoch seconds
  const today = anchorMs / 1000 / DAY // epoch day number
  const quarterStart = Date.UTC(now.getUTCFullYear(), Math.floor(now.getUTCMonth() / 3) * 3, 1) / 1000 / DAY
  const members = seededMembers(organizations)

  const U = new Rand(seed, 'users')
  const O = new Rand(seed, 'organizations')
  const C = new Rand(seed, 'contacts')
  const I = new Rand(seed, 'interactions')
  const P = new Rand(seed, 'opportunities')

  // md5 of '<seed>:<table>:<row>' shaped as a version-4 UUID (version and variant nibbles set).
  const id = (table: string, ...parts: string[]): string =>
    `overlay(overlay(md5(${q(`${seed}:${table}:`)} || ${parts.join(' || \':\' || ')}) placing '4' from 13) placing '8' from 17)::uuid`
  const ts = (epoch: string): string => `to_timestamp(${epoch})`
  const userId = (k: string): string => id('users', k) // user 0 is the admin, 1..members the members

  // Per-organization values that children need too.
  const org = {
    // 80% are older than two years (up to five), 20% joined in the last two.
    created: `(${A} - CASE WHEN ${O.u('new?', 'n')} < 0.2 THEN ${O.int('age', 'n', 730 * DAY)}
                           ELSE ${730 * DAY} + ${O.int('age', 'n', 1095 * DAY)} END)`,
    // Skewed ownership: 35% of organizations go to members by a Zipf(1)-like
    // rank (P(k) ~ ln((k+1)/k)), so member 1 owns many; the rest are spread evenly.
    owner: `(CASE WHEN ${O.u('skew', 'n')} < 0.35
              THEN least(${members}, floor(power(${members + 1}::float8, ${O.u('rank', 'n')}))::int)
              ELSE 1 + ${O.int('member', 'n', members)} END)`,
    prefix: O.pick(ORG_PREFIX, 'prefix', 'n'),
    nounIdx: `(1 + ${O.int('noun', 'n', ORG_NOUN.length)})`,
    tld: O.pick(TLD, 'tld', 'n'),
    contacts: `(1 + ${O.int('contacts', 'n', 9)})`, // 1..9, mean 5
    interactions: O.int('interactions', 'n', 21), // 0..20, mean 10
    opportunities: O.int('opportunities', 'n', 5) // 0..4, mean 2
  }
  // Values computed once per organization in a subquery (OFFSET 0 keeps the
  // planner from inlining it and recomputing per child row).
  const orgBase = (cols: string): string => `(
    SELECT n, ${id('organizations', 'n')} AS org_id, ${cols}
    FROM generate_series($1::bigint, $2::bigint) AS n OFFSET 0) o`
  const domainOf = (prefix: string, noun: string, tld: string): string => `lower(${prefix} || ${noun}) || '.' || ${tld}`
  const domain = domainOf(org.prefix, `(${arr(ORG_NOUN)})[${org.nounIdx}]`, org.tld)
  const phone = (R: Rand, key: string): string =>
    `'+1 (' || (200 + ${R.int('area', key, 800)}) || ') 555-' || lpad(${R.int('line', key, 10000)}::text, 4, '0')`

  const users = `
    INSERT INTO users (id, email, name, role, is_active, created_at, updated_at)
    SELECT ${userId('k')},
           CASE WHEN k = 0 THEN 'admin@example.com' ELSE lower(first || '.' || last) || k || '@example.com' END,
           first || ' ' || last,
           CASE WHEN k = 0 THEN 'admin' ELSE 'member' END,
           true, ${ts('created')}, ${ts('created')}
    FROM (SELECT k, ${U.pick(FIRST, 'first', 'k')} AS first, ${U.pick(LAST, 'last', 'k')} AS last,
                 ${A - 1830 * DAY} - ${U.int('created', 'k', 365 * DAY)} AS created
          FROM generate_series(0::bigint, ${members}::bigint) AS k OFFSET 0) u`

  const organizationsSql = `
    INSERT INTO organizations (id, name, industry_segment, priority_level, primary_email, primary_phone,
                               website, annual_revenue, assigned_user_id, is_deleted, created_at, updated_at)
    SELECT org_id,
           -- ~0.5% carry LIKE wildcards, e.g. '100% Organic_Foods Ltd', to exercise escaping.
           CASE WHEN ${O.u('wild', 'n')} < 0.005
                THEN (1 + ${O.int('pct', 'n', 100)}) || '% ' || prefix || '_' || noun || ' ' || legal
                ELSE prefix || ' ' || noun || ' ' || legal END,
           CASE WHEN ${O.u('industry?', 'n')} < 0.04 THEN NULL ELSE (${arr(ORG_INDUSTRY)})[noun_idx] END,
           (ARRAY['A', 'B', 'C', 'D']::priority_level[])[${O.weighted('priority', 'n', [10, 25, 45, 20])}],
           CASE WHEN ${O.u('email?', 'n')} < 0.80 THEN ${O.pick(MAILBOX, 'mailbox', 'n')} || '@' || domain END,
           CASE WHEN ${O.u('phone?', 'n')} < 0.75 THEN ${phone(O, 'n')} END,
           CASE WHEN ${O.u('web?', 'n')} < 0.70 THEN 'https://www.' || domain END,
           -- log-uniform 200k .. 10bn, whole thousands; a quarter unknown
           CASE WHEN ${O.u('revenue?', 'n')} < 0.75
                THEN (round(exp(ln(200000) + ${O.u('revenue', 'n')} * ln(50000)) / 1000) * 1000)::bigint END,
           ${userId('owner')},
           ${O.u('deleted', 'n')} < 0.015,
           ${ts('created')},
           ${ts(`created + floor(${O.u('updated', 'n')} * (${A} - created))`)}
    FROM (SELECT *, (${arr(ORG_NOUN)})[noun_idx] AS noun, ${domainOf('prefix', `(${arr(ORG_NOUN)})[noun_idx]`, 'tld')} AS domain
          FROM (SELECT n, ${id('organizations', 'n')} AS org_id, ${org.prefix} AS prefix, ${org.nounIdx} AS noun_idx,
                       ${org.tld} AS tld, ${O.pick(LEGAL, 'legal', 'n')} AS legal,
                       ${org.owner} AS owner, ${org.created} AS created
                FROM generate_series($1::bigint, $2::bigint) AS n OFFSET 0) b OFFSET 0) o`

  const contactsSql = `
    INSERT INTO contacts (id, organization_id, first_name, last_name, email, phone, title,
                          is_primary, is_deleted, created_at, updated_at)
    SELECT ${id('contacts', 'n', 'k')}, org_id, first, last,
           CASE WHEN e < 0.55 THEN lower(first || '.' || last) || '@' || domain
                WHEN e < 0.85 THEN lower(left(first, 1) || last) || '@' || domain END,
           CASE WHEN ${C.u('phone?', 'key')} < 0.60 THEN ${phone(C, 'key')} END,
           CASE WHEN ${C.u('title?', 'key')} < 0.90 THEN ${C.pick(TITLES, 'title', 'key')} END,
           k = 1,
           ${C.u('deleted', 'key')} < 0.015,
           ${ts('created')},
           ${ts(`created + floor(${C.u('updated', 'key')} * (${A} - created))`)}
    FROM (SELECT o.*, k, ${C.pick(FIRST, 'first', 'n * 16 + k')} AS first, ${C.pick(LAST, 'last', 'n * 16 + k')} AS last,
                 ${C.u('email?', 'n * 16 + k')} AS e, n * 16 + k AS key,
                 org_created + floor(${C.u('created', 'n * 16 + k')} * (${A} - org_created)) AS created
          FROM ${orgBase(`${domain} AS domain, ${org.created} AS org_created, ${org.contacts} AS contact_count`)}
          CROSS JOIN LATERAL generate_series(1, contact_count) AS k ${order}OFFSET 0) c`

  const interactionsSql = `
    INSERT INTO interactions (id, organization_id, contact_id, user_id, type, subject, notes, created_at)
    SELECT ${id('interactions', 'n', 'k')}, org_id,
           CASE WHEN ${I.u('contact?', 'key')} < 0.80
                THEN ${id('contacts', 'n', `(1 + ${I.int('contact', 'key', 'contact_count')})`)} END,
           -- usually logged by the organization's owner, sometimes by a colleague
           ${userId(`CASE WHEN ${I.u('colleague?', 'key')} < 0.85 THEN owner ELSE 1 + ${I.int('colleague', 'key', members)} END`)},
           (ARRAY['call', 'email', 'meeting', 'note']::interaction_type[])[t],
           (${arr(SUBJECTS)})[(t - 1) * 5 + 1 + ${I.int('subject', 'key', 5)}],
           CASE WHEN ${I.u('notes?', 'key')} < 0.55 THEN ${I.pick(NOTES, 'notes', 'key')} END,
           ${ts('created')}
    FROM (SELECT o.*, k, n * 32 + k AS key, ${I.weighted('type', 'n * 32 + k', [30, 40, 15, 15])} AS t,
                 -- spread over the last two years (or since the organization was created)
                 since + floor(${I.u('created', 'n * 32 + k')} * (${A} - since)) AS created
          FROM ${orgBase(`${org.owner} AS owner, ${org.contacts} AS contact_count,
                          greatest(${org.created}, ${A - 730 * DAY}) AS since, ${org.interactions} AS interaction_count`)}
          CROSS JOIN LATERAL generate_series(1, interaction_count) AS k ${order}OFFSET 0) i`

  // Closed deals close within the last two years (after a sales cycle of up
  // to 180 days); 10% of the won ones of organizations older than this
  // quarter close in the current quarter (up to today), so the dashboard's
  // "won this quarter" is never empty. Open deals were opened within the last
  // year and expect to close 1-26 weeks ahead.
  const opportunitiesSql = `
    INSERT INTO opportunities (id, organization_id, name, stage, value, close_date, created_at, updated_at)
    SELECT ${id('opportunities', 'n', 'k')}, org_id,
           prefix || ' ' || noun || ' - ' || ${P.pick(DEAL_KIND, 'kind', 'key')},
           (${arr(STAGES)})[s]::opportunity_stage,
           (round(exp(ln(2000) + ${P.u('value', 'key')} * ln(250)) / 100) * 100)::numeric(14, 2),
           CASE WHEN s >= 5 THEN date '1970-01-01' + floor(close_at / ${DAY})::int
                WHEN ${P.u('close?', 'key')} < 0.10 THEN NULL
                ELSE date '1970-01-01' + (${today + 7} + ${P.int('expected', 'key', 180)})::int END,
           ${ts('created')},
           ${ts(`CASE WHEN s >= 5 THEN greatest(created, least(close_at, ${A - 1}))
                      ELSE created + floor(${P.u('updated', 'key')} * (${A} - created)) END`)}
    FROM (SELECT *, CASE WHEN s >= 5 THEN greatest(org_created, close_at - ${P.int('cycle', 'key', 180 * DAY)})
                         ELSE open_since + floor(${P.u('opened', 'key')} * (${A} - open_since)) END AS created
          FROM (SELECT o.*, k, n * 8 + k AS key, s,
                       CASE WHEN s = 5 AND org_created < ${quarterStart * DAY} AND ${P.u('quarter?', 'n * 8 + k')} < 0.10
                            THEN ${quarterStart * DAY} + ${P.int('quarter', 'n * 8 + k', (today - quarterStart + 1) * DAY)}
                            ELSE close_since + floor(${P.u('closed', 'n * 8 + k')} * (${A} - close_since)) END AS close_at
                FROM ${orgBase(`${org.prefix} AS prefix, (${arr(ORG_NOUN)})[${org.nounIdx}] AS noun,
                                ${org.created} AS org_created, ${org.opportunities} AS opportunity_count,
                                greatest(${org.created}, ${A - 730 * DAY}) AS close_since,
                                greatest(${org.created}, ${A - 365 * DAY}) AS open_since`)}
                CROSS JOIN LATERAL generate_series(1, opportunity_count) AS k
                -- stage weights: prospecting .. closed-lost
                CROSS JOIN LATERAL (SELECT ${P.weighted('stage', 'n * 8 + k', [20, 15, 15, 10, 22, 18])} AS s OFFSET 0) st
                OFFSET 0) a ${order}OFFSET 0) p`

  return {
    users,
    children: [
      ['organizations', organizationsSql],
      ['contacts', contactsSql],
      ['interactions', interactionsSql],
      ['opportunities', opportunitiesSql]
    ] as const
  }
}
