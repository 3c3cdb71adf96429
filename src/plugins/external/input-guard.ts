// PostgreSQL text cannot hold U+0000: a NUL in a body or URL would reach the
// database as an error (a 500). It is refused up front with a 400 instead.
// Nor can UTF-8 hold an unpaired surrogate (`"\ud800"` in JSON), and bytes
// that are not UTF-8 decode to U+FFFD: both would be stored as U+FFFD behind
// a 2xx, silently changing the client's text, so they are refused too.
import { isUtf8 } from 'node:buffer'
import fp from 'fastify-plugin'
import { InvalidFieldError } from '../../lib/http-errors'

/** True when JSON text holds a \u0000 escape (an odd run of backslashes before "u0000"). */
export function hasNulEscape (json: string): boolean {
  for (let at = json.indexOf('u0000'); at !== -1; at = json.indexOf('u0000', at + 5)) {
    let backslashes = 0
    while (at - backslashes - 1 >= 0 && json.charCodeAt(at - backslashes - 1) === 92) backslashes++
    if (backslashes % 2 === 1) return true
  }
  return false
}

// With the u flag a well-formed pair is one code point outside this range: only unpaired halves match.
const UNPAIRED_SURROGATE = /[\uD800-\uDFFF]/u
// Only a \uD800–\uDFFF escape in the text can put a surrogate in the parsed value.
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/

/** True when a parsed JSON value holds an unpaired surrogate in any string or key (iterative: bodies may nest deeply). */
export function hasUnpairedSurrogate (value: unknown): boolean {
  const pending: unknown[] = [value]
  while (pending.length > 0) {
    const item = pending.pop()
    if (typeof item === 'string') {
      if (UNPAIRED_SURROGATE.test(item)) return true
    } else if (item !== null && typeof item === 'object') {
      for (const [key, child] of Object.entries(item)) {
        if (UNPAIRED_SURROGATE.test(key)) return true
        pending.push(child)
      }
    }
  }
  return false
}

/**
 * True when JSON text the default parser refused is well-formed JSON: then it
 * was refused for a "__proto__" or "constructor.prototype" key (prototype
 * poisoning), and the client deserves that reason, not "not valid JSON".
 * JSON.parse only defines such keys as own properties: it pollutes nothing.
 */
function isPrototypePoisoning (json: string): boolean {
  try {
    JSON.parse(json)
    return true
  } catch {
    return false
  }
}

export default fp(async (app) => {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, raw, done) => {
    if (!isUtf8(raw as Buffer)) {
      done(new InvalidFieldError('body', 'must be valid UTF-8'), undefined)
      return
    }
    const body = (raw as Buffer).toString('utf8')
    if (hasNulEscape(body)) {
      done(new InvalidFieldError('body', 'must not contain NUL (\\u0000) characters'), undefined)
      return
    }
    parseJson(request, body, (err, value) => {
      if (err !== null && isPrototypePoisoning(body)) {
        done(new InvalidFieldError('body', 'must not contain a "__proto__" key or a "constructor" key holding "prototype"'), undefined)
        return
      }
      if (err === null && SURROGATE_ESCAPE.test(body) && hasUnpairedSurrogate(value)) {
        done(new InvalidFieldError('body', 'must not contain unpaired surrogates (\\ud800-\\udfff)'), undefined)
        return
      }
      done(err, value)
    })
  })
  // preParsing, not onRequest: after the security headers' onRequest hook, so this 400 carries them too.
  app.addHook('preParsing', async (request, _reply, payload) => {
    if (request.url.includes('%00')) throw new InvalidFieldError('url', 'must not contain NUL (%00) characters')
    return payload
  })
}, { name: 'input-guard' })
