import fs from 'node:fs'
import path from 'node:path'

// The project root is the folder holding package.json, whether this code runs
// from the TypeScript sources or compiled under dist/.
function findRoot (from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`)
  }
}

export const PROJECT_ROOT = findRoot(__dirname)
export const MIGRATIONS_DIR = path.join(PROJECT_ROOT, 'prisma', 'migrations')
