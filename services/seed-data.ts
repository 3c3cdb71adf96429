// Demo/benchmark data generator (npm run db:seed).
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
import { createHash } from 'node:crypto'
import pg from 'pg'

export type SeedDb = pg.Pool | pg.Client | pg.PoolClient

export interface SeedOptions {
  organizations: number
  seed: number
  /** Data is generated "as of" 00:00 UTC of this date's UTC day. */
  now: Date
  /** TRUNCATE the five tables first; without it a non-empty target is refused. */
  reset: boolean
  log: (line: string) => void
}

export interface SeedResult {
  rows: Record<string, number>
  seconds: number
}

/** The target already holds data and reset was not asked for. */
export class SeedRefusedError extends Error {
  override name = 'SeedRefusedError'
}

export const SEED_TABLES = ['users', 'organizations', 'contacts', 'interactions', 'opportunities'] as const
const CHUNK = 100_000 // organizations per statement; also the progress granularity
const DAY = 86_400

// ---------------------------------------------------------------- word lists
// Single words only (they also form e-mail domains); no quotes needed.
const FIRST = ['James', 'Mary', 'Robert', 'Patricia', 'John', 'Jennifer', 'Michael', 'Linda', 'David', 'Elizabeth', 'William', 'Barbara', 'Richard', 'Susan', 'Joseph', 'Jessica', 'Thomas', 'Sarah', 'Carlos', 'Karen', 'Daniel', 'Lisa', 'Matthew', 'Nancy', 'Anthony', 'Sofia', 'Mark', 'Priya', 'Wei', 'Emily', 'Ahmed', 'Olivia', 'Kenji', 'Fatima', 'Lucas', 'Chloe', 'Mateo', 'Hannah', 'Ivan', 'Aisha', 'Noah', 'Grace', 'Omar', 'Elena', 'Ravi', 'Mia', 'Jonas', 'Laura', 'Diego', 'Nora']
const LAST = ['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez', 'Hernandez', 'Lopez', 'Wilson', 'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin', 'Lee', 'Thompson', 'White', 'Harris', 'Clark', 'Lewis', 'Walker', 'Hall', 'Young', 'King', 'Wright', 'Nguyen', 'Patel', 'Kim', 'Chen', 'Schmidt', 'Muller', 'Rossi', 'Silva', 'Kowalski', 'Novak', 'Tanaka', 'Sato', 'Singh', 'Khan', 'Okafor', 'Haddad', 'Larsen', 'Dubois', 'Fischer', 'Murphy']
const ORG_PREFIX = ['Summit', 'Pioneer', 'Redwood', 'Northwind', 'Apex', 'Harbor', 'Bluestone', 'Evergreen', 'Ironclad', 'Silverline', 'Brightpath', 'Cobalt', 'Crescent', 'Granite', 'Horizon', 'Keystone', 'Lakeside', 'Meridian', 'Oakridge', 'Pinnacle', 'Quantum', 'Riverbend', 'Sterling', 'Trident', 'Vertex', 'Westfield', 'Zenith', 'Atlas', 'Beacon', 'Cascade', 'Delta', 'Falcon', 'Global', 'Highland', 'Liberty', 'Nova', 'Orion', 'Pacific', 'Sapphire', 'United', 'Anderson', 'Baker', 'Carter', 'Fletcher', 'Hayes', 'Morrison', 'Porter', 'Sullivan', 'Turner', 'Whitaker']
// Noun and the industry segment it implies, index for index.
const ORG_NOUN = ['Logistics', 'Freight', 'Foods', 'Organics', 'Health', 'Clinics', 'Pharma', 'Software', 'Analytics', 'Systems', 'Networks', 'Capital', 'Insurance', 'Energy', 'Solar', 'Robotics', 'Manufacturing', 'Textiles', 'Realty', 'Construction', 'Media', 'Studios', 'Retail', 'Outfitters', 'Education', 'Consulting', 'Legal', 'Telecom', 'Hospitality', 'Motors']
const ORG_INDUSTRY = ['Transportation', 'Transportation', 'Food & Beverage', 'Food & Beverage', 'Healthcare', 'Healthcare', 'Pharmaceuticals', 'Technology', 'Technology', 'Technology', 'Telecommunications', 'Financial Services', 'Insurance', 'Energy', 'Energy', 'Manufacturing', 'Manufacturing', 'Manufacturing', 'Real Estate', 'Construction', 'Media & Entertainment', 'Media & Entertainment', 'Retail', 'Retail', 'Education', 'Professional Services', 'Professional Services', 'Telecommunications', 'Hospitality', 'Automotive']
const LEGAL = ['Inc', 'LLC', 'Ltd', 'Corp', 'Group', 'GmbH', 'Co', 'Partners', 'Holdings', 'PLC']
const TLD = ['com', 'com', 'com', 'com', 'io', 'co', 'net', 'org', 'de', 'co.uk']
const MAILBOX = ['info', 'contact', 'hello', 'sales', 'office']
const TITLES = ['CEO', 'CFO', 'CTO', 'COO', 'VP of Sales', 'VP of Engineering', 'Head of Procurement', 'Purchasing Manager', 'Operations Manager', 'IT Director', 'Marketing Director', 'Account Manager', 'Office Manager', 'Product Manager', 'Software Engineer', 'Finance Manager', 'HR Business Partner', 'Legal Counsel']
// Five subjects per interaction type, in enum order: call, email, meeting, note.
const SUBJECTS = [
  'Discovery call', 'Follow-up call', 'Pricing discussion', 'Quarterly check-in call', 'Support escalation call',
  'Intro email', 'Sent proposal', 'Re: contract terms', 'Follow-up on demo', 'Renewal reminder',
  'Product demo', 'On-site visit', 'Executive briefing', 'Quarterly business review', 'Kickoff meeting',
  'Budget approved for next quarter', 'Champion changed roles', 'Evaluating competitors', 'Requested security review', 'Procurement process started'
]
const NOTES = ['Customer is happy with onboarding so far.', 'Asked for a discount on a multi-year term.', 'Needs sign-off from their CFO before proceeding.', 'Interested in the analytics add-on.', 'Raised concerns about data residency.', 'Wants a reference customer in their industry.', 'Left a voicemail, will try again next week.', 'Shared the updated pricing sheet.', 'Legal review of the MSA is in progress.', 'Competitor offered a lower price; we compete on support.']
const DEAL_KIND = ['New Business', 'Annual Renewal', 'Platform Expansion', 'Pilot Project', 'Upsell: Analytics', 'Multi-year Contract', 'Professional Services', 'Seat Expansion', 'Support Upgrade', 'Migration Project']
const STAGES = ['prospecting', 'qualification', 'proposal', 'negotiation', 'closed-won', 'closed-lost']

