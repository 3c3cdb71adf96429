#!/usr/bin/env node
// Runs `npm install` when dependencies are missing or older than the
// lockfile, so `npm start` and `npm test` work on a fresh clone by themselves.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const installed = path.join(root, 'node_modules', '.package-lock.json')
const lock = path.join(root, 'package-lock.json')

const mtime = (file) => (fs.existsSync(file) ? fs.statSync(file).mtimeMs : 0)
if (mtime(installed) === 0 || mtime(installed) < mtime(lock)) {
  console.log('installing dependencies (npm install)...')
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const result = spawnSync(npm, ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) process.exit(result.status ?? 1)
}
