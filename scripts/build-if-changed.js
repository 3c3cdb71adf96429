#!/usr/bin/env node
// `npm start` runs this before the server: tsc takes 9 s or more, the server
// is ready in under a second, so compile only when an input of the build
// changed. `npm run build` still always compiles.
//
// The stamp (dist/.build-stamp) lists every input's size and mtime as they
// were when the last successful build started. Any difference (an edit, a
// file added or removed, an older copy restored with its old mtime) means a
// build; a file edited while tsc runs is seen at the next start. Plain
// CommonJS without dependencies, like ensure-install.js, which runs first.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const STAMP = path.join(root, 'dist', '.build-stamp')
// What server.js needs: without it the build is missing, whatever the stamp says.
const ENTRY = path.join(root, 'dist', 'src', 'server.js')
// Everything tsconfig.build.json compiles or depends on: the sources, the
// generated Prisma client, the compiler options, and the installed packages'
// versions (their types) through the lockfile; package.json's "type" decides
// the module format tsc emits.
const TREES = ['src', 'generated']
const FILES = ['package.json', 'package-lock.json']

/** { 'src/app.ts': [size, mtimeMs], ... } for every input file, relative paths with '/'. */
function fingerprint () {
  const files = {}
  const add = (abs) => {
    const stat = fs.statSync(abs)
    files[path.relative(root, abs).split(path.sep).join('/')] = [stat.size, stat.mtimeMs]
  }
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const abs = path.join(dir, entry.name)
      if (entry.isDirectory()) walk(abs)
      else add(abs)
    }
  }
  for (const tree of TREES) if (fs.existsSync(path.join(root, tree))) walk(path.join(root, tree))
  const tsconfigs = fs.readdirSync(root).filter((name) => /^tsconfig.*\.json$/.test(name))
  for (const name of [...tsconfigs, ...FILES]) if (fs.existsSync(path.join(root, name))) add(path.join(root, name))
  return files
}

/** Why a build is needed (a line for the user), or undefined when dist/ is up to date. */
function staleness (current) {
  if (!fs.existsSync(ENTRY)) return 'no build yet'
  let previous
  try {
    previous = JSON.parse(fs.readFileSync(STAMP, 'utf8')).files
  } catch {
    return 'no record of the last build (dist/.build-stamp)'
  }
  const changed = Object.keys(current).filter((file) => JSON.stringify(current[file]) !== JSON.stringify(previous[file]))
  const removed = Object.keys(previous).filter((file) => !(file in current))
  const names = [...changed, ...removed]
  if (names.length === 0) return undefined
  const shown = names.slice(0, 3).join(', ') + (names.length > 3 ? ` and ${names.length - 3} more` : '')
  return `changed since the last build: ${shown}`
}

const started = Date.now()
const inputs = fingerprint()
const reason = staleness(inputs)
if (reason === undefined) {
  console.log(`dist/ is up to date (no source changed since the last build; checked in ${Date.now() - started} ms): not compiling`)
  process.exit(0)
}
console.log(`building dist/ (${reason})...`)
// The same command as `npm run build`, without a second npm process.
const tsc = require.resolve('typescript/bin/tsc', { paths: [root] })
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' })
if (result.status !== 0) process.exit(result.status ?? 1) // no stamp: the next start compiles again
fs.writeFileSync(STAMP, JSON.stringify({ files: inputs }) + '\n')
console.log(`built dist/ in ${Date.now() - started} ms`)
