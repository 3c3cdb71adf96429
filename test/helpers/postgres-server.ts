// A PostgreSQL 15 server of the test's own, on a spare port and in a
// temporary directory, so a test can stop, crash and restart it without
// touching the machine's PostgreSQL (the other test files use that one).
//
// PostgreSQL refuses to run as root: when the tests run as root, initdb and
// postgres are started as the OS user `postgres` (spawn's uid/gid). Every
// child is spawned asynchronously: a blocking spawnSync would stall the event
// loop of the app under test, and its load shedding would trip.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { applyMigrations } from '../../src/lib/migrator'
import { freePort } from './net'

export const BIN = process.env.TEST_POSTGRES_BIN ?? '/usr/lib/postgresql/15/bin'
export const SUPERUSER = 'postgres'

export type StopMode = 'smart' | 'fast' | 'immediate'

export interface TestPostgres {
  port: number
  /** The `postgres` database as the superuser (trust auth). */
  adminUrl: string
  urlFor (database: string): string
  /** A new database with every migration applied by the project's migrator. */
  createDatabase (label: string): Promise<{ name: string; url: string }>
  /** Starts the server again on the same port and data directory; no-op while it runs. */
  start (): Promise<void>
  /**
   * PostgreSQL's own shutdown modes: smart (SIGTERM: waits for clients),
   * fast (SIGINT: disconnects clients, rolls back their transactions,
   * checkpoints), immediate (SIGQUIT: every process quits at once, crash
   * recovery on the next start).
   */
  stop (options?: { mode?: StopMode }): Promise<void>
  /** SIGKILL to the postmaster and all its children: a crash (crash recovery on the next start). */
  kill (): Promise<void>
  /**
   * SIGSTOP to the postmaster and every backend: a hung server. Connections
   * stay open (the kernel still accepts and acknowledges), nothing answers.
   */
  pause (): Promise<void>
  /** SIGCONT to the processes pause() stopped. */
  resume (): Promise<void>
  running (): boolean
  /** The last lines PostgreSQL logged (for failure messages). */
  log (): string
  /** Stops it (immediate) and removes its directory. */
  dispose (): Promise<void>
}

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/** uid/gid of the `postgres` OS user when we are root (PostgreSQL refuses root). */
export async function runAs (): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined
  const passwd = await fsp.readFile('/etc/passwd', 'utf8')
  const line = passwd.split('\n').find((l) => l.startsWith(`${SUPERUSER}:`))
  if (line === undefined) throw new Error(`running as root, but there is no "${SUPERUSER}" OS user to run PostgreSQL as`)
  const [, , uid, gid] = line.split(':')
  return { uid: Number(uid), gid: Number(gid) }
}

/** Whether a server answers SELECT 1 at `url` (refused, starting up or gone: false). */
export async function accepting (url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('SELECT 1')
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => {})
  }
}

/**
 * Runs PostgreSQL's `binary` (initdb, postgres, pg_basebackup, …) in `dir`
 * as `owner`, keeping its last 40 lines of output in `tail`.
 */
