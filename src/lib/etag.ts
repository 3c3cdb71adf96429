// Strong entity tags computed from a resource's representation, so the same
// function answers GET (ETag) and checks PATCH (If-Match): a tag matches only
// while every field of the representation is unchanged.
import { createHash } from 'node:crypto'
import { PreconditionFailedError } from './http-errors'

export function etagOf (representation: unknown): string {
  const digest = createHash('sha1').update(JSON.stringify(representation)).digest('base64url')
  return `"${digest}"`
}

/**
 * RFC 9110 §13.1.1 If-Match: "*" matches any current representation; otherwise
 * one of the listed tags must equal the current one by strong comparison
 * (weak tags never match).
 */
export function ifMatchSatisfied (header: string, currentEtag: string): boolean {
  const value = header.trim()
  if (value === '*') return true
  return value.split(',').some((tag) => tag.trim() === currentEtag)
}

/** RFC 9110 §13.1.2 If-None-Match: weak comparison (W/ prefixes ignored), "*" matches any. */
export function etagMatches (header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  if (header.trim() === '*') return true
  const bare = etag.replace(/^W\//, '')
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === bare)
}

/**
 * The If-Match check of a PATCH: without the header nothing is read; with it,
 * the current representation (read under the caller's row lock) must match,
 * else 412.
 */
export async function assertIfMatch (ifMatch: string | undefined, current: () => Promise<unknown>): Promise<void> {
  if (ifMatch === undefined) return
  if (!ifMatchSatisfied(ifMatch, etagOf(await current()))) throw new PreconditionFailedError()
}

/** Sets a strong ETag computed from the representation being sent, and returns it. */
export function withEtag<T> (reply: { header: (name: string, value: string) => unknown }, representation: T): T {
  reply.header('etag', etagOf(representation))
  return representation
}
