import { execFile } from 'node:child_process'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app'
import { loadConfig, type AppConfig } from '../../src/lib/config'
import { PROJECT_ROOT } from '../../src/lib/paths'
import { nodeArgs } from '../../scripts/lib/child-processes'
import { removeRedisKeys } from '../../scripts/lib/redis-keys'
import { withOracle } from './openapi-oracle'

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
/**
 * Set by test/system/redis-cluster.test.ts when it runs other test files
 * against a Redis Cluster of its own: their apps use it instead of REDIS_URL,
 * except those that name a Redis (or none) themselves.
 */
const REDIS_CLUSTER_NODES = process.env.TEST_REDIS_CLUSTER_NODES

/** Configuration as the service would load it, for a test database. */
export function testConfig (databaseUrl: string, env: Record<string, string | undefined> = {}): AppConfig {
  // A file that names its Redis (REDIS_URL or REDIS_CLUSTER_NODES, even unset) gets exactly that.
  const named = 'REDIS_URL' in env || 'REDIS_CLUSTER_NODES' in env
  const redis = named ? {} : REDIS_CLUSTER_NODES !== undefined ? { REDIS_CLUSTER_NODES } : { REDIS_URL }
  return loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: databaseUrl,
    ...redis,
    // Test files run in parallel against one Redis: each file (process) gets its own keys.
    REDIS_KEY_PREFIX: `crm:test:${process.pid}:`,
    JWT_SECRET: 'test-secret-that-is-at-least-32-characters',
    // Test files run in parallel on two shared cores, where the event loop can
    // stall past a second; shedding on that would answer 503 to assertions
    // about something else. Tests of load shedding set their own limits.
    MAX_EVENT_LOOP_DELAY_MS: '0',
    ...env
  })
}

interface Teardown { teardown (fn: () => unknown): void }

// Test apps still open on the shared Redis, by key prefix (all of a file's
// apps share one, crm:test:<pid>:).
const openOnSharedRedis = new Map<string, number>()

/**
 * Closes `app` when the test ends. The last app of this process to close on
 * the shared Redis removes every key under its prefix (SCAN + UNLINK): cache
 * entries expire, but cache generations and the epoch have no TTL and piled
 * up run after run. Not before: another app still open (two instances in one
 * test, or a file-wide app beside a subtest's) relies on those generations,
 * and resetting them under it would serve stale entries. A Redis of a test's
 * own (helpers/redis-server.ts) goes away with its keys.
 */
export function closeOnTeardown (t: Teardown, app: FastifyInstance): void {
  const prefix = app.config.redisUrl === REDIS_URL ? app.config.redisKeyPrefix : undefined
  if (prefix !== undefined) openOnSharedRedis.set(prefix, (openOnSharedRedis.get(prefix) ?? 0) + 1)
  t.teardown(async () => {
    await app.close()
    if (prefix === undefined) return
    const open = (openOnSharedRedis.get(prefix) ?? 1) - 1
    openOnSharedRedis.set(prefix, open)
    if (open === 0) await removeRedisKeys(REDIS_URL, prefix, () => {}, (line) => process.stderr.write(`${line}\n`))
  })
}

/** A fresh app per test file, closed when the test ends; every inject() is checked against its OpenAPI document. */
export async function buildTestApp (t: Teardown, databaseUrl: string, env: Record<string, string | undefined> = {}): Promise<FastifyInstance> {
  const app = await buildApp({ config: testConfig(databaseUrl, env) })
  closeOnTeardown(t, app)
  await app.ready()
  return withOracle(app)
}

/** What a script run to completion printed, and its exit status (null when a signal ended it). */
export interface ScriptRun { status: number | null, stdout: string, stderr: string }

/**
 * Runs a TypeScript script to completion in the project root, without
 * blocking this process's event loop (spawnSync would stall an app under
 * test for seconds, and its load shedding would answer 503).
 */
export async function runScript (script: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<ScriptRun> {
  return await new Promise((resolve) => {
    execFile(process.execPath, nodeArgs(script, args), { cwd: PROJECT_ROOT, encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = (err as { code?: unknown } | null)?.code
      resolve({ status: err === null ? 0 : typeof code === 'number' ? code : null, stdout, stderr })
    })
  })
}
