#!/usr/bin/env node
// Runs the Prisma CLI with the schema-engine shim, so `prisma generate` works
// without downloading engine binaries (see docs/operations.md, on the Prisma shim).
'use strict'
const { spawnSync } = require('node:child_process')
const path = require('node:path')

const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || path.join(__dirname, 'schema-engine-shim.sh'),
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
  CHECKPOINT_DISABLE: '1'
}
const cli = require.resolve('prisma/build/index.js')
const result = spawnSync(process.execPath, [cli, ...process.argv.slice(2)], { stdio: 'inherit', env })
process.exit(result.status ?? 1)
