// Configuration: read from the environment once, validated, and passed down
// as a typed object. Nothing else in the service reads process.env.
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import envSchema from 'env-schema'
import { Type, type Static } from 'typebox'

const LogLevel = Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)))

export const EnvSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  LOG_LEVEL: Type.Optional(LogLevel),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  // 'transaction': DATABASE_URL is a PgBouncer in transaction pooling mode (contract §8).
  DATABASE_POOLER: Type.Union([Type.Literal('none'), Type.Literal('transaction')], { default: 'none' }),
  // A connection straight to PostgreSQL, for what needs a session: migrations (Prisma's convention).
  DATABASE_DIRECT_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 1000, default: 20 }),
  DATABASE_POOL_MIN: Type.Integer({ minimum: 0, maximum: 1000, default: 2 }),
  DATABASE_IDLE_TIMEOUT_MS: Type.Integer({ minimum: 0, default: 30000 }),
  DATABASE_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 5000 }),
  DATABASE_QUERY_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 10000 }),
  // 'true' verifies the server certificate; 'no-verify' encrypts without
  // verifying (self-signed managed databases).
  DATABASE_SSL: Type.Union([Type.Literal('true'), Type.Literal('false'), Type.Literal('no-verify')], { default: 'false' }),
  // --- read replica (docs/read-replica.md) ---
  DATABASE_READ_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  DATABASE_READ_MAX_LAG_MS: Type.Integer({ minimum: 0, default: 5000 }),
  // --- end read replica ---
  EMBEDDED_DATABASE_DIR: Type.String({ minLength: 1, default: '.data' }),
  EMBEDDED_DATABASE_PORT: Type.Integer({ minimum: 1, maximum: 65535, default: 54329 }),
  MIGRATE_ON_START: Type.Optional(Type.Boolean()),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  // A Redis Cluster instead of REDIS_URL: seed nodes as host:port,host:port (docs/response-cache.md).
  REDIS_CLUSTER_NODES: Type.Optional(Type.String({ pattern: '^[^,:\\s]+:[0-9]{1,5}(,[^,:\\s]+:[0-9]{1,5})*$' })),
  CACHE_TTL_SECONDS: Type.Integer({ minimum: 1, maximum: 86400, default: 300 }),
  // Prefix of every Redis key of this service: deployments (or test runs) sharing one Redis keep apart.
  REDIS_KEY_PREFIX: Type.String({ pattern: '^[A-Za-z0-9:._-]{1,64}$', default: 'crm:' }),
  // Every Redis command gives up after this: a slow or dead Redis costs at most this much.
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 10000, default: 250 }),
  // Entries of the in-process cache used when REDIS_URL is unset.
  CACHE_MAX_ENTRIES: Type.Integer({ minimum: 1, default: 10000 }),
  // With Redis: bytes of this instance's copies of entries it read (a hit then carries no body back); 0 turns them off.
  CACHE_LOCAL_MAX_BYTES: Type.Integer({ minimum: 0, default: 33554432 }),
  JWT_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  // How long a user's role and active flag are trusted before being re-read;
  // the contract wants a deactivation to take effect within 60 s.
  AUTH_CACHE_TTL_MS: Type.Integer({ minimum: 0, maximum: 60000, default: 30000 }),
  RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 1000 }),
  DASHBOARD_REFRESH_INTERVAL_MS: Type.Integer({ minimum: 0, default: 300000 }),
  SHUTDOWN_GRACE_MS: Type.Integer({ minimum: 0, default: 10000 }),
  // /metrics on a port of its own (e.g. not exposed through the load balancer).
  METRICS_PORT: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  // Load shedding (@fastify/under-pressure): 503 + Retry-After past these; 0 turns a check off.
  MAX_EVENT_LOOP_DELAY_MS: Type.Integer({ minimum: 0, default: 1000 }),
  MAX_HEAP_USED_BYTES: Type.Integer({ minimum: 0, default: 0 }),
  MAX_RSS_BYTES: Type.Integer({ minimum: 0, default: 0 }),
  PRESSURE_SAMPLE_INTERVAL_MS: Type.Integer({ minimum: 10, default: 1000 }),
  // The seed's memory manager: a sample every 30 s, the last 100 kept, a warning above 85 % of the heap limit.
  MEMORY_SAMPLE_INTERVAL_MS: Type.Integer({ minimum: 10, default: 30000 }),
  MEMORY_HISTORY_SIZE: Type.Integer({ minimum: 1, maximum: 10000, default: 100 }),
  MEMORY_WARN_RATIO: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.85 }),
  // Queries slower than this are logged (by name, never with values); 0 logs none.
  SLOW_QUERY_MS: Type.Integer({ minimum: 0, default: 500 })
})
type Env = Static<typeof EnvSchema>

