// The response cache and the rate limit on a Redis Cluster (contract §8,
// REDIS_CLUSTER_NODES): three masters started by this file
// (helpers/redis-cluster.ts).
//
// - Through HTTP, two instances on the cluster: MISS then HIT, a write on
//   one instance is read at once on the other, the rate limit is shared.
// - Where the keys went: the epoch, generations and write positions in one
//   slot; each caller's entries and rate counter in the caller's slot, and
//   callers spread over more than one master.
// - The master of the generations killed and restarted empty: reads answer
//   from the database meanwhile, and afterwards no entry made under the old
//   generation values is ever served again.
// - The cache and rate-limit test files (response-cache.test.ts,
//   http-layer.test.ts) run again, whole, with their apps on the cluster.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import t from 'tap'
import { RedisKeys } from '../../src/lib/redis-keys'
import { as, createUsers, type TestUser } from '../helpers/api'
import { buildTestApp } from '../helpers/app'
import { createTestDatabase } from '../helpers/database'
import { cli, startTestRedisCluster } from '../helpers/redis-cluster'
import { until } from '../helpers/wait'
import { nodeArgs } from '../../scripts/lib/child-processes'

const API = '/api/v1'
const ROOT = path.join(__dirname, '..', '..')

/** Runs a test file in a process of its own with its apps on the cluster; its TAP output and exit code. */
async function runFileOnCluster (file: string, nodes: string): Promise<{ code: number | null, output: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, TEST_REDIS_CLUSTER_NODES: nodes }
  // The file reports to this process's output, not to a tap runner of its own.
  for (const name of Object.keys(env)) if (name.startsWith('TAP')) delete env[name]
  const child = spawn(process.execPath, nodeArgs(path.join(ROOT, file)), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const [code] = await once(child, 'exit') as [number | null]
  return { code, output }
}

