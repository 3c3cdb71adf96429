// The service as the bench and the soak run it: built, started as a child
// process in production mode with an environment of its own, and waited for
// until /ready answers.
import type { ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { PROJECT_ROOT } from '../../src/lib/paths'
import { run } from './child-processes'
import { httpGet } from './http-get'

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const READY_TIMEOUT_MS = 120_000

interface ServiceEnvOptions {
  port: number
  databaseUrl: string
  redisUrl: string
  prefix: string
  secret: string
  dashboardRefreshMs: number
}

/**
 * The environment the bench and the soak start the service with: production
 * mode on loopback, its own database, Redis key prefix and secret, quiet logs,
 * a rate limit out of reach and no migrations (the harness applied them).
 */
export function serviceEnv (options: ServiceEnvOptions): Record<string, string> {
  return {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(options.port),
    DATABASE_URL: options.databaseUrl,
    REDIS_URL: options.redisUrl,
    REDIS_KEY_PREFIX: options.prefix,
    JWT_SECRET: options.secret,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_MAX: '1000000000',
    MIGRATE_ON_START: 'false',
    DASHBOARD_REFRESH_INTERVAL_MS: String(options.dashboardRefreshMs)
  }
}

/** `npm run build`, for --server dist. */
export async function buildService (): Promise<void> {
  console.log('npm run build…')
  const started = performance.now()
  await run(NPM, ['run', 'build'])
  console.log(`built in ${((performance.now() - started) / 1000).toFixed(1)} s`)
}

const serverNodeFlags = require('./server-node-flags') as { all: string[], supported: string[] }
/** The Node.js flags the service runs with everywhere (scripts/lib/server-node-flags.js), those this Node.js accepts. */
export const SERVER_NODE_FLAGS: readonly string[] = serverNodeFlags.supported
/** All of them: the image's CMD (its Node.js accepts every one). */
export const IMAGE_NODE_FLAGS: readonly string[] = serverNodeFlags.all

/** The entry point for --server dist (compiled, needs a build) or ts (the sources through ts-node). */
export function serviceEntry (server: 'dist' | 'ts'): string {
  const entry = server === 'ts' ? path.join(PROJECT_ROOT, 'src', 'server.ts') : path.join(PROJECT_ROOT, 'dist', 'src', 'server.js')
  if (!fs.existsSync(entry)) throw new Error(`${entry} does not exist (run npm run build, or drop --skip-build)`)
  return entry
}

/** Polls GET /ready until it answers 200; fails with the service's last output if it exits first or takes over two minutes. */
export async function waitUntilReady (child: ChildProcess, origin: string, output: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the service exited during start-up (${child.exitCode ?? child.signalCode}):\n${output().slice(-4000)}`)
    const ready = await httpGet(`${origin}/ready`, {}, 5000).catch(() => undefined)
    if (ready?.status === 200) return
    if (Date.now() > deadline) throw new Error(`the service was not ready after ${READY_TIMEOUT_MS / 1000} s:\n${output().slice(-4000)}`)
    await sleep(100)
  }
}
