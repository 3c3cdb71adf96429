// The real entry point as a user runs it: no DATABASE_URL, so it starts the
// embedded PostgreSQL, migrates, serves; SIGTERM shuts everything down with exit 0.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import pg from 'pg'
import { freePort } from './helpers/net'
import { startServerProcess } from './helpers/server-process'

t.test('server.ts with the embedded database: serves, then drains and exits 0 on SIGTERM', async (t) => {
  t.setTimeout(240_000) // the start-up deadline (150 s, only for a broken build), then the test itself
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-server-test-'))
  fs.chmodSync(dataDir, 0o755) // the embedded server runs as user postgres when we are root
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }))
  const [port, dbPort] = [await freePort(), await freePort()]

  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), EMBEDDED_DATABASE_DIR: dataDir, EMBEDDED_DATABASE_PORT: String(dbPort), LOG_LEVEL: 'info', NODE_ENV: 'development' }
  delete env.DATABASE_URL
  delete env.REDIS_URL
  const server = await startServerProcess(t, env)
  const output = (): string => server.stdout() + server.stderr()
  t.match(output(), /applied 20261124000100_init/, 'migrations applied to the embedded database')
  t.match(output(), /JWT_SECRET is not set/, 'the generated development secret is announced')

  const health = await fetch(`http://127.0.0.1:${port}/health`)
  t.equal(health.status, 200)
  t.same(await health.json(), { status: 'ok' })
  const ready = await fetch(`http://127.0.0.1:${port}/ready`)
  t.same(await ready.json(), { status: 'ok', database: 'up', cache: 'up', replica: 'off' })

  const client = new pg.Client({ connectionString: `postgresql://postgres:postgres@127.0.0.1:${dbPort}/crm` })
  await client.connect()
  const { rows } = await client.query('SELECT count(*)::int AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL')
  t.ok(rows[0].n >= 8, 'bookkeeping recorded in the embedded database')
  await client.end()

  // A request in flight when SIGTERM arrives still gets its answer.
  const inFlight = fetch(`http://127.0.0.1:${port}/ready`)
  await new Promise((resolve) => setTimeout(resolve, 5))
  server.child.kill('SIGTERM')
  const [code, signal] = await server.exited
  t.equal((await inFlight).status, 200, 'the in-flight request was answered')
  t.equal(code, 0, 'exit code 0')
  t.equal(signal, null)
  t.match(output(), /shutting down/)

  await t.rejects(fetch(`http://127.0.0.1:${port}/health`), 'no longer accepting connections')
  const probe = new pg.Client({ connectionString: `postgresql://postgres:postgres@127.0.0.1:${dbPort}/crm`, connectionTimeoutMillis: 2000 })
  await t.rejects(probe.connect(), 'the embedded PostgreSQL was stopped too')
})
