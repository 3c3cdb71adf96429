// npm run token -- --email user@example.com [--expires-in 8h]
// npm run token -- --create-admin admin@example.com [--name "Ada"] [--expires-in 8h]
//
// Prints a bearer token (HS256, the server's secret, sub = the user's id) for
// an existing, active user, so a person can call the API with curl:
//   curl -H "Authorization: Bearer $(npm run -s token -- --email a@b.c)" …
// Creating users takes an admin, so an empty database needs its first one
// from here: --create-admin inserts an active admin and prints its token. Run
// again with the same email it creates nothing and prints a token for that
// admin; it never promotes or reactivates an existing user (an admin does
// that through the API, where it is logged and checked).
// Only the token goes to stdout; everything else goes to stderr.
// Exit codes: 0 printed, 1 refused (unknown, inactive, not an admin) or
// failed, 2 bad arguments.
import pg from 'pg'
import { createSigner } from 'fast-jwt'
import { ConfigError, loadConfig } from '../src/lib/config'
import { resolveDatabase } from '../src/lib/database-url'
import { persistentDevSecret } from '../src/lib/dev-secret'
import { parseOptions, usageExitCode, UsageError } from './lib/args'

const USAGE = `usage: npm run token -- --email EMAIL [--expires-in DURATION]
       npm run token -- --create-admin EMAIL [--name NAME] [--expires-in DURATION]
  --email EMAIL          a token for this existing, active user
  --create-admin EMAIL   the same for an admin with this email, created (active) if no user has it yet
  --name NAME            the created admin's name (default: EMAIL up to the @)
  --expires-in DURATION  e.g. 30m, 8h, 7d (default 1h, at most 365d)`

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 }
const MAX_SECONDS = 365 * 86400
// The users table's limits (users_email_check, VARCHAR(255)), which the API checks too.
const MAX_EMAIL_LENGTH = 255
const MAX_NAME_LENGTH = 255

export type TokenArgs = {
  /** Lifetime of the token in seconds. */
  expiresInSeconds: number
  email: string
} & ({ createAdmin: false } | { createAdmin: true; /** --name; undefined: the email up to the @. */ name?: string })

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
    'create-admin': { type: 'string' },
    name: { type: 'string' },
    'expires-in': { type: 'string', default: '1h' }
  })
  const expiresInSeconds = parseDuration(values['expires-in'])
  if (values.email !== undefined && values['create-admin'] !== undefined) {
    throw new UsageError('--email and --create-admin exclude each other (--create-admin prints the admin\'s token itself)')
  }
  if (values['create-admin'] === undefined) {
    if (values.name !== undefined) throw new UsageError('--name goes with --create-admin only (it names the admin being created)')
    const email = values.email?.trim()
    if (email === undefined || email === '') throw new UsageError('--email is required (or --create-admin EMAIL for the first admin)')
    if (!/^[^\s@]+@[^\s@]+$/.test(email)) throw new UsageError(`--email must be an email address, got ${JSON.stringify(email)}`)
    return { createAdmin: false, email, expiresInSeconds }
  }
  const email = values['create-admin'].trim()
  // A dotted domain, as the API's email format asks, so the API can later edit this user like any other.
  if (!/^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/.test(email) || email.length > MAX_EMAIL_LENGTH) {
    throw new UsageError(`--create-admin must be an email address such as admin@example.com (at most ${MAX_EMAIL_LENGTH} characters), got ${JSON.stringify(email)}`)
  }
  const name = values.name?.trim()
  if (name !== undefined && (name === '' || [...name].length > MAX_NAME_LENGTH)) {
    throw new UsageError(`--name must be 1 to ${MAX_NAME_LENGTH} characters, got ${JSON.stringify(values.name)}`)
  }
  return { createAdmin: true, email, name, expiresInSeconds }
}

/** Refused: no token for this user. Reported without a stack trace. */
class RefusedError extends Error {}

interface UserRow { id: string; email: string; name: string; role: string; is_active: boolean }

// email is citext: the comparison (and the unique index) ignore case.
const FIND_USER = 'SELECT id, email, name, role, is_active FROM users WHERE email = $1::citext'

async function existingUser (client: pg.Client, email: string): Promise<UserRow> {
  const { rows: [user] } = await client.query<UserRow>(FIND_USER, [email])
  if (user === undefined) throw new RefusedError(`no user with email ${email} (the first admin of a database: --create-admin EMAIL)`)
  if (!user.is_active) throw new RefusedError(`the user ${user.email} is inactive; reactivate them first (PATCH /api/v1/users/${user.id} {"isActive": true})`)
  return user
}

/**
 * The admin with this email: inserted when no user has it, else the one
 * that exists, if it is an active admin. Two runs at once insert one row:
 * the loser of the race finds the winner's, in a statement of its own (a
 * fresh snapshot, which sees the committed row).
 */
async function adminFor (client: pg.Client, email: string, name: string | undefined, log: (line: string) => void): Promise<UserRow> {
  const { rows: [created] } = await client.query<UserRow>(
    `INSERT INTO users (email, name, role, is_active) VALUES ($1, $2, 'admin', true)
     ON CONFLICT (email) DO NOTHING RETURNING id, email, name, role, is_active`, [email, name ?? email.slice(0, email.indexOf('@'))])
  if (created !== undefined) {
    log(`created the admin ${created.email} (${created.name}, id ${created.id})`)
    return created
  }
  const { rows: [user] } = await client.query<UserRow>(FIND_USER, [email])
  if (user === undefined) throw new Error(`the user ${email} exists but could not be read back`)
  if (user.role !== 'admin') {
    throw new RefusedError(`${user.email} is a ${user.role}, not an admin, and --create-admin does not promote users; ` +
      `an admin can (PATCH /api/v1/users/${user.id} {"role": "admin"}), or create the admin under another email`)
  }
  if (!user.is_active) {
    throw new RefusedError(`the admin ${user.email} is inactive and --create-admin does not reactivate users; ` +
      `another admin can (PATCH /api/v1/users/${user.id} {"isActive": true}), or create an admin under another email`)
  }
  const keptName = name !== undefined && name !== user.name ? `, its name stays ${JSON.stringify(user.name)}` : ''
  log(`the admin ${user.email} already exists (${user.name}, id ${user.id}): nothing changed${keptName}`)
  return user
}

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
  // Progress lines (embedded PostgreSQL start-up, migrations) go to stderr: stdout is the token alone.
  const log = (line: string): void => { process.stderr.write(`${line}\n`) }
  // The first admin may be the first use of a fresh embedded database: migrated first, as `npm start` would.
  const database = await resolveDatabase(config, log, { migrate: args.createAdmin && config.migrateOnStart })
  try {
    const client = new pg.Client({ connectionString: database.url, ssl: config.database.ssl, connectionTimeoutMillis: config.database.connectTimeoutMs })
    await client.connect()
    let user: UserRow
    try {
      user = args.createAdmin ? await adminFor(client, args.email, args.name, log) : await existingUser(client, args.email)
    } catch (err) {
      if ((err as { code?: unknown }).code === '42P01') throw new RefusedError('the database has no users table yet: apply the migrations first (npm run db:migrate)')
      throw err
    } finally {
      await client.end().catch(() => undefined)
    }
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
