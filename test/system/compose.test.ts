// compose.yaml (contract §8, "a local stack in one command"), checked two
// ways without starting it (its images come from a registry this machine
// cannot reach):
// - a Compose implementation validates it: `docker-compose config`, with and
//   without the pooler profile (Debian's docker-compose 1.29; Debian's
//   podman-compose 1.0.3 has no `config` command, and its --dry-run still
//   creates volumes and networks);
// - the file, parsed, against the service's own rules: every service has a
//   healthcheck, every dependency waits for a healthcheck, each instance's
//   environment passes loadConfig (with the image's NODE_ENV=production) and
//   points at services of the file on the ports they listen on, the pooled
//   instance runs with DATABASE_POOLER=transaction and migrates nowhere but
//   through DATABASE_DIRECT_URL, and PgBouncer's own settings agree.
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { parse } from 'yaml'
import { EnvSchema, loadConfig } from '../../src/lib/config'
import { ensureCommand } from '../helpers/debian-package'

const ROOT = path.join(__dirname, '..', '..')
const run = promisify(execFile)

interface Service {
  image?: string
  build?: unknown
  profiles?: string[]
  environment?: Record<string, string>
  healthcheck?: { test?: string[] }
  depends_on?: Record<string, { condition?: string }>
  ports?: string[]
  command?: string[]
}
const compose = parse(fs.readFileSync(path.join(ROOT, 'compose.yaml'), 'utf8'), { merge: true }) as { services: Record<string, Service> }
const services = compose.services
const APPS = ['app', 'app-pooled']

/** ${NAME:-default} as Compose substitutes it with NAME unset. */
const substitute = (value: string): string => value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')

/** Host and port of a URL, e.g. "postgres:5432". */
const target = (url: string, defaultPort: number): string => {
  const u = new URL(url)
  return `${u.hostname}:${u.port === '' ? defaultPort : u.port}`
}

const pgbouncerIni = fs.readFileSync(path.join(ROOT, 'compose', 'pgbouncer', 'pgbouncer.ini'), 'utf8')
const iniValue = (key: string): string | undefined => new RegExp(`^${key}\\s*=\\s*(.*)$`, 'm').exec(pgbouncerIni)?.[1]?.trim()

/** Where each service listens inside the compose network. */
const LISTENS: Record<string, number> = { postgres: 5432, redis: 6379, pgbouncer: Number(iniValue('listen_port')), app: 3000, 'app-pooled': 3000 }

t.test('the services and the pooler profile', async (t) => {
  t.same(Object.keys(services).sort(), ['app', 'app-pooled', 'pgbouncer', 'postgres', 'redis'])
  for (const name of ['postgres', 'redis', 'app']) t.same(services[name]!.profiles, undefined, `${name} starts by default`)
  for (const name of ['pgbouncer', 'app-pooled']) t.same(services[name]!.profiles, ['pooler'], `${name} only with --profile pooler`)
  t.equal(services.app!.image, services['app-pooled']!.image, 'both instances run the one image')
  t.same(services.app!.build, { context: '.', args: { EMBEDDED_POSTGRES: 'false' } }, 'built from the Dockerfile without the embedded PostgreSQL')
})

t.test('every service has a healthcheck, and every dependency waits for one', async (t) => {
  for (const [name, service] of Object.entries(services)) {
    t.ok((service.healthcheck?.test?.length ?? 0) > 1, `${name} has a healthcheck`)
    for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
      t.ok(dependency in services, `${name} depends on ${dependency}, a service of the file`)
      t.equal(condition, 'service_healthy', `${name} waits for ${dependency} to be healthy`)
      const profiles = services[dependency]!.profiles
      t.ok(profiles === undefined || (service.profiles ?? []).every((p) => profiles.includes(p)), `${dependency} runs whenever ${name} does`)
    }
  }
  for (const name of APPS) {
    const test = services[name]!.healthcheck!.test!
    t.same(test.slice(0, 3), ['CMD', 'node', '-e'], `${name}: the image's own probe (node, no curl in the image)`)
    t.match(test[3], /fetch\('http:\/\/127\.0\.0\.1:3000\/health'\)/, `${name}: probes /health (liveness) on the port the image listens on`)
  }
  const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')
  t.match(dockerfile, /HEALTHCHECK[^\n]*\\\n\s+CMD node -e "fetch\('http:\/\/127\.0\.0\.1:'\+\(process\.env\.PORT\|\|3000\)\+'\/health'\)/, 'the same probe as the Dockerfile\'s HEALTHCHECK')
})

