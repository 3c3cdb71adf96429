// npm run token: the printed token works against the API; unknown, inactive
// and malformed input are refused with the documented exit codes; an empty
// database gets its first admin with --create-admin.
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { buildTestApp, runScript, type ScriptRun } from '../helpers/app'
import { createTestDatabase, withClient } from '../helpers/database'
import { createUsers } from '../helpers/api'
import { persistentDevSecret } from '../../src/lib/dev-secret'

const ROOT = path.resolve(__dirname, '../..')
const JWT_SECRET = 'token-script-secret-of-at-least-32-chars'

function decodePayload (token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>
}

/** 'exit 0', or what it printed on stderr when it failed. */
const outcome = (run: ScriptRun): string => run.status === 0 ? 'exit 0' : `exit ${run.status}:\n${run.stderr}`

t.test('npm run token', async (t) => {
  t.setTimeout(120_000)
  const db = await createTestDatabase('token')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url, { JWT_SECRET })
  const [member, inactive] = await createUsers(app, db.url, ['member', 'member'])
  await withClient(db.url, async (client) => await client.query('UPDATE users SET is_active = false WHERE id = $1', [inactive!.id]))

  const script = path.join(ROOT, 'scripts', 'token.ts')
  const baseEnv = { ...process.env, NODE_ENV: 'test', DATABASE_URL: db.url, JWT_SECRET }
  const run = async (...args: string[]): Promise<ScriptRun> => await runScript(script, args, baseEnv)

  t.test('prints a token that the API accepts', async (t) => {
    // Another case than stored: the lookup ignores case.
    const result = await run('--email', member!.email.toUpperCase())
    t.equal(result.status, 0, result.stderr)
    t.match(result.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'stdout is the token and a newline, nothing else')
    const token = result.stdout.trim()
    const payload = decodePayload(token)
    t.equal(payload.sub, member!.id, 'sub is the user id')
    t.equal(typeof payload.exp, 'number')
    const lifetime = (payload.exp as number) - (payload.iat as number)
    t.equal(lifetime, 3600, 'one hour by default')

    const me = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: `Bearer ${token}` } })
    t.equal(me.statusCode, 200)
    t.equal(me.json().email, member!.email)
    t.equal(me.json().id, member!.id)
  })

  t.test('--expires-in sets the lifetime', async (t) => {
    const result = await run('--email', member!.email, '--expires-in', '8h')
    t.equal(result.status, 0, result.stderr)
    const payload = decodePayload(result.stdout.trim())
    t.equal((payload.exp as number) - (payload.iat as number), 8 * 3600)
    const me = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: `Bearer ${result.stdout.trim()}` } })
    t.equal(me.statusCode, 200)
  })

  t.test('a token signed with another secret is refused by the app', async (t) => {
    const other = await runScript(script, ['--email', member!.email], { ...baseEnv, JWT_SECRET: 'a-different-secret-of-at-least-32-chars' })
    t.equal(other.status, 0, other.stderr)
    const me = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: `Bearer ${other.stdout.trim()}` } })
    t.equal(me.statusCode, 401, 'the script really signs with JWT_SECRET')
  })

  t.test('without JWT_SECRET: the development secret kept in EMBEDDED_DATABASE_DIR, as the server uses', async (t) => {
    const dir = t.testdir({})
    const result = await runScript(script, ['--email', member!.email], { ...baseEnv, JWT_SECRET: undefined, EMBEDDED_DATABASE_DIR: dir })
    t.equal(result.status, 0, result.stderr)
    // What server.ts would use with the same environment.
    const serverSecret = persistentDevSecret(dir)
    t.ok(fs.existsSync(path.join(dir, 'jwt-secret')), 'the script created the shared secret file')
    const devApp = await buildTestApp(t, db.url, { JWT_SECRET: serverSecret })
    const me = await devApp.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: `Bearer ${result.stdout.trim()}` } })
    t.equal(me.statusCode, 200)
    const rejected = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: `Bearer ${result.stdout.trim()}` } })
    t.equal(rejected.statusCode, 401, 'not signed with the test JWT_SECRET')
  })

  t.test('unknown email: exit 1, a clear message, no token, no stack trace', async (t) => {
    const result = await run('--email', 'nobody@example.test')
    t.equal(result.status, 1)
    t.equal(result.stdout, '')
    t.match(result.stderr, /no user with email nobody@example\.test/)
    t.notMatch(result.stderr, /\n\s+at /, 'no stack trace')
  })

  t.test('inactive user: exit 1', async (t) => {
    const result = await run('--email', inactive!.email)
    t.equal(result.status, 1)
    t.equal(result.stdout, '')
    t.match(result.stderr, /inactive/)
    t.notMatch(result.stderr, /\n\s+at /, 'no stack trace')
  })

  t.test('bad arguments: exit 2 with the usage', async (t) => {
    for (const args of [[], ['--email'], ['--email', ''], ['--email', 'not-an-email'], ['--email', member!.email, '--expires-in', 'soon'],
      ['--email', member!.email, '--expires-in', '0h'], ['--email', member!.email, '--bogus'], ['--email', member!.email, 'extra'],
      ['--email', member!.email, '--create-admin', 'admin@example.test'], ['--email', member!.email, '--name', 'Ada'],
      ['--create-admin', 'admin@localhost'], ['--create-admin', 'admin@example.test', '--name', ' ']]) {
      const result = await run(...args)
      t.equal(result.status, 2, `${JSON.stringify(args)} exits 2`)
      t.equal(result.stdout, '', 'prints no token')
      t.match(result.stderr, /usage: npm run token -- --email/, 'prints the usage')
    }
    t.match((await run()).stderr, /--email is required/, 'missing --email is named')
    t.match((await run('--email', member!.email, '--expires-in', 'soon')).stderr, /--expires-in/, 'a bad --expires-in is named')
  })
})

