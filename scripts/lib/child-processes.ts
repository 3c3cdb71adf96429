// The child processes of the bench and the soak (the service, the ceilings,
// npm run build, the seed): how to start a TypeScript entry point, run a
// command to completion, stop one, and kill whatever is left when the
// harness itself dies.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { PROJECT_ROOT } from '../../src/lib/paths'

const running = new Set<ChildProcess>()

/** Remembers `child` until it exits, so killRunningChildren() can reach it. */
export function track (child: ChildProcess): ChildProcess {
  running.add(child)
  child.once('exit', () => running.delete(child))
  return child
}

/** SIGTERM to every tracked child still running: the harness is going away and must not leave a server behind. */
export function killRunningChildren (): void {
  for (const child of running) child.kill('SIGTERM')
}

/**
 * node arguments that run `entry`: a compiled .js directly, a .ts through
 * ts-node with swc (transpile only). swc loads the app in 1.2 s where
 * TypeScript's own transpiler takes 2.7 s (1.7 s of it in the compiler), so a
 * child started while other work loads the machine is ready sooner. The .ts
 * form goes through -e so the CommonJS loader handles it even when a test
 * runner injects ESM loaders; after '--', `entry` fills process.argv[1] as if
 * it had been run directly.
 */
export function nodeArgs (entry: string, args: string[] = []): string[] {
  if (!entry.endsWith('.ts')) return [entry, ...args]
  const register = `require(${JSON.stringify(require.resolve('ts-node'))}).register({ swc: true })`
  return ['-e', `${register}; require(${JSON.stringify(entry)})`, '--', entry, ...args]
}

/** Runs a command in the project root to completion; resolves with its output, rejects with it when it fails. */
export async function run (command: string, args: string[], options: { env?: NodeJS.ProcessEnv; echo?: boolean } = {}): Promise<string> {
  const child = track(spawn(command, args, { cwd: PROJECT_ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] }))
  let output = ''
  const collect = (stream: NodeJS.WriteStream) => (chunk: Buffer): void => {
    output += chunk.toString()
    if (options.echo === true) stream.write(chunk)
  }
  child.stdout!.on('data', collect(process.stdout))
  child.stderr!.on('data', collect(process.stderr))
  const [code, signal] = await once(child, 'exit') as [number | null, string | null]
  if (code !== 0) throw new Error(`${path.basename(command)} ${args.join(' ')} failed (${code ?? signal}):\n${output.slice(-4000)}`)
  return output
}

export interface ChildExit { code: number | null; signal: string | null; ms: number }

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. Resolves with how it exited and how long that took. */
export async function stopChild (child: ChildProcess, graceMs: number): Promise<ChildExit> {
  const started = performance.now()
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode, ms: 0 }
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  try {
    const [code, signal] = await exited
    return { code, signal, ms: performance.now() - started }
  } finally {
    clearTimeout(timer)
  }
}
