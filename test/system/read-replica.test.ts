// Read replica with read-your-writes (contract §8), on a primary and a
// streaming replica of the test's own (helpers/postgres-replica.ts), through
// HTTP: where each read went is read from /metrics (db_reads_total{target}).
// The replica is paused with pg_wal_replay_pause(): a read that reached it
// could not see a later write, so "the writer sees the write" is a real check.
// Order matters: healthy, paused (one instance, then two sharing Redis),
// unreachable behind a proxy, killed.
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { as, createUsers, type TestUser } from '../helpers/api'
import { buildTestApp } from '../helpers/app'
import { filePrimaryAndReplica } from '../helpers/postgres-replica'
import { startTcpProxy } from '../helpers/tcp-proxy'
import { until } from '../helpers/wait'

const API = '/api/v1'
const env = (replicaUrl: string, extra: Record<string, string> = {}): Record<string, string> => ({
  DATABASE_READ_URL: replicaUrl,
  // Generous: a paused replica stays "up" for the whole test on a loaded
  // machine, so routing is decided by write positions alone (the lag check has its own app).
  DATABASE_READ_MAX_LAG_MS: '600000',
  DASHBOARD_REFRESH_INTERVAL_MS: '0',
  RATE_LIMIT_MAX: '1000000',
  DATABASE_POOL_MIN: '0',
  ...extra
})

const pair = filePrimaryAndReplica(t)

