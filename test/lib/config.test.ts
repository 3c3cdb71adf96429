import t from 'tap'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { ConfigError, loadConfig, loadMigrationConfig } from '../../src/lib/config'
import { migrationUrl } from '../../src/lib/database-url'
import { nodeArgs } from '../../scripts/lib/child-processes'

t.test('defaults follow the contract', async (t) => {
  const config = loadConfig({}, '/srv/app')
  t.equal(config.port, 3000)
  t.equal(config.database.url, undefined, 'no DATABASE_URL: embedded database')
  t.equal(config.embedded.dataDir, '/srv/app/.data')
  t.equal(config.migrateOnStart, true, 'the embedded database is migrated on start')
  t.same(config.database, {
    url: undefined, pooler: 'none', directUrl: undefined, poolSize: 20, poolMin: 2, idleTimeoutMs: 30000, connectTimeoutMs: 5000, queryTimeoutMs: 10000, ssl: false, slowQueryMs: 500
  })
  t.equal(config.authCacheTtlMs, 30000, 'a deactivation takes effect within 30 s')
  t.equal(config.metricsPort, undefined, '/metrics on the main port')
  t.equal(config.redisKeyPrefix, 'crm:')
  t.equal(config.redisCommandTimeoutMs, 250)
  t.same(config.pressure, { maxEventLoopDelayMs: 1000, maxHeapUsedBytes: 0, maxRssBytes: 0, sampleIntervalMs: 1000 })
  t.same(config.memory, { sampleIntervalMs: 30000, historySize: 100, warnRatio: 0.85 }, 'the seed\'s memory manager settings')
  t.equal(config.cacheTtlSeconds, 300)
  t.equal(config.redisUrl, undefined)
  t.ok(config.jwtSecretGenerated, 'a development secret is generated')
  t.ok(config.jwtSecret.length >= 32)
})

t.test('values are parsed and typed', async (t) => {
  const config = loadConfig({
    PORT: '8080',
    DATABASE_URL: 'postgresql://u@db:5432/crm',
    DATABASE_POOL_SIZE: '5',
    DATABASE_POOL_MIN: '1',
    DATABASE_SSL: 'no-verify',
    REDIS_URL: 'redis://cache:6379',
    CACHE_TTL_SECONDS: '60',
    JWT_SECRET: 'x'.repeat(32),
    NODE_ENV: 'production',
    MIGRATE_ON_START: 'true',
    LOG_LEVEL: 'warn'
  })
  t.equal(config.port, 8080)
  t.equal(config.database.poolSize, 5)
  t.same(config.database.ssl, { rejectUnauthorized: false })
  t.equal(config.redisUrl, 'redis://cache:6379')
  t.equal(config.cacheTtlSeconds, 60)
  t.equal(config.jwtSecret, 'x'.repeat(32))
  t.equal(config.jwtSecretGenerated, false)
  t.equal(config.migrateOnStart, true)
  t.equal(config.logLevel, 'warn')
  t.equal(loadConfig({ DATABASE_URL: 'postgres://h/db' }).migrateOnStart, false, 'an external database is not migrated unless asked')
})

t.test('REDIS_CLUSTER_NODES: seed nodes as host:port', async (t) => {
  const config = loadConfig({ REDIS_CLUSTER_NODES: 'cache-1:7000,10.0.0.2:7001' })
  t.same(config.redisClusterNodes, [{ host: 'cache-1', port: 7000 }, { host: '10.0.0.2', port: 7001 }])
  t.equal(config.redisUrl, undefined)
  t.equal(loadConfig({}).redisClusterNodes, undefined)
})

