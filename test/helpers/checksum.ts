// Fingerprints of the five data tables, to prove that a request changed
// nothing (or only the rows it names): a checksum per table over every
// column (`md5(string_agg(row::text ORDER BY id))`) and a hash per row.
import type pg from 'pg'

export const TABLES = ['users', 'organizations', 'contacts', 'interactions', 'opportunities'] as const
export type Table = typeof TABLES[number]

export interface TableSum { rows: number; md5: string }

/** Row count and md5 of all rows (all columns, ordered by id) of every table, in one statement. */
export async function tableChecksums (client: pg.Client): Promise<Record<Table, TableSum>> {
  const columns = TABLES.map((table) =>
    `(SELECT json_build_object('rows', count(*), 'md5', coalesce(md5(string_agg(x::text, ',' ORDER BY x.id)), '')) FROM ${table} x) AS ${table}`)
  const { rows } = await client.query<Record<Table, TableSum>>(`SELECT ${columns.join(', ')}`)
  return rows[0]!
}

/** `table/id` → md5 of that row's text (all columns), for every row of every table. */
export async function rowHashes (client: pg.Client): Promise<Map<string, string>> {
  const sql = TABLES.map((table) => `SELECT '${table}/' || x.id AS key, md5(x::text) AS hash FROM ${table} x`).join(' UNION ALL ')
  const { rows } = await client.query<{ key: string; hash: string }>(sql)
  return new Map(rows.map((row) => [row.key, row.hash]))
}

/** What changed between two rowHashes snapshots: rows added, removed and modified, as `table/id` keys. */
export function diffRows (before: Map<string, string>, after: Map<string, string>): { added: string[]; removed: string[]; changed: string[] } {
  const added: string[] = []
  const removed: string[] = []
  const changed: string[] = []
  for (const [key, hash] of after) {
    const old = before.get(key)
    if (old === undefined) added.push(key)
    else if (old !== hash) changed.push(key)
  }
  for (const key of before.keys()) if (!after.has(key)) removed.push(key)
  return { added, removed, changed }
}