async function reads (app: FastifyInstance): Promise<{ primary: number, replica: number }> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
  const count = (target: string): number => Number(new RegExp(`^db_reads_total\\{target="${target}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0)
  return { primary: count('primary'), replica: count('replica') }
}

async function replicaStatus (app: FastifyInstance): Promise<string> {
  return (await app.inject({ method: 'GET', url: '/ready' })).json().replica
}

/** An app on the file's primary and replica, `roles` as users, once the replica has them and is up. */
async function replicaApp (t: Parameters<typeof buildTestApp>[0], roles: Array<'admin' | 'member'>): Promise<{ app: FastifyInstance, users: TestUser[] }> {
  const { database } = pair()
  const app = await buildTestApp(t, database.url, env(database.replicaUrl))
  const users = await createUsers(app, database.url, roles)
  await pair().caughtUp()
  await until('the replica to be up', async () => await replicaStatus(app) === 'up', 30_000)
  return { app, users }
}

let urlCounter = 0
/** A list URL no one has asked before: a cache miss, so it reaches a database. */
const freshListUrl = (): string => `${API}/organizations?limit=${1 + (urlCounter % 200)}&offset=${Math.floor(urlCounter++ / 200)}`

async function createOrganization (app: FastifyInstance, user: TestUser, name: string): Promise<string> {
  const res = await as(app, user, { method: 'POST', url: `${API}/organizations`, payload: { name } })
  if (res.statusCode !== 201) throw new Error(`create answered ${res.statusCode}: ${res.body}`)
  return res.json().id
}

t.test('a healthy replica serves reads, and the writer still reads their write', async (t) => {
  const { app, users: [alice] } = await replicaApp(t, ['member'])
  const id = await createOrganization(app, alice!, 'Written then read')
  const byId = await as(app, alice!, { method: 'GET', url: `${API}/organizations/${id}` })
  t.equal(byId.statusCode, 200)
  t.equal(byId.json().name, 'Written then read')
  // Once the replica has replayed the write (the probe sees it), Alice's misses go to it, still with her write.
  let replicaSawIt = false
  await until('a read of Alice served by the replica', async () => {
    const before = await reads(app)
    const list = await as(app, alice!, { method: 'GET', url: freshListUrl() })
    t.equal(list.statusCode, 200)
    const ids = (list.json().data as Array<{ id: string }>).map((o) => o.id)
    if (!ids.includes(id)) throw new Error('a read after the write did not see it')
    if ((await reads(app)).replica > before.replica) replicaSawIt = true
    return replicaSawIt
  }, 60_000)
  t.ok(replicaSawIt)
})

t.test('once the replica has replayed a write, the writer\'s next read goes to it, without waiting for the next probe', async (t) => {
  const { app, users: [alice] } = await replicaApp(t, ['member'])
  // The probe looks every 250 ms; the replica replays within milliseconds. Without a fresh
  // look when the last probe is behind the write, these reads would mostly go to the primary.
  const targets: string[] = []
  for (let i = 0; i < 10; i++) {
    const id = await createOrganization(app, alice!, `Replayed ${i}`)
    await pair().caughtUp()
    const before = await reads(app)
    const list = await as(app, alice!, { method: 'GET', url: freshListUrl() })
    t.equal(list.statusCode, 200)
    t.ok((list.json().data as Array<{ id: string }>).some((o) => o.id === id), `read ${i} sees write ${i}`)
    targets.push((await reads(app)).replica > before.replica ? 'replica' : 'primary')
  }
  t.same(targets, Array(10).fill('replica'), 'every read right after the replica replayed the write was served by it')
})

t.test('replay paused: the writer, and users whose views a write changed, read from the primary and see it; others still use the replica', async (t) => {
  const { database, replica } = pair()
  const { app, users: [alice, bob, admin, carol] } = await replicaApp(t, ['member', 'member', 'admin', 'member'])
  // Entries cached before the pause, under generations the writes below bump.
  const bobList = `${API}/organizations?limit=199`
  const adminList = `${API}/organizations?limit=198`
  t.equal((await as(app, bob!, { method: 'GET', url: bobList })).statusCode, 200)
  t.equal((await as(app, admin!, { method: 'GET', url: adminList })).statusCode, 200)
  await replica.query('SELECT pg_wal_replay_pause()')
  t.teardown(async () => await replica.query('SELECT pg_wal_replay_resume()'))

  // Another user's write that changes Bob's view: the admin gives him an
  // organization. Bob's next read misses (his generation was bumped) and must
  // not be answered, and cached, by the replica that lacks it.
  const given = await as(app, admin!, { method: 'POST', url: `${API}/organizations`, payload: { name: 'Given to Bob', assignedUserId: bob!.id } })
  t.equal(given.statusCode, 201)
  const bobsView = await as(app, bob!, { method: 'GET', url: bobList })
  t.equal(bobsView.headers['x-cache'], 'MISS')
  t.ok((bobsView.json().data as Array<{ id: string }>).some((o) => o.id === given.json().id), "Bob's list has the organization given to him")
  const adminsView = await as(app, admin!, { method: 'GET', url: adminList })
  t.ok((adminsView.json().data as Array<{ id: string }>).some((o) => o.id === given.json().id), "the admin's list has it")

  const id = await createOrganization(app, alice!, 'Written while paused')
  const before = await reads(app)
  const byId = await as(app, alice!, { method: 'GET', url: `${API}/organizations/${id}` })
  t.equal(byId.statusCode, 200, 'the replica has not replayed it: only the primary can answer')
  t.equal(byId.json().name, 'Written while paused')
  const list = await as(app, alice!, { method: 'GET', url: freshListUrl() })
  t.ok((list.json().data as Array<{ id: string }>).some((o) => o.id === id), "Alice's list has it")
  const after = await reads(app)
  t.same(after, { primary: before.primary + 2, replica: before.replica }, "both of Alice's reads went to the primary")

  // An admin's views change with every write: the admin reads from the primary too.
  const adminView = await as(app, admin!, { method: 'GET', url: `${API}/organizations/${id}` })
  t.equal(adminView.statusCode, 200)

  // Carol wrote nothing and no write since the pause is in her views: the replica serves her.
  await until("a read of Carol's served by the replica", async () => {
    const b = await reads(app)
    const res = await as(app, carol!, { method: 'GET', url: freshListUrl() })
    if (res.statusCode !== 200) throw new Error(`Carol's read answered ${res.statusCode}`)
    return (await reads(app)).replica > b.replica
  }, 60_000)

  // Without Redis (the in-process store of write positions), the same for one instance.
  const local = await buildTestApp(t, database.url, { ...env(database.replicaUrl), REDIS_URL: undefined } as unknown as Record<string, string>)
  await until('the replica to be up (no Redis)', async () => await replicaStatus(local) === 'up', 30_000)
  const localId = await createOrganization(local, alice!, 'Written without Redis')
  const localRead = await as(local, alice!, { method: 'GET', url: `${API}/organizations/${localId}` })
  t.equal(localRead.statusCode, 200)
  t.equal(localRead.json().name, 'Written without Redis')

  // With a small lag limit the paused replica, now behind a write, is reported lagging and skipped.
  const strict = await buildTestApp(t, database.url, env(database.replicaUrl, { DATABASE_READ_MAX_LAG_MS: '100' }))
  await until('the paused replica to be reported lagging', async () => await replicaStatus(strict) === 'lagging', 60_000)
  const s = await reads(strict)
  const bobs = await as(strict, bob!, { method: 'GET', url: freshListUrl() })
  t.equal(bobs.statusCode, 200)
  // The status is re-read after the request: it may not have flipped back to "up" meanwhile (still paused).
  t.same(await reads(strict), { primary: s.primary + 1, replica: s.replica }, 'a lagging replica is skipped')
  const ready = await strict.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 200, 'a lagging replica does not make the service unready')
})

