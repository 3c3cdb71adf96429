// The production image without a Docker engine: `npm run build`, then the
// Dockerfile's runtime stage replayed into a temporary folder (its COPY lines,
// its `npm ci` flags applied to package-lock.json, mkdir), and its CMD run
// there with the image's ENV: the compiled server must start from dist/ with
// production dependencies only, apply the migrations itself
// (MIGRATE_ON_START=true), log JSON, pass the Dockerfile's own HEALTHCHECK
// command, and drain on SIGTERM while 50 requests are in flight (all answer
// 200, new connections are refused, exit 0).
//
// What the replay understands (anything else in the runtime stage fails the
// test, so the two cannot drift apart silently): FROM, WORKDIR, ENV, COPY
// (context, or --from=<stage> with paths under that stage's WORKDIR, which are
// taken from this checkout after `npm run build`: the deps/build stages are
// `npm ci` + `npm run build` of the same tree), RUN of `npm ci …`,
// `npm cache clean`, `mkdir -p`, `chown`/`chmod`, and USER, EXPOSE,
// HEALTHCHECK, STOPSIGNAL, CMD. What it cannot prove: that the base image,
// `docker build` itself or file ownership inside the image behave; only a
// Docker engine can.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import t from 'tap'
import { loadConfig } from '../../src/lib/config'
import { createUsers } from '../helpers/api'
import { buildTestApp } from '../helpers/app'
import { ADMIN_URL, createEmptyDatabase, withClient } from '../helpers/database'
import { freePort } from '../helpers/net'
import { IMAGE_NODE_FLAGS } from '../../scripts/lib/service'

const execFileAsync = promisify(execFile)
const ROOT = path.join(__dirname, '..', '..')
const JWT_SECRET = 'test-secret-that-is-at-least-32-characters'
const IN_FLIGHT = 50
const POOL_SIZE = 10

