// One request of the soak's mix, timed and recorded, and the choices the
// operations share: a listing query, an organization to read or to write.
import { performance } from 'node:perf_hooks'
import { PAGE_LIMITS, PRIORITIES, type ListSpec } from '../lib/list-spec'
import { safeText, type Answer } from './http-client'
import type { Kind } from './recorder'
import { pick, type Context, type Worker } from './workers'

export interface CallOptions { body?: unknown; headers?: Record<string, string>; allow412?: boolean }

/**
 * One request, timed and recorded. Returns the answer when it is 2xx (or a
 * 412 that the caller allowed and will retry), undefined when it failed.
 */
export async function call (
  ctx: Context,
  w: Worker,
  op: string,
  kind: Kind,
  method: string,
  pathname: string,
  options: CallOptions = {}
): Promise<Answer | undefined> {
  const started = performance.now()
  try {
    const answer = await ctx.http.request(method, pathname, w.user.token, options.body, options.headers)
    const latency = performance.now() - started
    const ok = answer.status >= 200 && answer.status < 300
    const retried412 = answer.status === 412 && options.allow412 === true
    const xCache = answer.headers['x-cache']
    ctx.recorder.record(op, kind, latency, ok || retried412, answer.status, typeof xCache === 'string' ? xCache : undefined)
    if (ok) return answer
    if (retried412) {
      ctx.recorder.preconditionRetries++
      return answer
    }
    ctx.recorder.fail({ atS: ctx.recorder.elapsedS(), op, method, path: pathname.replace(/[0-9a-f-]{36}/g, ':id'), status: answer.status, body: answer.body.length > 0 ? safeText(answer).slice(0, 300) : undefined })
    return undefined
  } catch (err) {
    ctx.recorder.record(op, kind, performance.now() - started, false, undefined, undefined)
    ctx.recorder.fail({ atS: ctx.recorder.elapsedS(), op, method, path: pathname.replace(/[0-9a-f-]{36}/g, ':id'), error: (err as Error).message })
    return undefined
  }
}

/** A listing query: filters, a search term and an offset within the matching rows (repeats allowed: real users re-open pages). */
export function listQuery (w: Worker, spec: ListSpec | undefined, total: number): string {
  const parts: string[] = []
  let matching = total
  if (spec !== undefined) {
    const priority = w.random() < 0.5 ? pick(w, PRIORITIES) : undefined
    const segment = spec.segments.length > 0 && w.random() < 0.35 ? pick(w, spec.segments) : undefined
    const search = spec.terms.length > 0 && w.random() < 0.35 ? pick(w, spec.terms) : undefined
    matching = spec.counts.get(`${priority ?? ''}|${segment ?? ''}|${search ?? ''}`) ?? 0
    if (priority !== undefined) parts.push(`priorityLevel=${priority}`)
    if (segment !== undefined) parts.push(`industrySegment=${encodeURIComponent(segment)}`)
    if (search !== undefined) parts.push(`search=${encodeURIComponent(search)}`)
  } else if (w.random() < 0.3) {
    parts.push(`priorityLevel=${pick(w, PRIORITIES)}`)
    matching = Math.ceil(total / 4)
  }
  const limit = pick(w, PAGE_LIMITS)
  // Mostly the first pages, as people browse; sometimes anywhere in the result.
  const offset = w.random() < 0.6 ? Math.floor(w.random() * 3) * limit : Math.floor(w.random() * Math.max(1, matching))
  parts.push(`limit=${limit}`, `offset=${offset}`)
  return parts.join('&')
}

export const readOrg = (w: Worker): string =>
  w.createdOrgs.length > 0 && w.random() < 0.1 ? pick(w, w.createdOrgs) : pick(w, w.readable)

/** An organization this worker alone writes: its share of the seeded ones, sometimes one it created. */
export function writableOrg (w: Worker): string | undefined {
  if (w.createdOrgs.length > 0 && (w.writable.length === 0 || w.random() < 0.15)) return pick(w, w.createdOrgs)
  return w.writable.length > 0 ? pick(w, w.writable) : undefined
}
