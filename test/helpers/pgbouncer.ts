// A PgBouncer of the test's own, in transaction pooling mode, on a spare port
// in front of a PostgreSQL (the machine's, by default). Its server pool is
// smaller than the app's client pool, so client connections share server
// connections and any session state or named statement would leak or break.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { freePort } from './net'

export interface TestPgbouncer {
  port: number
  /** A database through the pooler (same name as upstream). */
  urlFor (database: string): string
  /** SHOW <what> on PgBouncer's admin console. */
  show (what: 'POOLS' | 'STATS' | 'SERVERS' | 'CLIENTS'): Promise<Array<Record<string, unknown>>>
  /** What it logged, from line `from` on (see `lines`). */
  log (from?: number): string
  /** How many lines it has logged so far. */
  lines (): number
  stop (): Promise<void>
}

export interface PgbouncerOptions {
  binary: string
  upstream: { host: string; port: number; user: string }
  /** Server connections per database/user pair. */
  poolSize: number
}

/** uid/gid of the OS user `postgres` when we are root: PgBouncer refuses to run as root. */
async function runAs (): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined
  const line = (await fsp.readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith('postgres:'))
  if (line === undefined) throw new Error('running as root, but there is no OS user "postgres" to run PgBouncer as')
  const [, , uid, gid] = line.split(':')
  return { uid: Number(uid), gid: Number(gid) }
}

export async function startPgbouncer (options: PgbouncerOptions): Promise<TestPgbouncer> {
  const port = await freePort()
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'crm-test-pgbouncer-'))
  const owner = await runAs()
  const { host, port: upstreamPort, user } = options.upstream
  await fsp.writeFile(path.join(dir, 'users.txt'), `"${user}" ""\n`)
  // As a deployment would run it (docs/operations.md, "Behind PgBouncer"):
  // statement_timeout is NOT among the ignored startup parameters, so a
  // client that sent it would be refused; the idle-in-transaction limit is
  // PgBouncer's own.
  await fsp.writeFile(path.join(dir, 'pgbouncer.ini'), `[databases]
* = host=${host} port=${upstreamPort}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = trust
auth_file = ${dir}/users.txt
admin_users = ${user}
pool_mode = transaction
default_pool_size = ${options.poolSize}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 500
ignore_startup_parameters = extra_float_digits,options
server_reset_query =
idle_transaction_timeout = 30
; SHOW STATS every second (default: a minute), for the test to read
stats_period = 1
pidfile = ${dir}/pgbouncer.pid
`)
  if (owner !== undefined) {
    for (const file of ['', 'users.txt', 'pgbouncer.ini']) await fsp.chown(path.join(dir, file), owner.uid, owner.gid)
  }
  const tail: string[] = []
  const child: ChildProcess = spawn(options.binary, [path.join(dir, 'pgbouncer.ini')], { ...(owner ?? {}), cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  const remember = (chunk: Buffer): void => {
    tail.push(...chunk.toString().split('\n').filter(Boolean))
    if (tail.length > 20_000) tail.splice(0, tail.length - 20_000)
  }
  child.stdout!.on('data', remember)
  child.stderr!.on('data', remember)
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null

  const admin = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: `postgresql://${user}@127.0.0.1:${port}/pgbouncer`, connectionTimeoutMillis: 2000 })
    client.on('error', () => {})
    await client.connect()
    try {
      return await fn(client)
    } finally {
      await client.end().catch(() => {})
    }
  }
  const deadline = Date.now() + 20_000
  for (;;) {
    if (exited()) throw new Error(`pgbouncer exited at start (${child.exitCode ?? child.signalCode}):\n${tail.join('\n')}`)
    try {
      await admin(async (c) => await c.query('SHOW VERSION'))
      break
    } catch {
      if (Date.now() > deadline) throw new Error(`pgbouncer did not accept connections on ${port}:\n${tail.join('\n')}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  return {
    port,
    urlFor: (database) => `postgresql://${user}@127.0.0.1:${port}/${database}`,
    show: async (what) => await admin(async (c) => (await c.query(`SHOW ${what}`)).rows as Array<Record<string, unknown>>),
    log: (from = 0) => tail.slice(from).join('\n'),
    lines: () => tail.length,
    async stop () {
      if (!exited()) {
        const done = once(child, 'exit')
        child.kill('SIGINT') // "safe shutdown": waits for the transactions in progress
        await done
      }
      await fsp.rm(dir, { recursive: true, force: true })
    }
  }
}