// ---------------------------------------------------------------- helpers

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/** Polls until `check` returns a value; the deadline only keeps a broken run from hanging. */
async function until<T> (what: string, check: () => Promise<T | undefined> | T | undefined, deadlineMs: number): Promise<T> {
  const deadline = Date.now() + deadlineMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${deadlineMs} ms`)
    await sleep(25)
  }
}

async function withDeadline<T> (what: string, promise: Promise<T>, deadlineMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`gave up waiting for ${what} after ${deadlineMs} ms`)), deadlineMs) })
  try {
    return await Promise.race([promise, expired])
  } finally {
    clearTimeout(timer)
  }
}

/** A fresh TCP connection: 'connected', or the error code (ECONNREFUSED once nothing listens). */
async function tcpProbe (port: number): Promise<string> {
  return await new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve('connected') })
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
  })
}

// ------------------------------------------------------- the Dockerfile

interface Instruction { op: string; args: string; line: number }
interface Stage { name?: string; base: string; workdir: string; instructions: Instruction[] }

/** Instructions with continuations joined and comments dropped, as Docker reads them. */
function parseDockerfile (text: string): Instruction[] {
  const out: Instruction[] = []
  let buffer = ''
  let start = 0
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\r$/, '')
    if (/^\s*#/.test(line)) return
    if (buffer === '' && line.trim() === '') return
    if (buffer === '') start = index + 1
    if (/\\\s*$/.test(line)) {
      buffer += line.replace(/\\\s*$/, ' ')
      return
    }
    buffer += line
    const match = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(buffer)
    if (match === null) throw new Error(`Dockerfile line ${start}: cannot read "${buffer}"`)
    out.push({ op: match[1]!.toUpperCase(), args: match[2]!.trim(), line: start })
    buffer = ''
  })
  return out
}

function stagesOf (instructions: Instruction[]): Stage[] {
  const stages: Stage[] = []
  for (const instruction of instructions) {
    if (instruction.op === 'FROM') {
      const words = instruction.args.split(/\s+/).filter((w) => !w.startsWith('--'))
      const base = words[0]!
      const name = words[1]?.toUpperCase() === 'AS' ? words[2] : undefined
      const parent = stages.find((s) => s.name === base)
      stages.push({ name, base, workdir: parent?.workdir ?? '/', instructions: [] })
      continue
    }
    const stage = stages.at(-1)
    if (stage === undefined) throw new Error(`Dockerfile line ${instruction.line}: ${instruction.op} before FROM`)
    stage.instructions.push(instruction)
    if (instruction.op === 'WORKDIR') stage.workdir = path.posix.resolve(stage.workdir, instruction.args)
  }
  return stages
}

/** ENV KEY=value … (no quoting: the test keeps it simple and says so). */
function parseEnv (args: string): Record<string, string> {
  if (/["']/.test(args)) throw new Error(`ENV with quotes is not understood by this test: ${args}`)
  const words = args.split(/\s+/)
  if (!words[0]!.includes('=')) return { [words[0]!]: words.slice(1).join(' ') }
  return Object.fromEntries(words.map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]))
}

/** `HEALTHCHECK [--opt=…] CMD …` → the argv Docker would run. */
function healthcheckArgv (args: string): string[] {
  const command = args.replace(/^(--\S+\s+)*/, '')
  if (!command.startsWith('CMD ')) throw new Error(`HEALTHCHECK without CMD: ${args}`)
  const rest = command.slice(4).trim()
  return rest.startsWith('[') ? JSON.parse(rest) as string[] : ['/bin/sh', '-c', rest]
}

/** .dockerignore patterns as matchers of context-relative paths. */
function dockerignore (text: string): (rel: string) => boolean {
  const patterns = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  if (patterns.some((p) => p.startsWith('!'))) throw new Error('.dockerignore exceptions (!) are not understood by this test')
  const regexes = patterns.map((p) => new RegExp('^' + p.replace(/\/+$/, '').split('/').map((segment) => segment === '**'
    ? '(?:.*)'
    : segment.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')).join('/').replace(/^\(\?:\.\*\)\//, '(?:.*/)?') + '(?:/.*)?$'))
  return (rel) => regexes.some((r) => r.test(rel))
}

// --------------------------------------------- replaying the runtime stage

/** Hard-links a tree (copies across file systems); `skip` sees paths relative to `src`. */
async function linkTree (src: string, dest: string, skip: (rel: string) => boolean = () => false, rel = ''): Promise<void> {
  const stat = await fsp.lstat(src)
  if (stat.isSymbolicLink()) {
    await fsp.rm(dest, { force: true })
    await fsp.symlink(await fsp.readlink(src), dest)
  } else if (stat.isDirectory()) {
    await fsp.mkdir(dest, { recursive: true })
    for (const name of await fsp.readdir(src)) {
      const childRel = rel === '' ? name : `${rel}/${name}`
      if (!skip(childRel)) await linkTree(path.join(src, name), path.join(dest, name), skip, childRel)
    }
  } else {
    await fsp.rm(dest, { force: true })
    try {
      await fsp.link(src, dest)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV' && (err as NodeJS.ErrnoException).code !== 'EPERM') throw err
      await fsp.copyFile(src, dest)
    }
  }
}

interface LockEntry { dev?: boolean; optional?: boolean; devOptional?: boolean; peer?: boolean; link?: boolean; os?: string[]; cpu?: string[] }

/** npm ci with these flags, from this checkout's node_modules: arborist's Node#shouldOmit per lockfile entry. */
async function replayNpmCi (app: string, words: string[]): Promise<void> {
  const omit = new Set(words.filter((w) => w.startsWith('--omit=')).map((w) => w.slice('--omit='.length)))
  if (words.includes('--production')) omit.add('dev')
  const lockfile = path.join(app, 'package-lock.json')
  if (!fs.existsSync(lockfile)) throw new Error('npm ci runs before package-lock.json is copied')
  const packages = (JSON.parse(await fsp.readFile(lockfile, 'utf8')) as { packages: Record<string, LockEntry> }).packages
  for (const [key, entry] of Object.entries(packages)) {
    if (!key.startsWith('node_modules/') || entry.link === true) continue
    const devOptional = entry.devOptional === true || entry.dev === true || entry.optional === true
    const omitted = (entry.peer === true && omit.has('peer')) || (entry.dev === true && omit.has('dev')) ||
      (entry.optional === true && omit.has('optional')) || (devOptional && omit.has('optional') && omit.has('dev'))
    if (omitted) continue
    const source = path.join(ROOT, key)
    if (!fs.existsSync(source)) {
      if (devOptional) continue // an optional package for another platform
      throw new Error(`${key} is in the lockfile but not installed here: run npm ci`)
    }
    // Each lockfile entry is linked on its own, without its nested node_modules
    // (those are entries of their own, kept or omitted by their own flags).
    await linkTree(source, path.join(app, key), (rel) => rel === 'node_modules')
  }
  // npm's record of a finished install, which the image's install check requires.
  await fsp.copyFile(path.join(ROOT, 'node_modules', '.package-lock.json'), path.join(app, 'node_modules', '.package-lock.json'))
}

interface Replay {
  app: string
  env: Record<string, string>
  user?: string
  stopSignal?: string
  healthcheck?: string[]
  cmd?: string[]
  npmCi: string[][]
  /** Paths the stage's `test -f|-x|-d` checks require. */
  checks: string[]
  runtimeBase: string
}

async function replayRuntimeStage (stages: Stage[], app: string): Promise<Replay> {
  const runtime = stages.at(-1)!
  const ignored = dockerignore(await fsp.readFile(path.join(ROOT, '.dockerignore'), 'utf8'))
  const replay: Replay = { app, env: {}, npmCi: [], checks: [], runtimeBase: runtime.base }
  let workdir = '/'
  const inApp = (p: string): string => {
    const abs = path.posix.resolve(workdir, p)
    const rel = path.posix.relative(runtime.workdir, abs)
    if (rel.startsWith('..')) throw new Error(`${p} lies outside the runtime WORKDIR ${runtime.workdir}`)
    return path.join(app, rel)
  }
  for (const { op, args, line } of runtime.instructions) {
    switch (op) {
      case 'WORKDIR':
        workdir = path.posix.resolve(workdir, args)
        await fsp.mkdir(inApp('.'), { recursive: true })
        break
      case 'ENV':
        Object.assign(replay.env, parseEnv(args))
        break
      case 'COPY': {
        if (args.startsWith('[')) throw new Error(`Dockerfile line ${line}: COPY's JSON form is not understood by this test`)
        const words = args.split(/\s+/)
        const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length)
        const paths = words.filter((w) => !w.startsWith('--'))
        const dest = paths.pop()!
        if (paths.length === 0) throw new Error(`Dockerfile line ${line}: COPY without a source`)
        for (const src of paths) {
          if (/[*?[]/.test(src)) throw new Error(`Dockerfile line ${line}: wildcards are not understood by this test`)
          let source: string
          let skip: (rel: string) => boolean = () => false
          if (from !== undefined) {
            const stage = stages.find((s) => s.name === from)
            if (stage === undefined) throw new Error(`Dockerfile line ${line}: --from=${from} is not a stage of this Dockerfile`)
            const rel = path.posix.relative(stage.workdir, path.posix.resolve(stage.workdir, src))
            if (rel.startsWith('..')) throw new Error(`Dockerfile line ${line}: ${src} lies outside stage ${from}'s WORKDIR`)
            source = path.join(ROOT, rel) // the deps/build stages are npm ci + npm run build of this tree
          } else {
            const rel = path.posix.normalize(src).replace(/\/+$/, '')
            if (rel === '.' || rel.startsWith('..')) throw new Error(`Dockerfile line ${line}: the runtime stage copies the whole context (${src})`)
            if (ignored(rel)) throw new Error(`Dockerfile line ${line}: ${src} is excluded by .dockerignore, so COPY would fail`)
            source = path.join(ROOT, rel)
            skip = (inner) => ignored(`${rel}/${inner}`)
          }
          if (!fs.existsSync(source)) throw new Error(`Dockerfile line ${line}: ${src} does not exist (${source})`)
          const isDir = (await fsp.stat(source)).isDirectory()
          const target = isDir || !(dest.endsWith('/') || dest === '.' || paths.length > 1) ? inApp(dest) : path.join(inApp(dest), path.basename(source))
          await fsp.mkdir(isDir ? target : path.dirname(target), { recursive: true })
          await linkTree(source, target, skip)
        }
        break
      }
      case 'RUN':
        for (const command of args.split('&&').map((c) => c.trim())) {
          const words = command.split(/\s+/)
          if (words[0] === 'npm' && words[1] === 'ci') {
            replay.npmCi.push(words)
            await replayNpmCi(app, words)
          } else if (words[0] === 'test' && ['-f', '-x', '-d'].includes(words[1]!) && words.length === 3) {
            // The install checks: they must hold in the replayed stage as in the image.
            replay.checks.push(words[2]!)
            if (!fs.existsSync(inApp(words[2]!))) throw new Error(`Dockerfile line ${line}: "RUN ${command}" fails: ${words[2]} is not there after the replay`)
          } else if (words[0] === 'npm' && words[1] === 'cache' && words[2] === 'clean') {
            // nothing to replay
          } else if (words[0] === 'mkdir') {
            for (const dir of words.slice(1).filter((w) => !w.startsWith('-'))) await fsp.mkdir(inApp(dir), { recursive: true })
          } else if (words[0] === 'chown' || words[0] === 'chmod') {
            // ownership is the image's business: the test runs as its own user
          } else {
            throw new Error(`Dockerfile line ${line}: this test cannot replay "RUN ${command}"; teach it (test/production-server.test.ts)`)
          }
        }
        break
      case 'USER': replay.user = args; break
      case 'STOPSIGNAL': replay.stopSignal = args; break
      case 'HEALTHCHECK': replay.healthcheck = healthcheckArgv(args); break
      case 'CMD':
        if (!args.startsWith('[')) throw new Error(`Dockerfile line ${line}: CMD must be in exec form (JSON), so node is PID 1 and gets SIGTERM`)
        replay.cmd = JSON.parse(args) as string[]
        break
      case 'EXPOSE': case 'LABEL': case 'ARG':
        break
      default:
        throw new Error(`Dockerfile line ${line}: this test cannot replay ${op}`)
    }
  }
  return replay
}

