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
  /** The port of the master serving `key`'s slot. */
  ownerOf (key: string): Promise<number>
  /** SIGKILL of one master: its keys are gone (no persistence), its slots unserved. */
  killNode (port: number): Promise<void>
  /** Starts it again, empty, with its nodes.conf: it takes its slots back; resolves when the cluster is ok. */
  restartNode (port: number): Promise<void>
  stop (): Promise<void>
}

export async function cli (port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-p', String(port), ...args], { timeout: 10_000 })
  return stdout
}

async function killed (child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
}

export async function startTestRedisCluster (): Promise<TestRedisCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), 'crm-redis-cluster-'))
  const ports: number[] = []
  const children = new Map<number, ChildProcess>()
  const startNode = async (port: number): Promise<void> => {
    const nodeDir = path.join(dir, String(port))
    await mkdir(nodeDir, { recursive: true })
    children.set(port, spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--cluster-enabled', 'yes', '--cluster-config-file', path.join(nodeDir, 'nodes.conf'), '--dir', nodeDir], { stdio: 'ignore' }))
    await until(`port ${port} answering PING`, async () => (await cli(port, 'ping').catch(() => '')).trim() === 'PONG', 30_000)
  }
  const clusterOk = async (): Promise<void> => {
    for (const port of ports) {
      await until(`cluster_state:ok on ${port}`, async () => (await cli(port, 'cluster', 'info').catch(() => '')).includes('cluster_state:ok'), 30_000)
    }
  }
  const stop = async (): Promise<void> => {
    await Promise.all([...children.values()].map(killed))
    await rm(dir, { recursive: true, force: true })
  }
  try {
    for (let i = 0; i < 3; i++) ports.push(await freePort())
    for (const port of ports) await startNode(port)
    await run('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 })
    await clusterOk()
  } catch (err) {
    await stop()
    throw err
  }
  return {
    ports,
    nodes: ports.map((port) => `127.0.0.1:${port}`).join(','),
    ownerOf: async (key) => {
      // Any other master answers a MOVED error naming the owner.
      for (const port of ports) if (!(await cli(port, 'exists', key)).includes('MOVED')) return port
      throw new Error(`no master serves ${key}`)
    },
    killNode: async (port) => { await killed(children.get(port)) },
    restartNode: async (port) => {
      await startNode(port)
      await clusterOk()
    },
    stop
  }
}
