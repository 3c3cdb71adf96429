// A Redis Cluster of the test's own: three masters (no replicas) on spare
// ports, each with its own directory for the cluster's nodes.conf, created
// with `redis-cli --cluster create` as an operator would.
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { freePort } from './net'
import { until } from './wait'

const run = promisify(execFile)

export interface TestRedisCluster {
  ports: number[]
  /** REDIS_CLUSTER_NODES for the service. */
  nodes: string
  stop (): Promise<void>
}

export async function cli (port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-p', String(port), ...args], { timeout: 10_000 })
  return stdout
}

export async function startTestRedisCluster (): Promise<TestRedisCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), 'crm-redis-cluster-'))
  const ports: number[] = []
  const children: ChildProcess[] = []
  const stop = async (): Promise<void> => {
    await Promise.all(children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGKILL')
      await exited
    }))
    await rm(dir, { recursive: true, force: true })
  }
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort()
      const nodeDir = path.join(dir, String(port))
      await mkdir(nodeDir)
      children.push(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
        '--cluster-enabled', 'yes', '--cluster-config-file', path.join(nodeDir, 'nodes.conf'), '--dir', nodeDir], { stdio: 'ignore' }))
      ports.push(port)
    }
    for (const port of ports) await until(`port ${port} answering PING`, async () => (await cli(port, 'ping').catch(() => '')).trim() === 'PONG', 30_000)
    await run('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 })
    for (const port of ports) await until(`cluster_state:ok on ${port}`, async () => (await cli(port, 'cluster', 'info')).includes('cluster_state:ok'), 30_000)
  } catch (err) {
    await stop()
    throw err
  }
  return { ports, nodes: ports.map((port) => `127.0.0.1:${port}`).join(','), stop }
}
