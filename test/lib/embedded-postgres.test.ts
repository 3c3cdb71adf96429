import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/lib/embedded-postgres'
import { withClient } from '../helpers/database'
import { freePort } from '../helpers/net'

async function query<T extends Record<string, unknown>> (url: string, sql: string): Promise<T[]> {
  return await withClient(url, async (client) => (await client.query<T>(sql)).rows)
}

t.test('embedded postgres: init, persist across restarts, survive a crash', async (t) => {
  t.setTimeout(120_000)
  // Not t.testdir(): keep the cluster out of the repo tree. mkdtemp creates 0700, which the
  // 'postgres' OS user (used when we run as root) could not traverse, hence the chmod.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'embedded-pg-test-'))
  fs.chmodSync(tmp, 0o755)
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }))
  const dataDir = path.join(tmp, 'postgres')
  const port = await freePort()

  const running = new Set<EmbeddedDatabase>()
  t.teardown(() => Promise.all([...running].map((db) => db.stop())))

  const start = async (logs: string[]): Promise<EmbeddedDatabase> => {
    const db = await startEmbeddedPostgres({ dataDir, port, database: 'crm_test', log: (m) => logs.push(m) })
    running.add(db)
    return db
  }

  // First start: initdb + start + CREATE DATABASE.
  const logs1: string[] = []
  const db1 = await start(logs1)
  t.equal(db1.url, `postgresql://postgres:postgres@127.0.0.1:${port}/crm_test`)
  t.ok(fs.existsSync(path.join(dataDir, 'PG_VERSION')), 'cluster initialised in dataDir')
  t.match(logs1.join('\n'), /initialising/)
  t.match(logs1.join('\n'), /ready in \d+ ms/)

  const [info] = await query<{ version: string; db: string; enc: string; listen: string }>(
    db1.url,
    `SELECT version() AS version, current_database() AS db,
            current_setting('server_encoding') AS enc, current_setting('listen_addresses') AS listen`
  )
  t.match(info.version, 'PostgreSQL 15')
  t.equal(info.db, 'crm_test')
  t.equal(info.enc, 'UTF8')
  t.equal(info.listen, '127.0.0.1')

  await query(db1.url, 'CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)')
  await query(db1.url, 'INSERT INTO notes (body) VALUES (\'first\'), (\'zweite – ünïcode\')')
  t.same(await query(db1.url, 'SELECT id, body FROM notes ORDER BY id'), [
    { id: 1, body: 'first' },
    { id: 2, body: 'zweite – ünïcode' },
  ])

  await db1.stop()
  running.delete(db1)
  t.notOk(fs.existsSync(path.join(dataDir, 'postmaster.pid')), 'clean shutdown removes postmaster.pid')
  await db1.stop() // idempotent

  // Second start on the same dir: no initdb, data still there.
  const logs2: string[] = []
  const db2 = await start(logs2)
  t.notMatch(logs2.join('\n'), /initialising/, 'second start does not re-initialise')
  t.equal(db2.url, db1.url)
  t.same(await query(db2.url, 'SELECT body FROM notes ORDER BY id'), [{ body: 'first' }, { body: 'zweite – ünïcode' }])
  await query(db2.url, 'INSERT INTO notes (body) VALUES (\'before crash\')')

  // A second process (npm run token while npm start runs) attaches to the running cluster.
  const attachLogs: string[] = []
  const attached = await startEmbeddedPostgres({ dataDir, port, database: 'crm_test', log: (m) => attachLogs.push(m) })
  t.match(attachLogs.join('\n'), /using the postgres already running/)
  t.notMatch(attachLogs.join('\n'), /starting postgres/, 'no second postmaster')
  t.equal(attached.url, db2.url)
  await attached.stop()
  t.same(await query(db2.url, 'SELECT count(*)::int AS n FROM notes'), [{ n: 3 }], 'stopping the attached handle leaves the server running')

  // Crash: SIGKILL the postmaster, leaving a stale postmaster.pid behind.
  const exitLogged = new Promise<void>((resolve) => {
    const push = logs2.push.bind(logs2)
    logs2.push = (...m: string[]) => {
      if (m.some((s) => s.includes('exited unexpectedly'))) resolve()
      return push(...m)
    }
  })
  const pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
  t.ok(pid > 0, 'postmaster pid read from postmaster.pid')
  process.kill(pid, 'SIGKILL')
  await exitLogged
  t.ok(fs.existsSync(path.join(dataDir, 'postmaster.pid')), 'stale postmaster.pid left behind')
  await db2.stop() // must not hang on an already-dead server
  running.delete(db2)

  // Third start over the stale pid file: crash recovery, committed data intact.
  const logs3: string[] = []
  const db3 = await start(logs3)
  t.notMatch(logs3.join('\n'), /initialising/)
  t.same(await query(db3.url, 'SELECT count(*)::int AS n FROM notes'), [{ n: 3 }])
  await db3.stop()
  running.delete(db3)
  t.notOk(fs.existsSync(path.join(dataDir, 'postmaster.pid')))
})
