// The parameter mix of the cache-busting listing scenario (b), shared by the
// harness (as URLs) and the database ceiling (as the SQL parameters the
// service would bind for the same URLs).
import { PAGE_LIMITS, PRIORITIES, type ListSpec, type Priority } from '../lib/list-spec'
import { prng } from '../lib/stats'

export interface ListParams {
  priorityLevel?: Priority
  industrySegment?: string
  search?: string
  limit: number
  offset: number
}

/** The query string of a listing request (%20 for spaces, as a browser would send). */
export function listPath (p: ListParams): string {
  const parts = [`limit=${p.limit}`, `offset=${p.offset}`]
  if (p.priorityLevel !== undefined) parts.push(`priorityLevel=${p.priorityLevel}`)
  if (p.industrySegment !== undefined) parts.push(`industrySegment=${encodeURIComponent(p.industrySegment)}`)
  if (p.search !== undefined) parts.push(`search=${encodeURIComponent(p.search)}`)
  return `/api/v1/organizations?${parts.join('&')}`
}

/** The SQL parameters the service binds for these query parameters (it asks for limit + 1 rows). */
export function listSqlParams (memberId: string, p: ListParams): [string, string | null, string | null, string | null, number, number] {
  return [memberId, p.industrySegment ?? null, p.priorityLevel ?? null, p.search ?? null, p.limit + 1, p.offset]
}

/** The SQL of the listing, exactly as services/organizations.ts sends it. */
export const LIST_SQL = 'SELECT * FROM get_organizations_optimized($1::uuid, $2::varchar, $3::priority_level, $4::varchar, $5::integer, $6::integer)'

export interface ListGenerator {
  next (): ListParams
  /** Draws that had to fall back to an offset past the end to stay unique. */
  readonly fallbacks: number
  readonly drawn: number
}

/**
 * Every call returns a combination never returned before (by this generator):
 * half the requests filter by priority, a third by segment, a third search;
 * limits mostly 50; the offset lies within the matching rows so most pages
 * are full. `seen` may be shared so several runs never repeat a URL.
 */
export function listGenerator (spec: ListSpec, seed: number, seen = new Set<string>()): ListGenerator {
  const random = prng(seed)
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!
  let fallbacks = 0
  let drawn = 0
  const draw = (): ListParams => {
    const priorityLevel = random() < 0.5 ? pick(PRIORITIES) : undefined
    const industrySegment = spec.segments.length > 0 && random() < 0.35 ? pick(spec.segments) : undefined
    const search = spec.terms.length > 0 && random() < 0.35 ? pick(spec.terms) : undefined
    const matching = spec.counts.get(`${priorityLevel ?? ''}|${industrySegment ?? ''}|${search ?? ''}`) ?? 0
    return { priorityLevel, industrySegment, search, limit: pick(PAGE_LIMITS), offset: Math.floor(random() * Math.max(1, matching)) }
  }
  return {
    next () {
      drawn++
      for (let attempt = 0; attempt < 50; attempt++) {
        const params = draw()
        const key = listPath(params)
        if (!seen.has(key)) {
          seen.add(key)
          return params
        }
      }
      // A small data set ran out of distinct pages: an (empty) page past the end is still new.
      fallbacks++
      const params = { ...draw(), offset: spec.total + seen.size }
      seen.add(listPath(params))
      return params
    },
    get fallbacks () { return fallbacks },
    get drawn () { return drawn }
  }
}
