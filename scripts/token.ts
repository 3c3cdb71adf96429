// npm run token -- --email user@example.com [--expires-in 8h]
// Prints a bearer token (HS256, the server's secret, sub = the user's id) for
// an existing, active user, so a person can call the API with curl:
//   curl -H "Authorization: Bearer $(npm run -s token -- --email a@b.c)" …
// Only the token goes to stdout; everything else goes to stderr.
// Exit codes: 0 printed, 1 unknown or inactive user (or failure), 2 bad arguments.
import pg from 'pg'
import { createSigner } from 'fast-jwt'
import { ConfigError, loadConfig } from '../lib/config'
import { resolveDatabase } from '../lib/database-url'
import { persistentDevSecret } from '../lib/dev-secret'
import { parseOptions, usageExitCode, UsageError } from './lib/args'

const USAGE = 'usage: npm run token -- --email EMAIL [--expires-in DURATION]   (DURATION: e.g. 30m, 8h, 7d; default 1h)'

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 }
const MAX_SECONDS = 365 * 86400

export interface TokenArgs {
  email: string
  /** Lifetime of the token in seconds. */
  expiresInSeconds: number
}

/** e.g. "90s", "30m", "8h", "7d": a positive lifetime of at most a year. */
export function parseDuration (value: string): number {
  const match = /^([1-9]\d{0,8})(s|m|h|d)$/.exec(value)
  const seconds = match === null ? NaN : Number(match[1]) * UNIT_SECONDS[match[2]!]!
  if (!Number.isSafeInteger(seconds) || seconds > MAX_SECONDS) {
    throw new UsageError(`--expires-in must be a duration such as 30m, 8h or 7d (at most 365d), got ${JSON.stringify(value)}`)
  }
  return seconds
}

export function parseTokenArgs (argv: string[]): TokenArgs {
  const values = parseOptions(argv, {
    email: { type: 'string' },
    'expires-in': { type: 'string', default: '1h' }
  })
  const email = values.email?.trim()
  if (email === undefined || email === '') throw new UsageError('--email is required')
  if (!/^[^\s@]+@[^\s@]+$/.test(email)) throw new UsageError(`--email must be an email address, got ${JSON.stringify(email)}`)
  return { email, expiresInSeconds: parseDuration(values['expires-in']) }
}

/** Refused: the email names no user, or an inactive one. Reported without a stack trace. */
class RefusedError extends Error {}

async function main (): Promise<number> {
  let args: TokenArgs
  try {
    args = parseTokenArgs(process.argv.slice(2))
  } catch (err) {
    return usageExitCode(err, 'token', USAGE)
  }
  const config = loadConfig(process.env)
  // The server's secret: JWT_SECRET, or (development) the one kept beside the embedded database.
  const secret = config.jwtSecretGenerated ? persistentDevSecret(config.embedded.dataDir) : config.jwtSecret
  // Progress lines (embedded PostgreSQL start-up) go to stderr: stdout is the token alone.
  const database = await resolveDatabase(config, (line) => { process.stderr.write(`${line}\n`) }, { migrate: false })
  try {
    const client = new pg.Client({ connectionString: database.url, ssl: config.database.ssl, connectionTimeoutMillis: config.database.connectTimeoutMs })
    await client.connect()
    let user: { id: string; is_active: boolean } | undefined
    try {
      // email is citext: the comparison (and the unique index) ignore case.
      const { rows } = await client.query<{ id: string; is_active: boolean }>('SELECT id, is_active FROM users WHERE email = $1::citext', [args.email])
      user = rows[0]
    } finally {
      await client.end().catch(() => undefined)
    }
    if (user === undefined) throw new RefusedError(`no user with email ${args.email}`)
    if (!user.is_active) throw new RefusedError(`the user ${args.email} is inactive; reactivate them first (PATCH /api/v1/users/${user.id} {"isActive": true})`)
    // The same claims the server's app.signToken makes: sub, iat, exp (expiresIn in ms for fast-jwt).
    const sign = createSigner({ key: secret, algorithm: 'HS256', expiresIn: args.expiresInSeconds * 1000 })
    process.stdout.write(`${sign({ sub: user.id })}\n`)
    return 0
  } finally {
    await database.stop()
  }
}

main().then((code) => { process.exitCode = code }, (err: unknown) => {
  const known = err instanceof RefusedError || err instanceof ConfigError
  process.stderr.write(`token: ${known ? '' : 'failed: '}${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
})
