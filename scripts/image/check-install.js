#!/usr/bin/env node
// Run right after `npm ci` in the image's deps stage: fails the build when the
// install is incomplete. npm has exited 0 after "Exit handler never called!"
// with a partial node_modules, and the build then failed two steps later with
// a misleading "tsc: not found". Checks npm's own record of a finished install
// (node_modules/.package-lock.json), every package the lockfile names for this
// platform, the binaries the build runs, and the Prisma client the postinstall
// generates.
//   node scripts/image/check-install.js [--bin name]... [--generated]
'use strict'
const fs = require('node:fs')
const path = require('node:path')

const root = process.cwd()
const args = process.argv.slice(2)
const bins = args.flatMap((arg, i) => (arg === '--bin' ? [args[i + 1]] : []))
const problems = []

if (!fs.existsSync(path.join(root, 'node_modules', '.package-lock.json'))) {
  problems.push('node_modules/.package-lock.json is missing: npm ci did not finish')
}
const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8'))
let present = 0
for (const [key, entry] of Object.entries(lock.packages)) {
  if (!key.startsWith('node_modules/') || entry.link === true) continue
  if (fs.existsSync(path.join(root, key, 'package.json'))) {
    present++
  } else if (!(entry.optional === true || entry.devOptional === true)) {
    // Optional packages may be for another platform (or omitted); the others must be there.
    problems.push(`${key} is in package-lock.json but not installed`)
  }
}
for (const bin of bins) {
  if (!fs.existsSync(path.join(root, 'node_modules', '.bin', bin))) problems.push(`node_modules/.bin/${bin} is missing`)
}
if (args.includes('--generated') && !fs.existsSync(path.join(root, 'generated', 'prisma', 'client.ts'))) {
  problems.push('generated/prisma/client.ts is missing: the postinstall (prisma generate) did not run')
}
if (problems.length > 0) {
  process.stderr.write(`check-install: the install is incomplete:\n  ${problems.slice(0, 20).join('\n  ')}\n`)
  process.exit(1)
}
process.stdout.write(`check-install: ${present} packages installed${bins.length > 0 ? `, binaries ${bins.join(' ')} present` : ''}\n`)