t.test('a bad value names the variable', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'abc' }, /PORT must be integer/],
    [{ PORT: '70000' }, /PORT must be <= 65535/],
    [{ DATABASE_POOL_SIZE: '0' }, /DATABASE_POOL_SIZE must be >= 1/],
    [{ DATABASE_POOL_SIZE: '4', DATABASE_POOL_MIN: '5' }, /DATABASE_POOL_MIN must be <= DATABASE_POOL_SIZE/],
    [{ DATABASE_URL: 'mysql://h/db' }, /DATABASE_URL must match/],
    [{ DATABASE_SSL: 'maybe' }, /DATABASE_SSL/],
    [{ REDIS_URL: 'http://x' }, /REDIS_URL must match/],
    [{ REDIS_CLUSTER_NODES: 'redis://a:7000' }, /REDIS_CLUSTER_NODES must match/],
    [{ REDIS_CLUSTER_NODES: 'a:7000,b' }, /REDIS_CLUSTER_NODES must match/],
    [{ REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'a:7000' }, /REDIS_URL .* or REDIS_CLUSTER_NODES .*, not both/],
    [{ JWT_SECRET: 'short' }, /JWT_SECRET must NOT have fewer than 32 characters/],
    [{ NODE_ENV: 'production' }, /JWT_SECRET is required when NODE_ENV=production/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ CACHE_TTL_SECONDS: '-1' }, /CACHE_TTL_SECONDS must be >= 1/],
    [{ AUTH_CACHE_TTL_MS: '60001' }, /AUTH_CACHE_TTL_MS must be <= 60000/],
    [{ METRICS_PORT: 'x' }, /METRICS_PORT must be integer/],
    [{ REDIS_KEY_PREFIX: 'has space' }, /REDIS_KEY_PREFIX must match/],
    [{ MEMORY_WARN_RATIO: '1.5' }, /MEMORY_WARN_RATIO must be <= 1/],
    [{ MAX_HEAP_USED_BYTES: '-1' }, /MAX_HEAP_USED_BYTES must be >= 0/],
    [{ DATABASE_POOLER: 'session' }, /DATABASE_POOLER/],
    [{ DATABASE_POOLER: 'transaction' }, /DATABASE_POOLER=transaction needs DATABASE_URL/],
    [{ DATABASE_URL: 'postgres://h/db', DATABASE_DIRECT_URL: 'h:5432' }, /DATABASE_DIRECT_URL must match/],
    [{ DATABASE_URL: 'postgres://bouncer/db', DATABASE_POOLER: 'transaction', MIGRATE_ON_START: 'true' }, /MIGRATE_ON_START=true with DATABASE_POOLER=transaction needs DATABASE_DIRECT_URL/]
  ]
  for (const [env, message] of cases) {
    t.throws(() => loadConfig(env), { name: 'ConfigError', message }, JSON.stringify(env))
  }
  t.ok(new ConfigError('x').message.startsWith('Invalid configuration: '))
})

t.test('the server refuses to start on bad configuration, naming the variable', async (t) => {
  const result = spawnSync(process.execPath, nodeArgs(path.join(__dirname, '..', '..', 'src', 'server.ts')), {
    env: { ...process.env, PORT: 'not-a-port', DATABASE_URL: 'postgresql://root@127.0.0.1:5432/test' },
    encoding: 'utf8',
    timeout: 30_000
  })
  t.equal(result.status, 1)
  t.match(result.stderr, /Invalid configuration: PORT must be integer/)
})

t.test('behind a transaction pooler, migrations go to DATABASE_DIRECT_URL or nowhere', async (t) => {
  const pooled = loadConfig({ DATABASE_URL: 'postgres://bouncer:6432/crm', DATABASE_POOLER: 'transaction', DATABASE_DIRECT_URL: 'postgres://db:5432/crm', MIGRATE_ON_START: 'true' })
  t.equal(pooled.database.pooler, 'transaction')
  t.equal(migrationUrl(pooled.database, 'postgres://bouncer:6432/crm'), 'postgres://db:5432/crm', 'the direct URL')
  const noDirect = loadConfig({ DATABASE_URL: 'postgres://bouncer:6432/crm', DATABASE_POOLER: 'transaction' })
  t.throws(() => migrationUrl(noDirect.database, 'postgres://bouncer:6432/crm'), { name: 'ConfigError', message: /migrations need DATABASE_DIRECT_URL/ })
  const direct = loadConfig({ DATABASE_URL: 'postgres://db:5432/crm' })
  t.equal(migrationUrl(direct.database, 'postgres://db:5432/crm'), 'postgres://db:5432/crm', 'without a pooler: DATABASE_URL')
})

t.test('the migration command\'s configuration needs no JWT secret, even in production', async (t) => {
  const env = { NODE_ENV: 'production', DATABASE_URL: 'postgres://db:5432/crm' }
  t.throws(() => loadConfig(env), { message: /JWT_SECRET is required/ }, 'the server does')
  const config = loadMigrationConfig(env)
  t.equal(config.database.url, 'postgres://db:5432/crm')
  t.same(Object.keys(config).sort(), ['database', 'embedded'], 'nothing but the database settings')
  t.throws(() => loadMigrationConfig({ ...env, DATABASE_POOL_SIZE: '0' }), { name: 'ConfigError', message: /DATABASE_POOL_SIZE/ }, 'still validated')
})
