// scripts/ensure-install.js before `npm start`, as root without DATABASE_URL:
// a folder above the project (or above EMBEDDED_DATABASE_DIR) that others
// cannot enter would stop the embedded PostgreSQL only after the install and
// the build, so the script fails at once, before installing, with the
// server's own message. The script runs from a copy in a throwaway project
// whose package.json has no dependencies, so an install it should not have
// started is quick and visible (node_modules appears).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { cannotEnterMessage } from '../../src/lib/embedded-postgres'

const SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'ensure-install.js')
const isRoot = process.getuid?.() === 0

interface Result { code: number | null; stdout: string; stderr: string }

async function ensureInstall (project: string, env: Record<string, string>): Promise<Result> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([key]) =>
    !/^(npm_|tap|_tapjs_)/i.test(key) && !['NODE_OPTIONS', 'DATABASE_URL', 'EMBEDDED_DATABASE_DIR'].includes(key)))
  const child = spawn(process.execPath, [path.join(project, 'scripts', 'ensure-install.js')], { cwd: project, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const [code] = await once(child, 'exit') as [number | null]
  return { code, stdout, stderr }
}

/** A project at <parent>/crm with the script, a lockfile and (unless `installed` is false) an up-to-date node_modules. */
function project (parent: string, installed: boolean): string {
  const dir = path.join(parent, 'crm')
  fs.mkdirSync(path.join(dir, 'scripts'), { recursive: true })
  fs.copyFileSync(SCRIPT, path.join(dir, 'scripts', 'ensure-install.js'))
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'crm-copy', version: '1.0.0', private: true }))
  fs.writeFileSync(path.join(dir, 'package-lock.json'), JSON.stringify({ name: 'crm-copy', version: '1.0.0', lockfileVersion: 3, requires: true, packages: { '': { name: 'crm-copy', version: '1.0.0' } } }))
  if (installed) {
    fs.mkdirSync(path.join(dir, 'node_modules'))
    fs.writeFileSync(path.join(dir, 'node_modules', '.package-lock.json'), '{}')
    const later = new Date(Date.now() + 60_000) // newer than the lockfile: nothing to install
    fs.utimesSync(path.join(dir, 'node_modules', '.package-lock.json'), later, later)
  }
  return dir
}

t.test('before npm start, as root: a folder others cannot enter fails at once, before installing', async (t) => {
  t.setTimeout(120_000)
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-ensure-install-')) // 0700, like `mktemp -d`
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }))
  t.equal(fs.statSync(tmp).mode & 0o777, 0o700, 'the temporary folder is 0700')
  const fresh = project(tmp, false)

  const refused = await ensureInstall(fresh, { npm_lifecycle_event: 'prestart' })
  if (isRoot) {
    t.equal(refused.code, 1, 'exit 1')
    t.equal(refused.stderr, `npm start: ${cannotEnterMessage(tmp)}\n`, 'the server\'s message, naming the folder and `chmod o+x` for it')
    t.notMatch(refused.stdout, /installing dependencies/, 'no install started')
    t.equal(fs.existsSync(path.join(fresh, 'node_modules')), false, 'nothing installed')
  } else {
    t.equal(refused.code, 0, 'not root: the embedded PostgreSQL runs as this user, no check')
  }
  fs.rmSync(fresh, { recursive: true, force: true })

  const ready = project(tmp, true)
  const ok = async (what: string, env: Record<string, string>): Promise<void> => {
    const result = await ensureInstall(ready, env)
    t.same({ code: result.code, stderr: result.stderr }, { code: 0, stderr: '' }, what)
  }
  await ok('with DATABASE_URL the embedded PostgreSQL is not used: no check', { npm_lifecycle_event: 'prestart', DATABASE_URL: 'postgresql://root@127.0.0.1:5432/test' })
  await ok('before npm test: no check (the tests use the machine\'s PostgreSQL)', { npm_lifecycle_event: 'pretest' })

  // EMBEDDED_DATABASE_DIR outside the project counts too, and a folder inside the project does not (the server chmods those itself).
  fs.chmodSync(tmp, 0o755)
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-ensure-install-data-'))
  t.teardown(() => fs.rmSync(outside, { recursive: true, force: true }))
  fs.mkdirSync(path.join(outside, 'db'))
  await ok('every folder above the project can be entered', { npm_lifecycle_event: 'prestart' })
  fs.mkdirSync(path.join(ready, 'inner', 'data'), { recursive: true, mode: 0o700 })
  fs.chmodSync(path.join(ready, 'inner'), 0o700)
  await ok('a closed folder inside the project is fine', { npm_lifecycle_event: 'prestart', EMBEDDED_DATABASE_DIR: 'inner/data' })
  const elsewhere = await ensureInstall(ready, { npm_lifecycle_event: 'prestart', EMBEDDED_DATABASE_DIR: path.join(outside, 'db') })
  if (isRoot) {
    t.equal(elsewhere.code, 1, 'EMBEDDED_DATABASE_DIR under a closed folder: exit 1')
    t.equal(elsewhere.stderr, `npm start: ${cannotEnterMessage(outside)}\n`, 'naming that folder')
  } else {
    t.equal(elsewhere.code, 0)
  }
})