const q = (s: string): string => `'${s.replace(/'/g, "''")}'`
const arr = (list: readonly string[]): string => `ARRAY[${list.map(q).join(',')}]::text[]`

/** SQL expressions for deterministic pseudo-random values of one (seed, table). */
class Rand {
  constructor(private readonly seed: number, private readonly table: string) {}

  private salt(purpose: string): string {
    const digest = createHash('md5').update(`${this.seed}:${this.table}:${purpose}`).digest()
    return digest.readBigInt64BE(0).toString()
  }

  private hash(purpose: string, key: string): string {
    return `hashint8extended(${key}, ${this.salt(purpose)})`
  }

  /** Uniform float8 in [0, 1). */
  u(purpose: string, key: string): string {
    return `((${this.hash(purpose, key)} & 4503599627370495)::float8 / 4503599627370496)`
  }

  /** Uniform integer in [0, m); m may be an SQL expression. */
  int(purpose: string, key: string, m: number | string): string {
    return `((${this.hash(purpose, key)} & 2147483647) % ${m})`
  }

  /** 1-based index chosen with the given relative weights. */
  weighted(purpose: string, key: string, weights: number[]): string {
    const total = weights.reduce((a, b) => a + b, 0)
    const cuts = weights.slice(0, -1).map((_, i) => weights.slice(0, i + 1).reduce((a, b) => a + b, 0) / total)
    return `(1 + width_bucket(${this.u(purpose, key)}, ARRAY[${cuts.join(',')}]::float8[]))`
  }

