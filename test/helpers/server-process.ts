// src/server.ts started as its own process, as production runs it: the tests
// of signals, shutdown and a frozen database need a real process and socket.
import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { PROJECT_ROOT } from '../../src/lib/paths'
import { nodeArgs } from '../../scripts/lib/child-processes'
import { until } from './wait'

const SERVER_ENTRY = path.join(PROJECT_ROOT, 'src', 'server.ts')

/** Only a broken build takes this long; a loaded CI machine took over a minute to start a server once. */
const READY_DEADLINE_MS = 150_000

export interface ServerProcess {
  child: ChildProcessByStdio<null, Readable, Readable>
  /** Everything the server printed so far on each stream. */
  stdout: () => string
  stderr: () => string
  /** The JSON log lines on stdout so far. */
  lines: () => Array<Record<string, unknown>>
  /** Exit code and signal; listened for from the start, so an early exit is never missed. */
  exited: Promise<[number | null, NodeJS.Signals | null]>
}

/**
 * Starts the server with `env` and waits for its "ready" log line; fails
 * with its output when it exits first or the deadline passes. Killed at
 * teardown if still running (continued first, in case a test stopped it).
 */
export async function startServerProcess (t: { teardown: (fn: () => void) => void }, env: NodeJS.ProcessEnv): Promise<ServerProcess> {
  const child = spawn(process.execPath, nodeArgs(SERVER_ENTRY), { env, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) { child.kill('SIGCONT'); child.kill('SIGKILL') }
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  const lines = (): Array<Record<string, unknown>> => stdout.split('\n').flatMap((line) => {
    try { return [JSON.parse(line) as Record<string, unknown>] } catch { return [] }
  })
  await until('the server to be ready', () => {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server.ts exited early (${child.exitCode ?? child.signalCode}): ${stdout}${stderr}`)
    return lines().some((line) => line.msg === 'ready')
  }, READY_DEADLINE_MS, () => `stdout: ${stdout.slice(-2000)} stderr: ${stderr.slice(-2000)}`)
  return { child, stdout: () => stdout, stderr: () => stderr, lines, exited }
}
