#!/usr/bin/env node
// Runs `npm install` when dependencies are missing or older than the
// lockfile, so `npm start` and `npm test` work on a fresh clone by themselves.
// Before `npm start` it first checks what would stop the embedded PostgreSQL
// as root, so that failure comes at once instead of after the install and build.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const installed = path.join(root, 'node_modules', '.package-lock.json')
const lock = path.join(root, 'package-lock.json')

/**
 * Folders the embedded PostgreSQL could not enter: started by root it runs as
 * the OS user 'postgres', which needs search (x) permission on every folder
 * above the project and above EMBEDDED_DATABASE_DIR. The server makes the
 * folders inside the project traversable itself (src/lib/embedded-postgres.ts,
 * ensureTraversable), so only those outside count. Outermost first.
 */
function untraversableFolders () {
  const rootDir = path.resolve(root)
  const inside = (dir) => dir === rootDir || dir.startsWith(rootDir + path.sep)
  // As the server resolves it: relative to the working directory, which npm sets to the project.
  const dataDir = path.resolve(process.env.EMBEDDED_DATABASE_DIR || '.data')
  const found = new Set()
  for (const start of [path.dirname(rootDir), dataDir]) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      if (!inside(dir) && fs.existsSync(dir) && (fs.statSync(dir).mode & 0o001) === 0) found.add(dir)
      if (path.dirname(dir) === dir) break
    }
  }
  return [...found].sort((a, b) => a.length - b.length)
}

// The wording of cannotEnterMessage() in src/lib/embedded-postgres.ts (this
// file runs before anything is installed or compiled, so it cannot import it;
// test/scripts/ensure-install.test.ts keeps the two identical).
const cannotEnterMessage = (dir) => `the embedded PostgreSQL runs as user 'postgres' when started by root, and it cannot enter ${dir}; run as a non-root user, allow others to search that folder (chmod o+x ${dir}), or set DATABASE_URL`

const embedded = process.env.DATABASE_URL === undefined
if (process.env.npm_lifecycle_event === 'prestart' && embedded && process.getuid?.() === 0) {
  const folders = untraversableFolders()
  if (folders.length > 0) {
    for (const dir of folders) console.error(`npm start: ${cannotEnterMessage(dir)}`)
    process.exit(1)
  }
}

const mtime = (file) => (fs.existsSync(file) ? fs.statSync(file).mtimeMs : 0)
if (mtime(installed) === 0 || mtime(installed) < mtime(lock)) {
  console.log('installing dependencies (npm install)...')
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const result = spawnSync(npm, ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) process.exit(result.status ?? 1)
}