t.test('two instances sharing Redis: a write on A, then a read on B, sees it (B reads from the primary)', async (t) => {
  const { database, replica } = pair()
  const a = await buildTestApp(t, database.url, env(database.replicaUrl))
  const b = await buildTestApp(t, database.url, env(database.replicaUrl))
  const [carol] = await createUsers(a, database.url, ['member'])
  await pair().caughtUp()
  await until('B to see the replica up', async () => await replicaStatus(b) === 'up', 30_000)
  await replica.query('SELECT pg_wal_replay_pause()')
  t.teardown(async () => await replica.query('SELECT pg_wal_replay_resume()'))

  const id = await createOrganization(a, carol!, 'Written on A')
  const before = await reads(b)
  const onB = await as(b, carol!, { method: 'GET', url: `${API}/organizations/${id}` })
  t.equal(onB.statusCode, 200)
  t.equal(onB.json().name, 'Written on A')
  const renamed = await as(a, carol!, { method: 'PATCH', url: `${API}/organizations/${id}`, payload: { name: 'Renamed on A' } })
  t.equal(renamed.statusCode, 200)
  const again = await as(b, carol!, { method: 'GET', url: `${API}/organizations/${id}` })
  t.equal(again.json().name, 'Renamed on A')
  t.same(await reads(b), { primary: before.primary + 2, replica: before.replica }, "B sent Carol's reads to the primary")
})

t.test('a read routed to a replica that has just stopped taking connections is answered by the primary', async (t) => {
  // The probe's connection, opened through the proxy before refuseNew(),
  // still answers, so the replica is "up" when the read is routed; the read
  // needs a new connection (the reads' pool holds none yet), which is refused.
  const { database } = pair()
  const direct = new URL(database.replicaUrl)
  const proxy = await startTcpProxy(t, { host: direct.hostname, port: Number(direct.port) })
  const viaProxy = new URL(database.replicaUrl)
  viaProxy.port = String(proxy.port)
  const app = await buildTestApp(t, database.url, env(viaProxy.toString()))
  const [frank] = await createUsers(app, database.url, ['member'])
  await pair().caughtUp()
  await until('the replica to be up', async () => await replicaStatus(app) === 'up', 30_000)
  const id = await createOrganization(app, frank!, 'Read while the replica goes away')
  await pair().caughtUp()

  await proxy.refuseNew()
  const before = await reads(app)
  const byId = await as(app, frank!, { method: 'GET', url: `${API}/organizations/${id}` })
  t.equal(byId.statusCode, 200, 'answered, not 503')
  t.equal(byId.json().name, 'Read while the replica goes away')
  t.same(await reads(app), { primary: before.primary + 1, replica: before.replica + 1 }, 'routed to the replica, then run on the primary')
  const next = await as(app, frank!, { method: 'GET', url: freshListUrl() })
  t.equal(next.statusCode, 200)
})

t.test('the replica killed: reads answer 200 from the primary and /ready says down', async (t) => {
  const { replica } = pair()
  const { app, users: [dave, erin] } = await replicaApp(t, ['member', 'admin'])
  // A pooled connection to the replica, so its death is noticed from the pool too.
  await as(app, dave!, { method: 'GET', url: freshListUrl() })
  await replica.kill()
  await until('/ready to report the replica down', async () => await replicaStatus(app) === 'down', 30_000)
  const ready = await app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 200)
  t.match(ready.json(), { status: 'ok', database: 'up', replica: 'down' })

  const before = await reads(app)
  const id = await createOrganization(app, dave!, 'Written with the replica dead')
  for (const user of [dave!, erin!]) {
    t.equal((await as(app, user, { method: 'GET', url: freshListUrl() })).statusCode, 200)
    const byId = await as(app, user, { method: 'GET', url: `${API}/organizations/${id}` })
    t.equal(byId.statusCode, 200)
  }
  t.same(await reads(app), { primary: before.primary + 4, replica: before.replica }, 'every read went to the primary')
})