export interface DatabaseConfig {
  /** Undefined: start the embedded PostgreSQL (see lib/database.ts). */
  url?: string
  /** 'transaction': `url` is a transaction-mode pooler (no session state, no named statements). */
  pooler: 'none' | 'transaction'
  /** Straight to PostgreSQL (migrations); undefined: `url` is direct enough. */
  directUrl?: string
  poolSize: number
  poolMin: number
  idleTimeoutMs: number
  connectTimeoutMs: number
  queryTimeoutMs: number
  ssl: false | { rejectUnauthorized: boolean }
  /** Queries slower than this are logged by name (0: never). */
  slowQueryMs: number
}

export interface AppConfig {
  env: Env['NODE_ENV']
  port: number
  host: string
  logLevel: string
  database: DatabaseConfig
  embedded: { dataDir: string; port: number }
  /** A streaming replica for reads (url unset: every read goes to the primary). */
  readReplica: { url?: string; maxLagMs: number }
  /** Apply pending migrations before listening (default: only for the embedded database). */
  migrateOnStart: boolean
  redisUrl?: string
  /** Seed nodes of a Redis Cluster (REDIS_URL is then unset). */
  redisClusterNodes?: Array<{ host: string; port: number }>
  cacheTtlSeconds: number
  redisCommandTimeoutMs: number
  redisKeyPrefix: string
  cacheMaxEntries: number
  cacheLocalMaxBytes: number
  jwtSecret: string
  /** True when no JWT_SECRET was given and a random one was made (development only). */
  jwtSecretGenerated: boolean
  authCacheTtlMs: number
  rateLimitMax: number
  dashboardRefreshIntervalMs: number
  shutdownGraceMs: number
  metricsPort?: number
  pressure: { maxEventLoopDelayMs: number; maxHeapUsedBytes: number; maxRssBytes: number; sampleIntervalMs: number }
  memory: { sampleIntervalMs: number; historySize: number; warnRatio: number }
}

export class ConfigError extends Error {
  constructor (message: string) {
    super(`Invalid configuration: ${message}`)
    this.name = 'ConfigError'
  }
}

type Source = NodeJS.ProcessEnv | Record<string, string | undefined>

/** Validates an environment (process.env in production, a literal in tests). */
export function loadConfig (source: Source, cwd = process.cwd()): AppConfig {
  return load(source, cwd, true)
}

/**
 * What the migration command needs (the database and where the embedded one
 * lives), validated like loadConfig but without the rules about secrets:
 * migrating signs no token, so the image's migration command runs without JWT_SECRET.
 */
export function loadMigrationConfig (source: Source, cwd = process.cwd()): Pick<AppConfig, 'database' | 'embedded'> {
  const { database, embedded } = load(source, cwd, false)
  return { database, embedded }
}

