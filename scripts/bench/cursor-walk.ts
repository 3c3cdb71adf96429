// Scenario (f), the cursor walk (contract §6): one client reads a whole list
// page by page, following page.nextCursor, as an export or a sync job does.
// Every page is a new URL, so each is a cache miss that reaches PostgreSQL.
// Reported: pages per second over the walk, and the latency of the first
// pages against the deepest ones: with keyset paging they should match.
import http from 'node:http'
import { latencyStats, type LatencyStats } from '../lib/stats'

export interface WalkResult {
  who: string
  pages: number
  rows: number
  seconds: number
  pagesPerSecond: number
  /** The first and the last `edge` pages of the walk. */
  first: LatencyStats
  deepest: LatencyStats
}

/** Scenario (f): the walks of one run. */
export interface WalkScenarioResult { key: 'f', title: string, limit: number, walks: WalkResult[], notes: string[] }

/** Per walker, the run with the median pages/s (its latencies with it). */
export function medianWalks (runs: WalkScenarioResult[]): WalkScenarioResult {
  const first = runs[0]!
  return {
    ...first,
    walks: first.walks.map((walk, i) => {
      const sorted = runs.map((r) => r.walks[i]!).sort((a, b) => a.pagesPerSecond - b.pagesPerSecond)
      return sorted[Math.floor((sorted.length - 1) / 2)] ?? walk
    })
  }
}

interface Listed { data: unknown[], page: { nextCursor?: string } }

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })

async function getJson (url: string, headers: Record<string, string>): Promise<Listed> {
  return await new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`GET ${url}: ${String(res.statusCode)} ${Buffer.concat(chunks).toString().slice(0, 200)}`))
        else resolve(JSON.parse(Buffer.concat(chunks).toString()) as Listed)
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.setTimeout(30_000, () => req.destroy(new Error(`GET ${url} timed out`)))
  })
}

/**
 * Walks `path` (a list URL with its query) from the first page to the last,
 * or until `maxPages`; `edge` pages at each end make the latency samples.
 */
export async function walkList (
  base: string, path: string, headers: Record<string, string>, who: string, opts: { maxPages: number, edge: number }
): Promise<WalkResult> {
  // Uncompressed, so the walker can read each page's cursor without decoding.
  const plain = Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'accept-encoding'))
  const latencies: number[] = []
  let rows = 0
  let cursor: string | undefined
  const started = process.hrtime.bigint()
  do {
    const separator = path.includes('?') ? '&' : '?'
    const url = `${base}${path}${cursor === undefined ? '' : `${separator}cursor=${cursor}`}`
    const t0 = process.hrtime.bigint()
    const page = await getJson(url, plain)
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6)
    rows += page.data.length
    cursor = page.page.nextCursor
  } while (cursor !== undefined && latencies.length < opts.maxPages)
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const edge = Math.min(opts.edge, Math.floor(latencies.length / 2))
  return {
    who,
    pages: latencies.length,
    rows,
    seconds,
    pagesPerSecond: latencies.length / seconds,
    first: latencyStats(latencies.slice(0, edge)),
    deepest: latencyStats(latencies.slice(latencies.length - edge))
  }
}

export function formatWalk (r: WalkResult): string {
  return `${r.who}: ${r.pages} pages (${r.rows} rows) in ${r.seconds.toFixed(1)} s, ${r.pagesPerSecond.toFixed(0)} pages/s; ` +
    `first ${r.first.count} pages p50 ${r.first.p50.toFixed(2)} ms p99 ${r.first.p99.toFixed(2)} ms, ` +
    `deepest ${r.deepest.count} p50 ${r.deepest.p50.toFixed(2)} ms p99 ${r.deepest.p99.toFixed(2)} ms ` +
    `(deepest/first p99 ${(r.deepest.p99 / Math.max(r.first.p99, 1e-9)).toFixed(2)})`
}