async function filesUnder (dir: string, skipDir: (name: string) => boolean): Promise<string[]> {
  const out: string[] = []
  for (const entry of await fsp.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) {
      if (!skipDir(entry.name)) out.push(...await filesUnder(full, skipDir))
    } else {
      out.push(full)
    }
  }
  return out
}

// -------------------------------------------------------------- the test

t.test('the built image runs dist/src/server.js: migrates, serves, passes its HEALTHCHECK, drains 50 in-flight requests on SIGTERM', async (t) => {
  t.setTimeout(240_000)

  // execFile (async): a blocking spawnSync would stall this process's event loop for seconds.
  await execFileAsync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 })

  // ---- the Dockerfile's shape
  const stages = stagesOf(parseDockerfile(await fsp.readFile(path.join(ROOT, 'Dockerfile'), 'utf8')))
  t.same(stages.map((s) => s.name), ['deps', 'build', 'runtime'], 'three stages: deps, build, runtime')
  const runtime = stages.at(-1)!
  t.notOk(stages.some((s) => s.name === runtime.base), 'the runtime stage starts from a clean base image, not from a stage with dev dependencies')

  const staged = await fsp.mkdtemp(path.join(os.tmpdir(), 'crm-image-'))
  t.teardown(async () => await fsp.rm(staged, { recursive: true, force: true }))
  const image = await replayRuntimeStage(stages, staged)

  t.match(image.env, { NODE_ENV: 'production', HOST: '0.0.0.0', PORT: '3000' }, 'ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000')
  t.ok(image.user !== undefined && !['root', '0'].includes(image.user.split(':')[0]!), `runs as a non-root user (${image.user})`)
  t.equal(image.stopSignal, 'SIGTERM', 'STOPSIGNAL SIGTERM')
  t.same(image.cmd, ['node', ...IMAGE_NODE_FLAGS, 'dist/src/server.js'], 'CMD runs the compiled server, with the Node.js flags npm start and the bench use')
  t.equal(image.npmCi.length, 1, 'the runtime stage installs its dependencies with npm ci')
  const npmCi = image.npmCi[0] ?? []
  t.ok(npmCi.includes('--omit=dev'), 'npm ci --omit=dev')
  t.ok(npmCi.includes('--ignore-scripts'), 'npm ci --ignore-scripts: our postinstall needs the prisma CLI, a devDependency')
  t.ok(image.healthcheck?.join(' ').includes('/health'), 'the HEALTHCHECK probes /health')
  t.ok(image.checks.includes('node_modules/.package-lock.json'), 'the build fails when npm ci did not finish (npm\'s .package-lock.json is checked)')
  t.match(image.runtimeBase, /^node:(22|24)-bookworm-slim$/, `a supported Node LTS base (${image.runtimeBase})`)
  t.same(stages.map((s) => s.base).filter((b) => b.startsWith('node:')), [image.runtimeBase, image.runtimeBase], 'deps and runtime on the same Node')

  // ---- what the image holds: compiled JS, migrations, production dependencies
  const pkg = JSON.parse(await fsp.readFile(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> }
  const lock = (JSON.parse(await fsp.readFile(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }).packages
  // Dev-only per the lockfile: `dev`, or `devOptional` (reachable only through
  // devDependencies and optional edges, e.g. prisma and typescript, which
  // @prisma/client names as optional peers: `--omit=dev` alone keeps those).
  const devOnly = Object.keys(lock).filter((key) => key.startsWith('node_modules/') && (lock[key]!.dev === true || lock[key]!.devOptional === true))
  for (const name of Object.keys(pkg.devDependencies)) {
    // Others (@types/pg, @types/node) are needed by a production package too.
    if (devOnly.includes(`node_modules/${name}`)) t.notOk(fs.existsSync(path.join(staged, 'node_modules', name)), `devDependency ${name} is not in the image`)
  }
  t.same(devOnly.filter((key) => fs.existsSync(path.join(staged, key))), [], 'no dev-only package of the lockfile is in the image')
  for (const name of Object.keys(pkg.dependencies)) {
    t.ok(fs.existsSync(path.join(staged, 'node_modules', name, 'package.json')), `dependency ${name} is in the image`)
  }
  const ownFiles = await filesUnder(staged, (name) => name === 'node_modules')
  t.same(ownFiles.filter((f) => f.endsWith('.ts')).map((f) => path.relative(staged, f)), [], 'no TypeScript sources (the generated client is compiled into dist/generated)')
  t.notOk(fs.existsSync(path.join(staged, 'test')), 'no tests in the image')
  t.ok(fs.existsSync(path.join(staged, 'dist', 'generated', 'prisma', 'client.js')), 'the compiled Prisma client is in dist/generated')
  const migrationNames = (await fsp.readdir(path.join(ROOT, 'prisma', 'migrations'), { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort()
  t.ok(migrationNames.length > 0)
  for (const name of migrationNames) t.ok(fs.existsSync(path.join(staged, 'prisma', 'migrations', name, 'migration.sql')), `migration ${name} is in the image`)

  // ---- run the CMD as the container would: the image's ENV plus the operator's
  const db = await createEmptyDatabase('production_server')
  t.teardown(db.drop)
  const port = await freePort()
  const env: Record<string, string> = {
    PATH: [path.dirname(process.execPath), process.env.PATH ?? ''].join(path.delimiter), // `node` = this node
    HOME: staged,
    ...image.env,
    HOST: '127.0.0.1', // the image says 0.0.0.0; the test keeps the port off the network
    PORT: String(port),
    MIGRATE_ON_START: 'true',
    DATABASE_URL: db.url,
    JWT_SECRET,
    LOG_LEVEL: 'info',
    // A small pool, so the test does not crowd PostgreSQL's 100 connections
    // while other test files run: POOL_SIZE requests wait on the lock in
    // PostgreSQL, the rest wait for a connection, long enough not to time out.
    DATABASE_POOL_SIZE: String(POOL_SIZE),
    DATABASE_CONNECT_TIMEOUT_MS: '60000',
    // The held table lock must not turn into statement timeouts on a slow machine.
    DATABASE_QUERY_TIMEOUT_MS: '60000'
  }
  const config = loadConfig(env)
  t.equal(config.env, 'production')
  t.equal(config.database.poolSize, POOL_SIZE)

  const [command, ...args] = image.cmd ?? ['node', 'dist/src/server.js']
  t.equal(command, 'node')
  const child: ChildProcess = spawn(process.execPath, args, { cwd: staged, env, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  const logLines = (): string[] => stdout.split('\n').filter((l) => l.trim() !== '')
  const parsedLines = (): Array<Record<string, unknown>> => logLines().flatMap((l) => {
    try { return [JSON.parse(l) as Record<string, unknown>] } catch { return [] }
  })

  await until('the "ready" log line', () => {
    if (child.exitCode !== null) throw new Error(`the server exited early (${child.exitCode}): ${stdout}${stderr}`)
    return parsedLines().some((l) => l.msg === 'ready') ? true : undefined
  }, 60_000)

  // ---- migrations applied by the server itself
  const applied = await withClient(db.url, async (client) => (await client.query<{ migration_name: string }>(
    'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY migration_name')).rows.map((r) => r.migration_name))
  t.same(applied, migrationNames, 'every migration recorded in _prisma_migrations')
  for (const name of migrationNames) t.ok(parsedLines().some((l) => typeof l.msg === 'string' && l.msg.startsWith(`applied ${name}`)), `the server logged applying ${name}`)

  // ---- probes
  const base = `http://127.0.0.1:${port}`
  const health = await fetch(`${base}/health`)
  t.equal(health.status, 200, '/health 200')
  t.same(await health.json(), { status: 'ok' })
  const ready = await fetch(`${base}/ready`)
  t.equal(ready.status, 200, '/ready 200')
  t.match(await ready.json(), { status: 'ok', database: 'up' })

  // The Dockerfile's HEALTHCHECK command itself, with the container's env and WORKDIR.
  const runHealthcheck = async (): Promise<number> => {
    const [file, ...argv] = image.healthcheck!
    try {
      await execFileAsync(file!, argv, { cwd: staged, env, timeout: 30_000 })
      return 0
    } catch (err) {
      return typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1
    }
  }
  t.equal(await runHealthcheck(), 0, 'HEALTHCHECK passes against the running server')

  // ---- 50 requests held in flight by a table lock, then SIGTERM
  const testApp = await buildTestApp(t, db.url) // only to sign a token with the same secret
  const [user] = await createUsers(testApp, db.url, ['member'])
  const locker = new pg.Client({ connectionString: db.url })
  await locker.connect()
  t.teardown(async () => await locker.end().catch(() => {}))
  const monitor = new pg.Client({ connectionString: ADMIN_URL })
  await monitor.connect()
  t.teardown(async () => await monitor.end().catch(() => {}))
  const waitingOnLock = async (): Promise<number> => (await monitor.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = $1 AND wait_event_type = 'Lock' AND query LIKE '%FROM organizations o%'`, [db.name])).rows[0]!.n

  // The caller is looked up once and cached: that lookup must not queue behind the held queries.
  t.equal((await fetch(`${base}/api/v1/users/me`, { headers: user!.headers })).status, 200)
  const poolWaiting = async (): Promise<number> => {
    const metrics = await (await fetch(`${base}/metrics`)).text()
    return Number(/^db_pool_clients_waiting (\d+)$/m.exec(metrics)?.[1])
  }

  await locker.query('BEGIN')
  await locker.query('LOCK TABLE organizations IN ACCESS EXCLUSIVE MODE')
  let settled = 0
  const requests = Array.from({ length: IN_FLIGHT }, async (_, i) => {
    try {
      const res = await fetch(`${base}/api/v1/organizations?limit=1&offset=${i}`, { headers: user!.headers })
      return { status: res.status, body: await res.text() }
    } catch (err) {
      return { status: 0, body: String(err) }
    } finally {
      settled++
    }
  })
  try {
    await until(`${IN_FLIGHT} requests in flight`, async () => {
      if (settled > 0) throw new Error(`a request was answered while the table was locked: ${JSON.stringify(await Promise.race(requests))}`)
      return (await waitingOnLock()) === POOL_SIZE && (await poolWaiting()) === IN_FLIGHT - POOL_SIZE ? true : undefined
    }, 30_000)
    t.pass(`${IN_FLIGHT} requests are in flight: ${POOL_SIZE} blocked in PostgreSQL, ${IN_FLIGHT - POOL_SIZE} waiting for a connection`)
    const live = await fetch(`${base}/health`)
    t.equal(live.status, 200, 'liveness still 200 while every database connection is busy')
    await live.arrayBuffer()

    child.kill('SIGTERM')
    // A probe that reaches the accept queue just as the listener closes is
    // reset by the kernel (ECONNRESET, seen once on a loaded machine): the
    // listener is closing then, not closed. Poll until it refuses.
    const refused = await until('the listener to close', async () => {
      const result = await tcpProbe(port)
      return result === 'connected' || result === 'ECONNRESET' ? undefined : result
    }, 10_000)
    t.equal(refused, 'ECONNREFUSED', 'after SIGTERM a new connection is refused')
    t.equal(settled, 0, 'while all 50 requests are still pending')
    t.equal(child.exitCode, null, 'and the process is still draining')
    t.equal(await waitingOnLock(), POOL_SIZE, 'their queries are still waiting in PostgreSQL')
  } finally {
    await locker.query('ROLLBACK')
  }

  const answers = await withDeadline('the in-flight responses', Promise.all(requests), 30_000)
  t.same(answers.map((a) => a.status), Array(IN_FLIGHT).fill(200), 'all 50 in-flight requests answered 200')
  for (const a of answers.filter((x) => x.status !== 200).slice(0, 3)) t.comment(`non-200: ${a.status} ${a.body.slice(0, 300)}`)
  for (const l of parsedLines().filter((x) => (x.level as number) >= 40).slice(0, 5)) t.comment(JSON.stringify(l).slice(0, 400))
  answers.forEach((answer, i) => {
    let body: { data?: unknown; page?: { offset?: number } } = {}
    try { body = JSON.parse(answer.body) as typeof body } catch {}
    t.ok(Array.isArray(body.data) && body.page?.offset === i, `request ${i} got its own JSON page`)
  })

  const [code, signal] = await withDeadline('the process to exit', exited, config.shutdownGraceMs + 10_000)
  t.equal(code, 0, `exit code 0 (close-with-grace exits 1 after SHUTDOWN_GRACE_MS=${config.shutdownGraceMs})`)
  t.equal(signal, null)
  t.ok(parsedLines().some((l) => l.signal === 'SIGTERM' && typeof l.msg === 'string' && l.msg.startsWith('shutting down')), 'the shutting-down line names the signal')

  // ---- production logging: JSON lines only, nothing on stderr
  const notJson = logLines().filter((l) => { try { JSON.parse(l); return false } catch { return true } })
  t.same(notJson, [], 'every stdout line is JSON (no pino-pretty in production)')
  t.ok(parsedLines().every((l) => typeof l.level === 'number' && typeof l.time === 'number'), 'pino JSON lines')
  t.equal(stderr, '', 'nothing on stderr')

  // The same HEALTHCHECK fails once nothing serves: it can tell.
  t.not(await runHealthcheck(), 0, 'HEALTHCHECK fails after the server stopped')
  t.equal(await tcpProbe(port), 'ECONNREFUSED')
})
