// What the bench and the soak know about one member's organizations, to draw
// listing requests that find something: the segments present, search terms
// taken from real names, and how many rows each filter combination matches.
import type pg from 'pg'
import { prng } from './stats'

export const PRIORITIES = ['A', 'B', 'C', 'D'] as const
export type Priority = typeof PRIORITIES[number]

/** What request generators need to know about one member's organizations. */
export interface ListSpec {
  memberId: string
  /** Live organizations of the member. */
  total: number
  /** Industry segments present among them. */
  segments: string[]
  /** Substrings (3+ characters) of their names. */
  terms: string[]
  /** Matching rows per `priority|segment|term` ('' = no filter), for offsets within the result. */
  counts: Map<string, number>
}

interface SpecRow { name: string; priority_level: Priority; industry_segment: string | null }

/** Page sizes of the drawn listing requests, picked uniformly from this list (so mostly 50). */
export const PAGE_LIMITS = [10, 20, 25, 50, 50, 50, 100]
const MAX_TERMS = 60

/** Reads the member's organizations once and derives segments, search terms and result sizes. */
export async function loadListSpec (db: pg.Pool | pg.Client, memberId: string): Promise<ListSpec> {
  const { rows } = await db.query<SpecRow>(
    'SELECT name, priority_level::text AS priority_level, industry_segment FROM organizations WHERE assigned_user_id = $1 AND is_deleted = FALSE ORDER BY id',
    [memberId])
  const segments = [...new Set(rows.map((r) => r.industry_segment).filter((s): s is string => s !== null))].sort()
  // Terms: whole words of real names and 3-5 character pieces of them (some
  // lower-cased: the search ignores case), drawn reproducibly.
  const words = [...new Set(rows.flatMap((r) => r.name.split(/\s+/)).filter((w) => /^[A-Za-z]{3,}$/.test(w)))].sort()
  const random = prng(7)
  const terms = new Set<string>()
  for (let attempt = 0; terms.size < Math.min(MAX_TERMS, words.length * 3) && attempt < MAX_TERMS * 20; attempt++) {
    const word = words[Math.floor(random() * words.length)]!
    const kind = random()
    if (kind < 0.35) {
      terms.add(word)
    } else {
      const len = 3 + Math.floor(random() * Math.min(3, word.length - 2))
      const start = Math.floor(random() * (word.length - len + 1))
      const piece = word.slice(start, start + len)
      terms.add(kind < 0.7 ? piece.toLowerCase() : piece)
    }
  }
  const termList = [...terms]
  const lowered = termList.map((t) => t.toLowerCase())
  const counts = new Map<string, number>()
  const bump = (key: string): void => { counts.set(key, (counts.get(key) ?? 0) + 1) }
  for (const row of rows) {
    const name = row.name.toLowerCase()
    const matching = [''].concat(termList.filter((_, i) => name.includes(lowered[i]!)))
    for (const p of ['', row.priority_level]) {
      for (const s of row.industry_segment === null ? [''] : ['', row.industry_segment]) {
        for (const t of matching) bump(`${p}|${s}|${t}`)
      }
    }
  }
  return { memberId, total: rows.length, segments, terms: termList, counts }
}