t.test('each instance\'s environment is a valid configuration pointing at the stack', async (t) => {
  const names = new Set(Object.keys(EnvSchema.properties))
  const postgresEnv = services.postgres!.environment!
  for (const name of APPS) {
    const env = Object.fromEntries(Object.entries(services[name]!.environment!).map(([k, v]) => [k, substitute(String(v))]))
    t.same(Object.keys(env).filter((k) => !names.has(k)), [], `${name}: every variable is one of EnvSchema`)
    // The image sets NODE_ENV=production, so JWT_SECRET is required and checked.
    const config = loadConfig({ NODE_ENV: 'production', ...env })
    const user = new URL(config.database.url!)
    t.same([decodeURIComponent(user.username), decodeURIComponent(user.password), user.pathname.slice(1)],
      [postgresEnv.POSTGRES_USER, postgresEnv.POSTGRES_PASSWORD, postgresEnv.POSTGRES_DB], `${name}: the database's user, password and name`)
    const redis = target(config.redisUrl!, 6379)
    t.equal(redis, `redis:${LISTENS.redis}`, `${name}: REDIS_URL is the redis service`)
    t.ok(name in services && Object.keys(services[name]!.depends_on ?? {}).includes('redis'), `${name} waits for redis`)
    if (name === 'app') {
      t.equal(target(config.database.url!, 5432), `postgres:${LISTENS.postgres}`, 'app: DATABASE_URL is the postgres service')
      t.equal(config.database.pooler, 'none')
      t.equal(config.migrateOnStart, true, 'app migrates before listening')
    } else {
      t.equal(target(config.database.url!, 5432), `pgbouncer:${LISTENS.pgbouncer}`, 'app-pooled: DATABASE_URL is PgBouncer, on its listen_port')
      t.equal(config.database.pooler, 'transaction', 'app-pooled: DATABASE_POOLER=transaction')
      t.equal(target(config.database.directUrl!, 5432), `postgres:${LISTENS.postgres}`, 'app-pooled: DATABASE_DIRECT_URL is PostgreSQL itself')
      t.equal(config.migrateOnStart, false, 'app-pooled leaves migrating to app')
      t.ok('app' in services['app-pooled']!.depends_on!, 'and starts after app is healthy (migrated)')
    }
  }
  t.same(APPS.map((n) => services[n]!.ports), [['3000:3000'], ['3001:3000']], 'the instances on ports 3000 and 3001 of the host')
})

t.test('PgBouncer\'s settings: transaction pooling in front of the postgres service', async (t) => {
  t.equal(iniValue('pool_mode'), 'transaction')
  t.match(pgbouncerIni, /^crm\s*=\s*host=postgres port=5432 dbname=crm$/m, 'the crm database is the postgres service')
  t.notMatch(iniValue('ignore_startup_parameters') ?? '', /statement_timeout|idle_in_transaction/, 'no session settings need ignoring: the service sends none in this mode')
  t.ok(Number(iniValue('idle_transaction_timeout')) > 0, 'PgBouncer closes transactions left idle (the session setting the service cannot send)')
  const userlist = fs.readFileSync(path.join(ROOT, 'compose', 'pgbouncer', 'userlist.txt'), 'utf8')
  t.match(userlist, new RegExp(`^"${services.postgres!.environment!.POSTGRES_USER}" "${services.postgres!.environment!.POSTGRES_PASSWORD}"$`, 'm'), 'its user list has the database\'s user')
})

t.test('a Compose implementation accepts the file, with and without the pooler profile', async (t) => {
  const found = await ensureCommand('docker-compose', 'docker-compose')
  if ('skip' in found) {
    t.comment(`SKIP: ${found.skip}`)
    t.pass('skipped: no docker-compose')
    return
  }
  for (const args of [[], ['--profile', 'pooler']]) {
    const { stdout } = await run(found.path, ['--project-directory', ROOT, '-f', path.join(ROOT, 'compose.yaml'), ...args, 'config'], { cwd: ROOT })
    const resolved = parse(stdout) as { services: Record<string, Service> }
    t.same(Object.keys(resolved.services).sort(), Object.keys(services).sort(), `docker-compose ${[...args, 'config'].join(' ')}: valid, the same services`)
    t.equal(resolved.services.app!.environment!.JWT_SECRET, substitute(services.app!.environment!.JWT_SECRET!), 'the JWT_SECRET default substituted')
  }
})
