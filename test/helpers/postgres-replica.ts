// A streaming replica of a test's own PostgreSQL (helpers/postgres-server.ts):
// pg_basebackup -R from the primary into a temporary directory, then a
// postgres on a spare port replaying the primary's WAL (hot standby). The
// tests pause its replay, kill it, or read where it stands. Started as the
// `postgres` OS user when we are root, like the primary.
import { once } from 'node:events'
import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { freePort } from './net'
import { accepting, pgSpawner, runAs, startTestPostgres, SUPERUSER, type TestPostgres } from './postgres-server'
import { until } from './wait'

export interface TestReplica {
  port: number
  urlFor (database: string): string
  /** Runs one statement on the replica's `postgres` database (pg_wal_replay_pause(), …). */
  query (sql: string): Promise<void>
  /** SIGKILL to the replica's postmaster and children. */
  kill (): Promise<void>
  log (): string
  dispose (): Promise<void>
}

export async function startTestReplica (primary: TestPostgres): Promise<TestReplica> {
  const port = await freePort()
  const owner = await runAs()
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'crm-test-replica-'))
  const dataDir = path.join(dir, 'data')
  if (owner !== undefined) await fsp.chown(dir, owner.uid, owner.gid)
  const tail: string[] = []
  const spawnPg = pgSpawner(dir, owner, tail)

  // -R writes standby.signal and primary_conninfo; -X stream copies the WAL of the backup itself.
  const backup = spawnPg('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', SUPERUSER, '-D', dataDir, '-R', '-X', 'stream', '--checkpoint=fast', '--no-sync'])
  const [code] = await once(backup, 'exit') as [number | null]
  if (code !== 0) {
    await fsp.rm(dir, { recursive: true, force: true })
    throw new Error(`pg_basebackup failed (${code}):\n${tail.join('\n')}`)
  }
  const postmaster = spawnPg('postgres', [
    '-D', dataDir, '-p', String(port),
    '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=',
    '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'hot_standby=on',
    '-c', 'max_connections=60', '-c', 'shared_buffers=32MB',
    '-c', 'log_min_messages=warning', '-c', 'log_min_error_statement=panic'
  ])
  const urlFor = (database: string): string => `postgresql://${SUPERUSER}@127.0.0.1:${port}/${database}`
  const adminUrl = urlFor('postgres')
  const gone = (): boolean => postmaster.exitCode !== null || postmaster.signalCode !== null
  try {
    await until('the replica to accept connections', async () => {
      if (gone()) throw new Error(`the replica exited at start:\n${tail.join('\n')}`)
      return await accepting(adminUrl)
    }, 60_000)
  } catch (err) {
    postmaster.kill('SIGKILL')
    await fsp.rm(dir, { recursive: true, force: true })
    throw err
  }

  const kill = async (): Promise<void> => {
    if (gone()) return
    let children: number[] = []
    try {
      children = (await fsp.readFile(`/proc/${postmaster.pid!}/task/${postmaster.pid!}/children`, 'utf8')).split(/\s+/).filter(Boolean).map(Number)
    } catch {}
    const done = once(postmaster, 'exit')
    postmaster.kill('SIGKILL')
    for (const pid of children) {
      try { process.kill(pid, 'SIGKILL') } catch {}
    }
    await done
  }

  return {
    port,
    urlFor,
    async query (sql) {
      const client = new pg.Client({ connectionString: adminUrl })
      await client.connect()
      try {
        await client.query(sql)
      } finally {
        await client.end()
      }
    },
    kill,
    log: () => tail.join('\n'),
    async dispose () {
      await kill()
      await fsp.rm(dir, { recursive: true, force: true })
    }
  }
}

export interface PrimaryAndReplica {
  primary: TestPostgres
  replica: TestReplica
  /** A migrated database on the primary, and the same database on the replica (once it has it). */
  database: { name: string; url: string; replicaUrl: string }
  /** Resolves once the replica has replayed everything the primary had written when called. */
  caughtUp (): Promise<void>
}

async function scalar (url: string, sql: string, values: unknown[] = []): Promise<unknown> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 })
  await client.connect()
  try {
    return Object.values((await client.query(sql, values)).rows[0] as object)[0]
  } finally {
    await client.end()
  }
}

/** A primary, its streaming replica, and a migrated database visible on both. */
export async function startPrimaryAndReplica (): Promise<PrimaryAndReplica & { dispose: () => Promise<void> }> {
  const primary = await startTestPostgres()
  let replica: TestReplica | undefined
  const dispose = async (): Promise<void> => {
    await replica?.dispose()
    await primary.dispose()
  }
  try {
    replica = await startTestReplica(primary)
    const created = await primary.createDatabase('replica')
    const replicaUrl = replica.urlFor(created.name)
    const standby = replica
    const caughtUp = async (): Promise<void> => {
      const target = await scalar(primary.adminUrl, 'SELECT pg_current_wal_lsn()::text')
      await until('the replica to replay the primary', async () =>
        await scalar(standby.urlFor('postgres'), 'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn', [target]) === true, 60_000)
    }
    await caughtUp()
    await until('the replica to have the migrated database', async () => await accepting(replicaUrl), 60_000)
    return { primary, replica, database: { ...created, replicaUrl }, caughtUp, dispose }
  } catch (err) {
    await dispose()
    throw err
  }
}

/** startPrimaryAndReplica for a test file: started before its tests, disposed after them. */
export function filePrimaryAndReplica (t: { before: (fn: () => Promise<void>) => void; teardown: (fn: () => Promise<void>) => void }): () => PrimaryAndReplica {
  let pair: (PrimaryAndReplica & { dispose: () => Promise<void> }) | undefined
  t.before(async () => { pair = await startPrimaryAndReplica() })
  t.teardown(async () => await pair?.dispose())
  return () => {
    if (pair === undefined) throw new Error('the test primary and replica did not start')
    return pair
  }
}
