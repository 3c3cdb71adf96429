import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'

/** helmet's settings: its defaults, but X-Frame-Options DENY and no CSP. */
const HELMET_OPTIONS: Readonly<HelmetOptions> = {
  frameguard: { action: 'deny' },
  // A JSON API: no HTML of ours needs a policy, and Swagger UI (/docs) needs inline scripts.
  contentSecurityPolicy: false
}

/**
 * The headers helmet sets with these options, computed once: helmet's
 * middleware run against a recording response. They are the same for every
 * answer, and @fastify/helmet rebuilt the middleware on each request (about
 * 4 % of a cache hit's CPU).
 */
export function securityHeaders (options: Readonly<HelmetOptions> = HELMET_OPTIONS): Array<[string, string]> {
  const headers = new Map<string, string>()
  const recorder = {
    setHeader: (name: string, value: string | number | readonly string[]) => { headers.set(name.toLowerCase(), String(value)) },
    removeHeader: (name: string) => { headers.delete(name.toLowerCase()) }
  }
  let failed: unknown
  helmet(options)({} as never, recorder as never, (err?: unknown) => { failed = err })
  if (failed !== undefined) throw failed instanceof Error ? failed : new Error(String(failed))
  return [...headers]
}

/**
 * Headers every response carries (contract §2): helmet's security headers
 * (X-Content-Type-Options: nosniff, X-Frame-Options: DENY, …), the request
 * id (echoed or generated) and X-Response-Time in milliseconds, in one
 * onSend hook.
 */
export default fp(async (app) => {
  const security = securityHeaders()
  // Callback style: it waits for nothing, so no promise per answer.
  app.addHook('onSend', (request, reply, payload, done) => {
    for (const [name, value] of security) void reply.header(name, value)
    void reply.header('x-request-id', request.id)
    void reply.header('x-response-time', reply.elapsedTime.toFixed(2))
    done(null, payload)
  })
}, { name: 'response-headers' })