t.test('the cache and the rate limit on a three-master Redis Cluster', async (t) => {
  const cluster = await startTestRedisCluster()
  t.teardown(cluster.stop)
  const db = await createTestDatabase('redis_cluster')
  t.teardown(db.drop)
  const env = { REDIS_CLUSTER_NODES: cluster.nodes, RATE_LIMIT_MAX: '30' }
  const a = await buildTestApp(t, db.url, env)
  const b = await buildTestApp(t, db.url, env)
  const users = await createUsers(a, db.url, Array.from({ length: 12 }, () => 'member' as const))
  const [alice, bob] = users as [TestUser, TestUser]

  t.test('ready with the cache up', async (t) => {
    const ready = await a.inject({ method: 'GET', url: '/ready' })
    t.equal(ready.statusCode, 200)
    t.equal(ready.json().cache, 'up')
    t.equal(a.responseCache.backend, 'redis')
  })

  t.test('MISS, HIT, and a write on one instance read at once on the other', async (t) => {
    const created = await as(a, alice, { method: 'POST', url: `${API}/organizations`, payload: { name: 'Cluster One' } })
    t.equal(created.statusCode, 201)
    const list = `${API}/organizations?limit=5`
    const first = await as(b, alice, { method: 'GET', url: list })
    t.equal(first.headers['x-cache'], 'MISS')
    const second = await as(b, alice, { method: 'GET', url: list })
    t.equal(second.headers['x-cache'], 'HIT')
    t.same(second.json().data.map((o: { name: string }) => o.name), ['Cluster One'])
    const renamed = await as(a, alice, { method: 'PATCH', url: `${API}/organizations/${created.json().id as string}`, payload: { name: 'Cluster Two' } })
    t.equal(renamed.statusCode, 200)
    const after = await as(b, alice, { method: 'GET', url: list })
    t.equal(after.headers['x-cache'], 'MISS', 'the write bumped the generation the other instance reads')
    t.same(after.json().data.map((o: { name: string }) => o.name), ['Cluster Two'])
    const bobs = await as(b, bob, { method: 'GET', url: list })
    t.same(bobs.json().data, [], 'another member sees none of it')
  })

  t.test('the rate limit is one counter for both instances', async (t) => {
    const statuses: number[] = []
    for (let i = 0; i < 32; i++) statuses.push((await as([a, b][i % 2]!, bob, { method: 'GET', url: `${API}/users/me?n=${i % 3}` })).statusCode)
    t.same(statuses.slice(0, 29).filter((s) => s !== 200), [], 'the first requests pass (one was spent above)')
    t.equal(statuses.at(-1), 429, 'then 429, counted across both instances')
  })

  t.test('keys: the generations in one slot, each caller in its own, callers over several masters', async (t) => {
    for (const user of users) await as(a, user, { method: 'GET', url: `${API}/organizations?limit=3` })
    const keys = new RedisKeys(a.config.redisKeyPrefix)
    const slot = async (key: string): Promise<string> => (await cli(cluster.ports[0]!, 'cluster', 'keyslot', key)).trim()
    const generationSlot = await slot(keys.epoch())
    for (const key of [keys.generation('all'), keys.generation(`u:${alice.id}`), keys.generation('dash'), keys.writeLsn('all')]) {
      t.equal(await slot(key), generationSlot, `${key} is in the epoch's slot`)
    }
    t.equal(await slot(keys.rate(alice.id)), await slot(`${keys.entryPrefix(alice.id)}1:2:/any`), 'a caller\'s rate counter and entries share a slot')
    const holding = []
    for (const port of cluster.ports) {
      const entries = (await cli(port, '--scan', '--pattern', `${a.config.redisKeyPrefix}{u:*}r:*`)).split('\n').filter(Boolean)
      if (entries.length > 0) holding.push(port)
    }
    t.ok(holding.length >= 2, `entries of 12 callers are on ${holding.length} of the 3 masters`)
  })

  t.test('the generations\' master restarts empty: its old values never make an older answer reachable', async (t) => {
    const keys = new RedisKeys(a.config.redisKeyPrefix)
    const owner = await cluster.ownerOf(keys.epoch())
    // A member whose entries live on another master, so they outlive the generations.
    let carol: TestUser | undefined
    for (const user of users.slice(2)) if (carol === undefined && await cluster.ownerOf(keys.rate(user.id)) !== owner) carol = user
    if (carol === undefined) throw new Error('every member hashes to the master of the generations')
    const created = await as(a, carol, { method: 'POST', url: `${API}/organizations`, payload: { name: 'Era one 0' } })
    const url = `${API}/organizations/${created.json().id as string}`
    const nameOf = (res: { json: () => { name: string } }): string => res.json().name
    // Entries under successive values of carol's generation (on carol's master, which stays up).
    for (let i = 1; i <= 3; i++) {
      await as(a, carol, { method: 'PATCH', url, payload: { name: `Era one ${i}` } })
      t.equal(nameOf(await as(a, carol, { method: 'GET', url })), `Era one ${i}`)
      t.equal((await as(a, carol, { method: 'GET', url })).headers['x-cache'], 'HIT')
    }
    await cluster.killNode(owner)
    const during = await as(b, carol, { method: 'GET', url })
    t.equal(during.statusCode, 200, 'with the generations unreachable, reads answer from the database')
    t.equal(during.headers['x-cache'], 'BYPASS')
    t.equal(nameOf(during), 'Era one 3')
    await cluster.restartNode(owner)
    // An instance that saw none of it: nothing marked its cache stale.
    const c = await buildTestApp(t, db.url, { ...env, RATE_LIMIT_MAX: '100000' })
    await until('the new instance\'s cache answers', async () => (await as(c, carol, { method: 'GET', url })).headers['x-cache'] !== 'BYPASS', 30_000)
    for (let i = 1; i <= 3; i++) {
      // Carol's generation counts again from 0: the same values as the entries above.
      t.equal((await as(c, carol, { method: 'PATCH', url, payload: { name: `Era two ${i}` } })).statusCode, 200)
      const read = await as(c, carol, { method: 'GET', url })
      t.equal(nameOf(read), `Era two ${i}`, `after write ${i} the read shows it (${String(read.headers['x-cache'])}), not an entry of the first era`)
    }
  })
})

t.test('the cache and rate-limit test files, with their apps on the cluster', async (t) => {
  const cluster = await startTestRedisCluster()
  t.teardown(cluster.stop)
  let keysBefore = 0
  for (const file of ['test/plugins/app/response-cache.test.ts', 'test/app/http-layer.test.ts']) {
    const { code, output } = await runFileOnCluster(file, cluster.nodes)
    const failures = output.split('\n').filter((line) => /^\s*not ok /.test(line))
    t.same(failures, [], `${file}: no failing assertion`)
    t.equal(code, 0, `${file} exits 0${code === 0 ? '' : `\n${output.slice(-3000)}`}`)
    t.match(output, /^# \{ total: [1-9]\d*, pass: [1-9]\d*/m, `${file} ran its assertions`)
    let keys = 0
    for (const port of cluster.ports) keys += Number((await cli(port, 'dbsize')).trim())
    t.ok(keys > keysBefore, `${file} wrote its entries, counters and generations to the cluster (${keys - keysBefore} keys)`)
    keysBefore = keys
  }
})
