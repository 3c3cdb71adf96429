// `npm start` as a newcomer runs it, in a copy of the project (so building,
// touching sources and the embedded database stay out of this checkout,
// where other test files use dist/): the root/folder check fails at once in a
// folder others cannot enter; then three starts with the embedded PostgreSQL
// on spare ports, each stopped the way people stop it (SIGTERM to npm as
// `kill $!` does, SIGINT to npm's process group as Ctrl-C does, SIGKILL to
// npm), after which the port must refuse and no process of the copy may be
// left: not npm, the launcher, the server, nor any PostgreSQL process. The
// first start builds, the second does not, the third rebuilds after a touch
// under src/. Linux: the leftovers are found through /proc/<pid>/cwd.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { cannotEnterMessage } from '../../src/lib/embedded-postgres'
import { freePort } from '../helpers/net'
import { until } from '../helpers/wait'

const ROOT = path.join(__dirname, '..', '..')
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'
// A fresh clone after `npm install`, minus node_modules (a symlink to this
// checkout's: installing would take a minute; nothing may install into it).
const COPIED = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'prisma.config.ts', 'src', 'generated', 'scripts', 'prisma']
// Generous: two builds (tsc takes 10-60 s on two loaded cores) and an initdb.
const START_DEADLINE_MS = 240_000
const STOP_DEADLINE_MS = 60_000

/** The environment of someone's shell: none of tap's or the outer npm's variables, no DATABASE_URL or REDIS_URL. */
function userEnv (extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) =>
    !/^(npm_|tap|_tapjs_)/i.test(key) && !['NODE_OPTIONS', 'DATABASE_URL', 'REDIS_URL', 'NODE_ENV'].includes(key)))
  return { ...env, NODE_ENV: 'development', LOG_LEVEL: 'info', ...extra }
}

/** Processes whose working directory is under `dir` (npm, the launcher and the server run in the copy; PostgreSQL in its data directory). */
function processesUnder (dir: string): string[] {
  const found: string[] = []
  for (const pid of fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const cwd = fs.readlinkSync(`/proc/${pid}/cwd`)
      if (cwd !== dir && !cwd.startsWith(dir + path.sep)) continue
      found.push(`${pid} ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()}`)
    } catch {} // gone meanwhile, or a kernel thread
  }
  return found
}

/** 'connected', or the error code of a fresh TCP connection (ECONNREFUSED once nothing listens). */
async function tcpProbe (port: number): Promise<string> {
  return await new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.setTimeout(5000, () => { socket.destroy(); resolve('timeout') })
    socket.once('connect', () => { socket.destroy(); resolve('connected') })
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
  })
}

interface Started { npm: ChildProcess; output: () => string; exit: Promise<{ code: number | null; signal: string | null }> }

/** `npm start` in `cwd`, as the leader of its own process group (as a terminal's foreground job is). */
function npmStart (cwd: string, env: NodeJS.ProcessEnv): Started {
  const npm = spawn(NPM, ['start'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let output = ''
  npm.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString() })
  npm.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) => npm.once('exit', (code, signal) => resolve({ code, signal })))
  return { npm, output: () => output, exit }
}

async function healthy (port: number, run: Started): Promise<void> {
  await until('GET /health to answer 200', async () => {
    if (run.npm.exitCode !== null || run.npm.signalCode !== null) throw new Error(`npm start ended before /health answered:\n${run.output()}`)
    if (run.output().includes('installing dependencies')) throw new Error(`npm start installed dependencies (into this checkout's node_modules):\n${run.output()}`)
    try {
      return (await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5000) })).status === 200
    } catch {
      return false
    }
  }, START_DEADLINE_MS)
}

/** Waits for npm to end, the ports to refuse and every process of the copy to be gone, asserting each. */
interface Ports { http: number; db: number }

async function assertStopped (t: Test, run: Started, ports: Ports, tmp: string): Promise<{ code: number | null; signal: string | null }> {
  let timer: NodeJS.Timeout | undefined
  const exit = await Promise.race([run.exit, new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), STOP_DEADLINE_MS) })])
  clearTimeout(timer)
  t.ok(exit !== undefined, 'npm start ended')
  let left: string[] = []
  try {
    await until('every process of the copy to end', () => (left = processesUnder(tmp)).length === 0, STOP_DEADLINE_MS)
  } catch {}
  t.same(left, [], 'no npm, launcher, server or PostgreSQL process is left')
  t.equal(await tcpProbe(ports.http), 'ECONNREFUSED', `port ${ports.http} no longer answers`)
  t.equal(await tcpProbe(ports.db), 'ECONNREFUSED', `the embedded PostgreSQL's port ${ports.db} no longer answers`)
  return exit ?? { code: null, signal: null }
}

/** Every file under dist/ with its mtime. */
function distFiles (copy: string): Map<string, number> {
  const files = new Map<string, number>()
  const dist = path.join(copy, 'dist')
  if (!fs.existsSync(dist)) return files
  for (const rel of fs.readdirSync(dist, { recursive: true }) as string[]) {
    const stat = fs.statSync(path.join(dist, rel))
    if (stat.isFile()) files.set(rel, stat.mtimeMs)
  }
  return files
}