export function pgSpawner (dir: string, owner: { uid: number; gid: number } | undefined, tail: string[]): (binary: string, args: string[]) => ChildProcess {
  const remember = (chunk: Buffer): void => {
    tail.push(...chunk.toString().split('\n').filter(Boolean))
    tail.splice(0, Math.max(0, tail.length - 40))
  }
  return (binary, args) => {
    const child = spawn(path.join(BIN, binary), args, {
      ...(owner ?? {}),
      cwd: dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    child.stdout!.on('data', remember)
    child.stderr!.on('data', remember)
    return child
  }
}

function exited (child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null
}

/** Pids whose parent is `pid` (the postmaster's backends and auxiliary processes). */
async function childrenOf (pid: number): Promise<number[]> {
  // One read (the postmaster is single-threaded), rather than a scan of /proc:
  // under load every await waits for a turn of a busy event loop.
  try {
    return (await fsp.readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return [] // gone already
  }
}

async function waitForGone (pids: number[], deadlineMs: number): Promise<void> {
  const deadline = Date.now() + deadlineMs
  for (const pid of pids) {
    while (fs.existsSync(`/proc/${pid}`)) {
      // A zombie is gone for our purposes (its parent, the postmaster, is dead too).
      try {
        if (/\) Z /.test(await fsp.readFile(`/proc/${pid}/stat`, 'utf8'))) break
      } catch {
        break
      }
      if (Date.now() > deadline) throw new Error(`postgres process ${pid} did not exit`)
      await sleep(20)
    }
  }
}

export async function startTestPostgres (options: { port?: number } = {}): Promise<TestPostgres> {
  const port = options.port ?? await freePort()
  const owner = await runAs()
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'crm-test-pg-'))
  const dataDir = path.join(dir, 'data')
  if (owner !== undefined) await fsp.chown(dir, owner.uid, owner.gid)

  const tail: string[] = []
  const spawnPg = pgSpawner(dir, owner, tail)

  const adminUrl = `postgresql://${SUPERUSER}@127.0.0.1:${port}/postgres`
  let postmaster: ChildProcess | undefined
  let disposed = false

  const initdb = spawnPg('initdb', ['-D', dataDir, '-U', SUPERUSER, '-A', 'trust', '--encoding=UTF8', '--locale=C', '--no-sync', '--no-instructions'])
  const [initCode] = await once(initdb, 'exit') as [number | null]
  if (initCode !== 0) {
    await fsp.rm(dir, { recursive: true, force: true })
    throw new Error(`initdb failed (${initCode}):\n${tail.join('\n')}`)
  }

  const start = async (): Promise<void> => {
    if (disposed) throw new Error('this test postgres was disposed')
    if (postmaster !== undefined && !exited(postmaster)) return
    const child = spawnPg('postgres', [
      '-D', dataDir, '-p', String(port),
      '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=',
      // fsync off loses nothing when only PostgreSQL dies (the OS keeps what it wrote);
      // synchronous_commit stays on so a committed write survives a crash of PostgreSQL.
      '-c', 'fsync=off', '-c', 'full_page_writes=off',
      '-c', 'max_connections=60', '-c', 'shared_buffers=32MB',
      '-c', 'log_min_messages=warning', '-c', 'log_min_error_statement=panic'
    ])
    postmaster = child
    const deadline = Date.now() + 30_000
    while (!(await accepting(adminUrl))) {
      if (exited(child)) throw new Error(`postgres exited at start (${child.exitCode ?? child.signalCode}):\n${tail.join('\n')}`)
      if (Date.now() > deadline) throw new Error(`postgres did not accept connections on ${port}:\n${tail.join('\n')}`)
      await sleep(50)
    }
  }

  const stop = async ({ mode = 'fast' }: { mode?: StopMode } = {}): Promise<void> => {
    const child = postmaster
    if (child === undefined || exited(child)) return
    const done = once(child, 'exit')
    child.kill(mode === 'smart' ? 'SIGTERM' : mode === 'fast' ? 'SIGINT' : 'SIGQUIT')
    // The postmaster exits only after its children (in immediate mode too: it
    // SIGQUITs them and waits), so the port and shared memory are free now.
    await done
  }

  const kill = async (): Promise<void> => {
    const child = postmaster
    if (child === undefined || exited(child)) return
    const children = await childrenOf(child.pid!)
    const done = once(child, 'exit')
    child.kill('SIGKILL')
    for (const pid of children) {
      try { process.kill(pid, 'SIGKILL') } catch {}
    }
    // A backend forked between the listing and the kill notices the dead postmaster and
    // exits by itself; wait for the ones we killed so nothing holds the shared memory.
    await done
    await waitForGone(children, 10_000)
  }

  let paused: number[] = []
  const pause = async (): Promise<void> => {
    const child = postmaster
    if (child === undefined || exited(child) || paused.length > 0) return
    // The postmaster first: stopped, it forks no new backend while we list them.
    child.kill('SIGSTOP')
    paused = [child.pid!, ...await childrenOf(child.pid!)]
    for (const pid of paused.slice(1)) {
      try { process.kill(pid, 'SIGSTOP') } catch {}
    }
  }
  const resume = async (): Promise<void> => {
    for (const pid of paused.slice().reverse()) {
      try { process.kill(pid, 'SIGCONT') } catch {}
    }
    paused = []
  }

  try {
    await start()
  } catch (err) {
    postmaster?.kill('SIGKILL')
    await fsp.rm(dir, { recursive: true, force: true })
    throw err
  }

  const urlFor = (database: string): string => `postgresql://${SUPERUSER}@127.0.0.1:${port}/${database}`
  let counter = 0
  return {
    port,
    adminUrl,
    urlFor,
    async createDatabase (label) {
      const name = `crm_faults_${label}_${counter++}`.toLowerCase().replace(/[^a-z0-9_]/g, '_')
      const client = new pg.Client({ connectionString: adminUrl })
      await client.connect()
      try {
        await client.query(`CREATE DATABASE "${name}"`)
      } finally {
        await client.end()
      }
      const url = urlFor(name)
      await applyMigrations({ connectionString: url })
      return { name, url }
    },
    start,
    stop,
    kill,
    pause,
    resume,
    running: () => postmaster !== undefined && !exited(postmaster),
    log: () => tail.join('\n'),
    async dispose () {
      if (disposed) return
      await resume()
      try {
        await stop({ mode: 'immediate' })
      } finally {
        disposed = true
        await fsp.rm(dir, { recursive: true, force: true })
      }
    }
  }
}

/**
 * One PostgreSQL of its own for a test file: started before the file's tests,
 * disposed after them. Returns a getter that throws if it did not start.
 */
export function filePostgres (t: { before: (fn: () => Promise<void>) => void; teardown: (fn: () => Promise<void>) => void }): () => TestPostgres {
  let server: TestPostgres | undefined
  t.before(async () => { server = await startTestPostgres() })
  t.teardown(async () => await server?.dispose())
  return () => {
    if (server === undefined) throw new Error('the test PostgreSQL did not start')
    return server
  }
}