t.test('npm run token -- --create-admin: the first admin of a database without users', async (t) => {
  t.setTimeout(120_000)
  const db = await createTestDatabase('token_first_admin')
  t.teardown(db.drop)
  const app = await buildTestApp(t, db.url, { JWT_SECRET })
  const script = path.join(ROOT, 'scripts', 'token.ts')
  const run = async (...args: string[]): Promise<ScriptRun> => await runScript(script, args, { ...process.env, NODE_ENV: 'test', DATABASE_URL: db.url, JWT_SECRET })
  const me = async (token: string) => await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: { authorization: `Bearer ${token}` } })
  const usersWith = async (email: string) => await withClient(db.url, async (client) =>
    (await client.query<{ id: string; name: string; role: string }>('SELECT id, name, role FROM users WHERE email = $1::citext', [email])).rows)

  const created = await run('--create-admin', 'Ada@First.example', '--name', 'Ada Lovelace', '--expires-in', '8h')
  t.equal(created.status, 0, outcome(created))
  t.match(created.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'stdout is the token alone')
  t.match(created.stderr, /created the admin Ada@First\.example/)
  const token = created.stdout.trim()
  t.equal((decodePayload(token).exp as number) - (decodePayload(token).iat as number), 8 * 3600, '--expires-in applies')
  const admin = await me(token)
  t.equal(admin.statusCode, 200, 'the API accepts the token')
  t.match(admin.json(), { email: 'Ada@First.example', name: 'Ada Lovelace', role: 'admin', isActive: true })

  // What the first admin is for: creating the other users.
  const member = await app.inject({
    method: 'POST', url: '/api/v1/users', headers: { authorization: `Bearer ${token}` }, payload: { email: 'grace@first.example', name: 'Grace' }
  })
  t.equal(member.statusCode, 201, 'the admin can create users')

  t.test('again with the same email (any case): the same admin, nothing created or changed', async (t) => {
    const again = await run('--create-admin', 'ada@first.example', '--name', 'Someone Else')
    t.equal(again.status, 0, outcome(again))
    t.equal(decodePayload(again.stdout.trim()).sub, admin.json().id, 'a token for the existing admin')
    t.match(again.stderr, /already exists[\s\S]*nothing changed[\s\S]*its name stays "Ada Lovelace"/)
    t.same((await usersWith('ada@first.example')).map((u) => u.name), ['Ada Lovelace'], 'one row, name unchanged')
    t.equal((await me(again.stdout.trim())).statusCode, 200)
  })

  t.test('two runs at once create one admin', async (t) => {
    const [first, second] = await Promise.all([run('--create-admin', 'alan@first.example'), run('--create-admin', 'alan@first.example')])
    t.equal(first!.status, 0, outcome(first!))
    t.equal(second!.status, 0, outcome(second!))
    const rows = await usersWith('alan@first.example')
    t.equal(rows.length, 1, 'one user row')
    t.match(rows[0], { role: 'admin', name: 'alan' }, 'named after the email by default')
    t.equal(decodePayload(first!.stdout.trim()).sub, rows[0]!.id)
    t.equal(decodePayload(second!.stdout.trim()).sub, rows[0]!.id)
  })

  t.test('an existing member is neither promoted nor given a token', async (t) => {
    const result = await run('--create-admin', 'GRACE@first.example')
    t.equal(result.status, 1)
    t.equal(result.stdout, '', 'no token')
    t.match(result.stderr, /grace@first\.example is a member, not an admin, and --create-admin does not promote users/)
    t.notMatch(result.stderr, /\n\s+at /, 'no stack trace')
    t.same((await usersWith('grace@first.example')).map((u) => u.role), ['member'], 'still a member')
  })

  t.test('an inactive admin is not reactivated', async (t) => {
    await withClient(db.url, async (client) => await client.query("INSERT INTO users (email, name, role, is_active) VALUES ('old@first.example', 'Old', 'admin', false)"))
    const result = await run('--create-admin', 'old@first.example')
    t.equal(result.status, 1)
    t.equal(result.stdout, '', 'no token')
    t.match(result.stderr, /the admin old@first\.example is inactive and --create-admin does not reactivate users/)
    const [old] = await withClient(db.url, async (client) => (await client.query<{ is_active: boolean }>("SELECT is_active FROM users WHERE email = 'old@first.example'")).rows)
    t.equal(old!.is_active, false, 'still inactive')
  })
})