  pick(list: readonly string[], purpose: string, key: string): string {
    return `(${arr(list)})[1 + ${this.int(purpose, key, list.length)}]`
  }
}

/** The statements of one seed; `n` in the expressions is the organization number. */
function buildSql(organizations: number, seed: number, now: Date) {
  const anchorMs = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())
  const A = anchorMs / 1000 // anchor, epoch seconds
  const today = anchorMs / 1000 / DAY // epoch day number
  const quarterStart = Date.UTC(now.getUTCFullYear(), Math.floor(now.getUTCMonth() / 3) * 3, 1) / 1000 / DAY
  const members = Math.max(3, Math.round(organizations / 2000))

  const U = new Rand(seed, 'users')
  const O = new Rand(seed, 'organizations')
  const C = new Rand(seed, 'contacts')
  const I = new Rand(seed, 'interactions')
  const P = new Rand(seed, 'opportunities')

  // md5 of '<seed>:<table>:<row>' shaped as a version-4 UUID (version and variant nibbles set).
  const id = (table: string, ...parts: string[]): string =>
    `overlay(overlay(md5(${q(`${seed}:${table}:`)} || ${parts.join(` || ':' || `)}) placing '4' from 13) placing '8' from 17)::uuid`
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
          CROSS JOIN LATERAL generate_series(1, contact_count) AS k OFFSET 0) c`

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
           -- spread over the last two years (or since the organization was created)
           ${ts(`since + floor(${I.u('created', 'key')} * (${A} - since))`)}
    FROM (SELECT o.*, k, n * 32 + k AS key, ${I.weighted('type', 'n * 32 + k', [30, 40, 15, 15])} AS t
          FROM ${orgBase(`${org.owner} AS owner, ${org.contacts} AS contact_count,
                          greatest(${org.created}, ${A - 730 * DAY}) AS since, ${org.interactions} AS interaction_count`)}
          CROSS JOIN LATERAL generate_series(1, interaction_count) AS k OFFSET 0) i`

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
                OFFSET 0) a OFFSET 0) p`

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

/**
 * Fill the five tables in one transaction. Secondary indexes and PK/FK
 * constraints of the five tables are dropped first and recreated from their
 * catalog definitions afterwards (bulk-load practice: one sort per index and
 * one join per foreign key instead of millions of random index insertions
 * and per-row FK trigger checks — keeping them made the load ~3x slower);
 * any failure rolls everything back, the indexes and constraints included.
 *
 * Pass a pool or a connected client without a client-side query_timeout:
 * single statements here run for tens of seconds at a million organizations.
 */
export async function seedDatabase(db: SeedDb, opts: SeedOptions): Promise<SeedResult> {
  const started = process.hrtime.bigint()
  const elapsed = (): number => Number(process.hrtime.bigint() - started) / 1e9
  const secs = (): string => `${elapsed().toFixed(1)} s`
  const client = db instanceof pg.Pool ? await db.connect() : db
  const rows: Record<string, number> = Object.fromEntries(SEED_TABLES.map((t) => [t, 0]))
  const sql = buildSql(opts.organizations, opts.seed, opts.now)
  const tables = SEED_TABLES.join(', ')

  try {
    await client.query('BEGIN')
    try {
      await client.query(`SET LOCAL statement_timeout = 0`)
      await client.query(`SET LOCAL synchronous_commit = off`)
      await client.query(`SET LOCAL maintenance_work_mem = '1GB'`)
      await client.query(`SET LOCAL work_mem = '256MB'`)
      // Nobody writes (or reads half a load) until COMMIT; the DDL below needs this lock anyway.
      await client.query(`LOCK TABLE ${tables} IN ACCESS EXCLUSIVE MODE`)

      const { rows: [present] } = await client.query<Record<string, boolean>>(
        `SELECT ${SEED_TABLES.map((t) => `EXISTS (SELECT 1 FROM ${t}) AS ${t}`).join(', ')}`)
      const nonEmpty = SEED_TABLES.filter((t) => present[t])
      if (nonEmpty.length > 0) {
        if (!opts.reset) {
          throw new SeedRefusedError(`refusing to seed: the database already has rows in ${nonEmpty.join(', ')}; ` +
            'pass --reset to delete all users, organizations, contacts, interactions and opportunities first')
        }
        await client.query(`TRUNCATE ${tables} CASCADE`)
        opts.log(`reset: truncated ${tables}`)
      }

      const { indexes, constraints } = await readDefinitions(client)
      for (const c of [...constraints].reverse()) await client.query(`ALTER TABLE ${c.tbl} DROP CONSTRAINT ${c.name}`)
      for (const i of indexes) await client.query(`DROP INDEX ${i.name}`)
      opts.log(`dropped ${indexes.length} indexes and ${constraints.length} key constraints for the load (${secs()})`)

      rows.users = (await client.query(sql.users)).rowCount ?? 0
      opts.log(`users: ${rows.users} rows (${secs()})`)
      for (let first = 1; first <= opts.organizations; first += CHUNK) {
        const last = Math.min(opts.organizations, first + CHUNK - 1)
        for (const [table, text] of sql.children) {
          rows[table] += (await client.query(text, [first, last])).rowCount ?? 0
        }
        opts.log(sql.children.map(([t]) => `${t}: ${rows[t]}`).join(', ') + ` rows so far (${secs()})`)
      }

      // Primary keys first: the foreign keys need them.
      for (const c of constraints) {
        await client.query(`ALTER TABLE ${c.tbl} ADD CONSTRAINT ${c.name} ${c.def}`)
        opts.log(`constraint ${c.name} (${secs()})`)
      }
      for (const i of indexes) {
        await client.query(i.def)
        opts.log(`index ${i.name} (${secs()})`)
      }
      await client.query(`ANALYZE ${tables}`)
      opts.log(`analyzed (${secs()})`)
      // Plain refresh: inside this transaction nobody else can read the view
      // anyway, and it is faster than CONCURRENTLY (no diff against old rows).
      const { rows: [view] } = await client.query(`SELECT to_regclass('dashboard_analytics') IS NOT NULL AS present`)
      if (view.present) {
        await client.query('REFRESH MATERIALIZED VIEW dashboard_analytics')
        opts.log(`refreshed dashboard_analytics (${secs()})`)
      }
      await client.query('COMMIT')
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined)
      throw err
    }
    // Outside the transaction (VACUUM cannot run in one): marks the freshly
    // written pages all-visible, so the listing's index-only scans answer from
    // the indexes at once instead of visiting the heap until autovacuum comes by.
    await client.query('SET statement_timeout = 0')
    await client.query(`VACUUM ${tables}`)
    await client.query('RESET statement_timeout')
    opts.log(`vacuumed (${secs()})`)
  } finally {
    if (client !== db) (client as pg.PoolClient).release()
  }
  return { rows, seconds: elapsed() }
}

interface Definition { tbl: string; name: string; def: string }

/**
 * Primary-key and foreign-key constraints (PKs first) and every other index of
 * the five tables, as the catalog prints them, so they can be recreated exactly.
 * Unique and check constraints stay in place.
 */
async function readDefinitions(client: pg.ClientBase): Promise<{ indexes: Definition[]; constraints: Definition[] }> {
  const rels = `ARRAY[${SEED_TABLES.map(q).join(',')}]::regclass[]`
  const constraints = await client.query<Definition>(`
    SELECT conrelid::regclass::text AS tbl, quote_ident(conname) AS name, pg_get_constraintdef(oid) AS def
    FROM pg_constraint
    WHERE conrelid = ANY (${rels}) AND contype IN ('p', 'f')
    ORDER BY contype DESC, conrelid::regclass::text, conname`)
  const indexes = await client.query<Definition>(`
    SELECT i.indrelid::regclass::text AS tbl, i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
    FROM pg_index i
    WHERE i.indrelid = ANY (${rels})
      -- indexes owned by a constraint (PK: handled above; unique/exclusion: kept)
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'))
    ORDER BY 1, 2`)
  return { indexes: indexes.rows, constraints: constraints.rows }
}