t.test('npm start: the folder check, signals reach the server, build only when a source changed', async (t) => {
  t.setTimeout(900_000)
  // mkdtemp makes the folder 0700, like `mktemp -d`: the first case depends on it.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-npm-start-'))
  const copy = path.join(tmp, 'crm')
  t.teardown(() => {
    // Only what this test started (their working directory is in tmp) can be there.
    for (const line of processesUnder(tmp)) { try { process.kill(Number(line.split(' ')[0]), 'SIGKILL') } catch {} }
    fs.rmSync(tmp, { recursive: true, force: true })
  })
  fs.mkdirSync(copy)
  for (const name of COPIED) fs.cpSync(path.join(ROOT, name), path.join(copy, name), { recursive: true, preserveTimestamps: true })
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'))
  const lockMtime = fs.statSync(path.join(copy, 'package-lock.json')).mtimeMs
  if (fs.statSync(path.join(ROOT, 'node_modules', '.package-lock.json')).mtimeMs < lockMtime) {
    t.fail('node_modules is older than package-lock.json: run npm ci first (npm start would install into this checkout)')
    return
  }
  const ports = { http: await freePort(), db: await freePort() }
  const env = userEnv({ PORT: String(ports.http), EMBEDDED_DATABASE_PORT: String(ports.db), EMBEDDED_DATABASE_DIR: path.join(tmp, 'data') })

  await t.test('as root in a folder others cannot enter: fails at once, naming the folder, before installing or building', { skip: process.getuid?.() !== 0 && 'not root: the embedded PostgreSQL runs as this user' }, async (t) => {
    const run = npmStart(copy, env)
    const { code } = await assertStopped(t, run, ports, tmp)
    t.not(code, 0, 'npm start fails')
    t.match(run.output(), cannotEnterMessage(tmp), 'the message of src/lib/embedded-postgres.ts, naming the folder and `chmod o+x` for it')
    t.notMatch(run.output(), /installing dependencies|building dist/, 'nothing installed or built first')
    t.equal(fs.existsSync(path.join(copy, 'dist')), false, 'no dist/')
  })

  fs.chmodSync(tmp, 0o755)

  let built = new Map<string, number>()
  await t.test('first start builds; SIGTERM to npm (kill $!) stops the server and PostgreSQL', async (t) => {
    const run = npmStart(copy, env)
    t.teardown(() => { if (run.npm.exitCode === null) run.npm.kill('SIGKILL') })
    await healthy(ports.http, run)
    t.match(run.output(), /building dist\/ \(no build yet\)/, 'compiled')
    built = distFiles(copy)
    t.ok(built.has(path.join('src', 'server.js')), 'dist/src/server.js built')
    process.kill(run.npm.pid!, 'SIGTERM')
    const exit = await assertStopped(t, run, ports, tmp)
    t.same(exit, { code: 0, signal: null }, 'npm exits 0: the server shut down gracefully')
    t.match(run.output(), /"signal":"SIGTERM","msg":"shutting down/, 'the server got the SIGTERM')
  })

  await t.test('second start does not build; Ctrl-C (SIGINT to the group) reaches the server once', async (t) => {
    const run = npmStart(copy, env)
    t.teardown(() => { if (run.npm.exitCode === null) run.npm.kill('SIGKILL') })
    await healthy(ports.http, run)
    t.match(run.output(), /dist\/ is up to date/, 'says it is not compiling')
    t.notMatch(run.output(), /building dist/)
    t.same(distFiles(copy), built, 'every file under dist/ unchanged (same names and mtimes)')
    process.kill(-run.npm.pid!, 'SIGINT') // npm, and the launcher npm exec'd: what a terminal does on Ctrl-C
    const exit = await assertStopped(t, run, ports, tmp)
    t.same(exit, { code: 0, signal: null }, 'npm exits 0')
    t.equal(run.output().match(/"msg":"shutting down/g)?.length, 1, 'one graceful shutdown')
    t.notMatch(run.output(), /second SIGINT/, 'not a second SIGINT (which would exit at once, cutting requests)')
  })

  await t.test('after a touch under src/ it builds again; SIGKILL to npm still stops the server', async (t) => {
    const source = path.join(copy, 'src', 'app.ts')
    const before = fs.statSync(path.join(copy, 'dist', 'src', 'app.js')).mtimeMs
    fs.utimesSync(source, new Date(), new Date())
    const run = npmStart(copy, env)
    t.teardown(() => { if (run.npm.exitCode === null) run.npm.kill('SIGKILL') })
    await healthy(ports.http, run)
    t.match(run.output(), /building dist\/ \(changed since the last build: src\/app\.ts\)/, 'names the changed file')
    t.ok(fs.statSync(path.join(copy, 'dist', 'src', 'app.js')).mtimeMs > before, 'dist/src/app.js rewritten')
    // Nothing can pass SIGKILL on: the launcher notices it lost its parent.
    process.kill(run.npm.pid!, 'SIGKILL')
    const exit = await assertStopped(t, run, ports, tmp)
    t.equal(exit.signal, 'SIGKILL')
    t.match(run.output(), /"signal":"SIGTERM","msg":"shutting down/, 'the server shut down gracefully')
  })
})
