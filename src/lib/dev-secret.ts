// Without JWT_SECRET outside production, the server and `npm run token` share
// a random secret kept beside the embedded database, so tokens printed by the
// script work against `npm start` and survive restarts.
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

export function persistentDevSecret (dataDir: string): string {
  const file = path.join(dataDir, 'jwt-secret')
  try {
    const existing = fs.readFileSync(file, 'utf8').trim()
    if (existing.length >= 32) return existing
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  fs.mkdirSync(dataDir, { recursive: true })
  const secret = randomBytes(32).toString('hex')
  fs.writeFileSync(file, `${secret}\n`, { mode: 0o600 })
  return secret
}