function load (source: Source, cwd: string, serving: boolean): AppConfig {
  let env: Env
  try {
    env = envSchema<Env>({ schema: EnvSchema, data: { ...source }, env: false, dotenv: false })
  } catch (err) {
    // ajv says e.g. "env/PORT must be <= 65535": name the variable plainly.
    throw new ConfigError((err as Error).message.replace(/env\//g, '').replace(/\n/g, '; '))
  }
  if (env.DATABASE_POOL_MIN > env.DATABASE_POOL_SIZE) {
    throw new ConfigError('DATABASE_POOL_MIN must be <= DATABASE_POOL_SIZE')
  }
  if (env.DATABASE_POOLER === 'transaction' && env.DATABASE_URL === undefined) {
    throw new ConfigError('DATABASE_POOLER=transaction needs DATABASE_URL (the pooler\'s address)')
  }
  if (serving && env.DATABASE_POOLER === 'transaction' && env.MIGRATE_ON_START === true && env.DATABASE_DIRECT_URL === undefined) {
    throw new ConfigError('MIGRATE_ON_START=true with DATABASE_POOLER=transaction needs DATABASE_DIRECT_URL: migrations hold a session lock, which a transaction pooler does not keep')
  }
  if (env.REDIS_URL !== undefined && env.REDIS_CLUSTER_NODES !== undefined) {
    throw new ConfigError('set REDIS_URL (one Redis) or REDIS_CLUSTER_NODES (a Redis Cluster), not both')
  }
  if (serving && env.NODE_ENV === 'production' && env.JWT_SECRET === undefined) {
    throw new ConfigError('JWT_SECRET is required when NODE_ENV=production')
  }
  return {
    env: env.NODE_ENV,
    port: env.PORT,
    host: env.HOST,
    logLevel: env.LOG_LEVEL ?? (env.NODE_ENV === 'test' ? 'silent' : 'info'),
    database: {
      url: env.DATABASE_URL,
      pooler: env.DATABASE_POOLER,
      directUrl: env.DATABASE_DIRECT_URL,
      poolSize: env.DATABASE_POOL_SIZE,
      poolMin: env.DATABASE_POOL_MIN,
      idleTimeoutMs: env.DATABASE_IDLE_TIMEOUT_MS,
      connectTimeoutMs: env.DATABASE_CONNECT_TIMEOUT_MS,
      queryTimeoutMs: env.DATABASE_QUERY_TIMEOUT_MS,
      ssl: env.DATABASE_SSL === 'false' ? false : { rejectUnauthorized: env.DATABASE_SSL === 'true' },
      slowQueryMs: env.SLOW_QUERY_MS
    },
    readReplica: { url: env.DATABASE_READ_URL, maxLagMs: env.DATABASE_READ_MAX_LAG_MS },
    embedded: { dataDir: path.resolve(cwd, env.EMBEDDED_DATABASE_DIR), port: env.EMBEDDED_DATABASE_PORT },
    migrateOnStart: env.MIGRATE_ON_START ?? env.DATABASE_URL === undefined,
    redisUrl: env.REDIS_URL,
    redisClusterNodes: env.REDIS_CLUSTER_NODES?.split(',').map((node) => {
      const colon = node.lastIndexOf(':')
      return { host: node.slice(0, colon), port: Number(node.slice(colon + 1)) }
    }),
    cacheTtlSeconds: env.CACHE_TTL_SECONDS,
    redisCommandTimeoutMs: env.REDIS_COMMAND_TIMEOUT_MS,
    redisKeyPrefix: env.REDIS_KEY_PREFIX,
    cacheMaxEntries: env.CACHE_MAX_ENTRIES,
    cacheLocalMaxBytes: env.CACHE_LOCAL_MAX_BYTES,
    jwtSecret: env.JWT_SECRET ?? randomBytes(32).toString('hex'),
    jwtSecretGenerated: env.JWT_SECRET === undefined,
    authCacheTtlMs: env.AUTH_CACHE_TTL_MS,
    rateLimitMax: env.RATE_LIMIT_MAX,
    dashboardRefreshIntervalMs: env.DASHBOARD_REFRESH_INTERVAL_MS,
    shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
    metricsPort: env.METRICS_PORT,
    pressure: {
      maxEventLoopDelayMs: env.MAX_EVENT_LOOP_DELAY_MS,
      maxHeapUsedBytes: env.MAX_HEAP_USED_BYTES,
      maxRssBytes: env.MAX_RSS_BYTES,
      sampleIntervalMs: env.PRESSURE_SAMPLE_INTERVAL_MS
    },
    memory: { sampleIntervalMs: env.MEMORY_SAMPLE_INTERVAL_MS, historySize: env.MEMORY_HISTORY_SIZE, warnRatio: env.MEMORY_WARN_RATIO }
  }
}
