// Keyset cursors (contract §6): an opaque, URL-safe token holding the sort
// key of the last row of a page, signed with a key of the server's so that a
// client can neither forge one nor carry one to another list.
//
// The token is `<position>.<mac>`: the position is base64url JSON (the sort
// key values), the MAC an HMAC-SHA256 over the list the cursor belongs to
// (caller, list, filters, sort) and the position. The list is not written in
// the token, only signed: a cursor used by another user, on another path or
// with other filters or sort fails the MAC exactly as an altered one does,
// and both are a 400 INVALID_CURSOR before any SQL runs.
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'
import { HttpError } from './http-errors'

/** The sort key values of a row, in sort order. */
export type CursorPosition = ReadonlyArray<string | number>

/** What a cursor is bound to: the same list means the same values here. */
export interface CursorScope {
  userId: string
  /** The list, e.g. `organizations` or `contacts:<organization id>`. */
  list: string
  /** The validated filters (absent ones left out or undefined). */
  filters: Readonly<Record<string, string | number | undefined>>
  sort: string
}

export class InvalidCursorError extends HttpError {
  constructor (reason: string) {
    super(400, 'INVALID_CURSOR', `querystring.cursor ${reason}`)
  }
}

// 128 bits of MAC: forging one is out of reach, and the token stays short.
const MAC_BYTES = 16

function scopeText (scope: CursorScope): string {
  const filters = Object.entries(scope.filters)
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return JSON.stringify([scope.userId.toLowerCase(), scope.list, filters, scope.sort])
}

export class CursorCodec {
  private readonly key: Buffer

  /**
   * @param secret the server's secret (JWT_SECRET): every instance derives the
   * same key, so a cursor from one instance works on the others. HKDF keeps
   * the cursor key separate from the token-signing key.
   */
  constructor (secret: string) {
    this.key = Buffer.from(hkdfSync('sha256', secret, 'crm-service', 'keyset cursor v1', 32))
  }

  encode (scope: CursorScope, position: CursorPosition): string {
    const body = Buffer.from(JSON.stringify(position)).toString('base64url')
    return `${body}.${this.mac(scope, body).toString('base64url')}`
  }

  /** The position a cursor holds, or InvalidCursorError unless this server made it for this list. */
  decode (scope: CursorScope, token: string): unknown[] {
    const dot = token.indexOf('.')
    if (dot <= 0) throw new InvalidCursorError('is not a cursor this service issued')
    const body = token.slice(0, dot)
    const given = Buffer.from(token.slice(dot + 1), 'base64url')
    const expected = this.mac(scope, body)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new InvalidCursorError('does not belong to this list (another user, path, filter or sort) or was altered')
    }
    const position: unknown = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'))
    if (!Array.isArray(position)) throw new InvalidCursorError('is not a cursor this service issued')
    return position
  }

  private mac (scope: CursorScope, body: string): Buffer {
    return createHmac('sha256', this.key).update(scopeText(scope)).update('\n').update(body).digest().subarray(0, MAC_BYTES)
  }
}
