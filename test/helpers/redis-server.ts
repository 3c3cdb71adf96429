// A Redis server of the test's own on a spare port, so a test can stop,
// pause or restart it without touching the machine's Redis.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { redisClient } from '../../scripts/lib/redis-client'
import { freePort } from './net'

export interface TestRedis {
  port: number
  url: string
  /** SIGKILL: gone at once, data lost (no persistence). */
  kill (): Promise<void>
  /** Starts it again on the same port (empty). */
  restart (): Promise<void>
  /** SIGSTOP / SIGCONT: connections stay open, nothing answers (a hung Redis). */
  pause (): void
  resume (): void
  stop (): Promise<void>
}

async function waitForPing (port: number): Promise<void> {
  const deadline = Date.now() + 10_000
  for (;;) {
    // Refused until redis-server listens: expected, and reported only at the deadline.
    let cause: Error | undefined
    const client = redisClient(`redis://127.0.0.1:${port}`, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null }, (err) => { cause ??= err })
    try {
      await client.connect()
      await client.ping()
      return
    } catch (err) {
      if (Date.now() > deadline) throw cause ?? err
      await new Promise((resolve) => setTimeout(resolve, 50))
    } finally {
      client.disconnect()
    }
  }
}

export async function startTestRedis (): Promise<TestRedis> {
  const port = await freePort()
  let child: ChildProcess
  const start = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
    await waitForPing(port)
  }
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  }
  await start()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    restart: start,
    pause: () => { child.kill('SIGSTOP') },
    resume: () => { child.kill('SIGCONT') },
    stop: async () => {
      child.kill('SIGCONT')
      await kill()
    }
  }
}
