// A Debian package a test needs (pgbouncer, podman-compose): found on PATH,
// or installed with apt-get when the tests run as root (CI does), or else a
// reason to skip that names the package. Installing is asynchronous: a
// blocking spawnSync would stall the event loop of apps under test.
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

function which (command: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/sbin', '/bin']
  for (const dir of dirs) {
    const candidate = path.join(dir, command)
    try {
      fs.accessSync(candidate, fs.constants.X_OK)
      return candidate
    } catch {}
  }
  return undefined
}

/** The command's path, or `{ skip }` with the reason it cannot be had. */
export async function ensureCommand (command: string, debianPackage: string): Promise<{ path: string } | { skip: string }> {
  const found = which(command)
  if (found !== undefined) return { path: found }
  if (process.getuid?.() !== 0) return { skip: `${command} is not installed and the tests do not run as root: apt-get install -y ${debianPackage}` }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const install = async (): Promise<void> => { await run('apt-get', ['install', '-y', '-q', debianPackage], { env, maxBuffer: 64 * 1024 * 1024 }) }
  try {
    await install()
  } catch {
    // The package lists may be missing or stale on a new machine.
    try {
      await run('apt-get', ['update', '-q'], { env, maxBuffer: 64 * 1024 * 1024 })
      await install()
    } catch (err) {
      return { skip: `apt-get install -y ${debianPackage} failed: ${(err as Error).message.split('\n')[0]}` }
    }
  }
  const installed = which(command)
  return installed === undefined ? { skip: `${debianPackage} installed, but ${command} is not on PATH` } : { path: installed }
}
