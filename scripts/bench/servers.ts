// The bench's processes: the service under test, the bare HTTP ceiling and
// the database ceiling, each a child process so none shares this process's
// event loop with the load generator.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PROJECT_ROOT } from '../../src/lib/paths'
import { nodeArgs, run, track } from '../lib/child-processes'
import { freePort } from '../lib/free-port'
import { SERVER_NODE_FLAGS, serviceEntry, serviceEnv, waitUntilReady } from '../lib/service'
import type { DbCeilingInput, DbCeilingResult } from './db-ceiling'
import type { BenchOptions } from './options'

export interface Service { child: ChildProcess; base: string; output: () => string; env: Record<string, string> }

/** A script beside this file: .ts when running from the sources, .js when compiled. */
function sibling (name: string): string {
  return path.join(__dirname, `${name}${path.extname(__filename)}`)
}

/**
 * @param nodeFlags extra node flags, before the entry (the profile's --cpu-prof).
 * @param extraEnv more of the service's environment (--pooler's DATABASE_POOLER).
 */
export async function startService (opts: BenchOptions, secret: string, prefix: string, nodeFlags: string[] = [],
  extraEnv: Record<string, string> = {}): Promise<Service> {
  const port = await freePort()
  // The seed refreshed the view; a periodic refresh mid-scenario would only add noise.
  const env = { ...serviceEnv({ port, databaseUrl: opts.databaseUrl, redisUrl: opts.redisUrl, prefix, secret, dashboardRefreshMs: 0 }), ...extraEnv }
  const entry = serviceEntry(opts.server)
  const child = track(spawn(process.execPath, [...SERVER_NODE_FLAGS, ...nodeFlags, ...nodeArgs(entry)], { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }))
  let output = ''
  child.stdout!.on('data', (c: Buffer) => { output = (output + c.toString()).slice(-200_000) })
  child.stderr!.on('data', (c: Buffer) => { output = (output + c.toString()).slice(-200_000) })
  const base = `http://127.0.0.1:${port}`
  await waitUntilReady(child, base, () => output)
  return { child, base, output: () => output, env }
}

export async function startCeilingServer (body: Buffer): Promise<{ child: ChildProcess; base: string; bodyFile: string }> {
  const port = await freePort()
  const bodyFile = path.join(os.tmpdir(), `crm-bench-ceiling-${process.pid}-${port}.json`)
  fs.writeFileSync(bodyFile, body)
  const child = track(spawn(process.execPath, nodeArgs(sibling('ceiling-server'), [String(port), bodyFile]), { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] }))
  let output = ''
  await new Promise<void>((resolve, reject) => {
    const onData = (c: Buffer): void => {
      output += c.toString()
      if (output.includes(`LISTENING ${port}`)) resolve()
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', (c: Buffer) => { output += c.toString() })
    child.once('exit', (code) => reject(new Error(`the ceiling server exited (${code}): ${output}`)))
  })
  return { child, base: `http://127.0.0.1:${port}`, bodyFile }
}

export async function runDbCeiling (input: DbCeilingInput): Promise<DbCeilingResult> {
  const output = await run(process.execPath, nodeArgs(sibling('db-ceiling'), [JSON.stringify(input)]))
  const line = output.split('\n').find((l) => l.startsWith('RESULT '))
  if (line === undefined) throw new Error(`the DB ceiling printed no result:\n${output.slice(-4000)}`)
  return JSON.parse(line.slice('RESULT '.length)) as DbCeilingResult
}
