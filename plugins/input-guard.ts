// PostgreSQL text cannot hold U+0000: a NUL in a body or URL would reach the
// database as an error (a 500). It is refused up front with a 400 instead.
import fp from 'fastify-plugin'
import { InvalidFieldError } from '../lib/http-errors'

/** True when JSON text holds a \u0000 escape (an odd run of backslashes before "u0000"). */
export function hasNulEscape (json: string): boolean {
  for (let at = json.indexOf('u0000'); at !== -1; at = json.indexOf('u0000', at + 5)) {
    let backslashes = 0
    while (at - backslashes - 1 >= 0 && json.charCodeAt(at - backslashes - 1) === 92) backslashes++
    if (backslashes % 2 === 1) return true
  }
  return false
}

export default fp(async (app) => {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (hasNulEscape(body as string)) {
      done(new InvalidFieldError('body', 'must not contain NUL (\\u0000) characters'), undefined)
      return
    }
    parseJson(request, body as string, done)
  })
  app.addHook('onRequest', async (request) => {
    if (request.url.includes('%00')) throw new InvalidFieldError('url', 'must not contain NUL (%00) characters')
  })
}, { name: 'input-guard' })
