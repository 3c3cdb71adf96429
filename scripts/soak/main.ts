// npm run soak -- [--minutes M] [--connections N] [--users U] [--warmup-seconds S] ...
//
// The soak test of the service: does it hold steady (memory, errors) under a
// realistic load for a long time? It
//
//   1. creates a scratch database on the machine's PostgreSQL, migrates it with
//      lib/migrator and seeds it (scripts/seed/seed-data.ts; default 8,000
//      organizations: U-1 members plus the admin);
//   2. starts the REAL server as a child process (`npm run build` then
//      `node dist/src/server.js`, or server.ts through ts-node with --server ts) in
//      production mode, with Redis, a Redis key prefix of its own and a rate
//      limit out of reach;
//   3. drives it over real HTTP (keep-alive node:http, `accept-encoding: br,
//      gzip` as a browser sends) with N closed-loop workers spread over U users
//      (U-1 members and one admin): 80 % reads (organization listings with
//      varied filters, searches and offsets, an organization by id, its
//      contacts / interactions / opportunities, a contact or opportunity by id,
//      the dashboard, /users/me) and 20 % writes (log an interaction, create a
//      contact, PATCH an organization with If-Match, create and PATCH (with
//      If-Match) opportunities, create an organization, delete something the
//      worker created). Every request must answer 2xx: any other status, a
//      network error or a timeout (30 s) is a failure. Writes never race: each
//      organization is written by exactly one worker, and a worker deletes only
//      what it created, so no read ever meets a row someone deleted;
//   4. samples the server's memory (GET /api/v1/admin/runtime as the admin,
//      i.e. process.memoryUsage() of the server) every few seconds, and forces
//      a full GC in the server now and then (see "heap rule" below);
//   5. stops the load, sends SIGTERM and expects exit code 0, drops the
//      database and the run's Redis keys, prints a summary and writes
//      bench/results/soak-<timestamp>.json.
//
// Heap rule. heapUsed of a busy Node process saws up and down by tens of MB
// between collections, so two single readings say nothing. We compare heap
// *floors*: the minimum heapUsed over the window right after the warm-up (the
// first minute after it; shorter for short runs) against the minimum over the
// last window of the run (the last minute). Within each window the server is
// also made to run a full, forced GC once (node --expose-gc plus a preload
// that calls gc() on SIGWINCH, a signal close-with-grace does not handle; the
// service's own code is untouched), so each floor is in practice the live heap
// after a full collection: garbage cannot make a floor higher, only retained
// objects can. The run fails when the final floor exceeds the baseline floor
// by more than --max-heap-growth percent (default 10). A forced GC every
// minute in between gives the live-heap series (and its slope, MB/min) that
// the report shows as evidence. RSS is reported, not judged (the allocator
// keeps pages it has freed).
//
// Exit codes: 0 pass, 1 fail (heap growth, a failed request, the server did
// not exit 0, or the harness itself failed), 2 bad arguments.
import { usageExitCode } from '../lib/args'
import { killRunningChildren } from '../lib/child-processes'
import { planHeapRule } from './memory'
import { parseSoakArgs, USAGE, type SoakOptions } from './options'
import type { judgeSoak } from './report'
import type { runSoak } from './run'

async function main (): Promise<number> {
  let opts: SoakOptions
  try {
    opts = parseSoakArgs(process.argv.slice(2))
  } catch (err) {
    return usageExitCode(err, 'soak', USAGE)
  }
  // The harness (pg, the migrator, the seed, fast-jwt) loads only now, once
  // the arguments are valid: a bad command line is answered at once.

  const { runSoak: run } = require('./run') as { runSoak: typeof runSoak }
  const { judgeSoak: judge } = require('./report') as { judgeSoak: typeof judgeSoak }

  const plan = planHeapRule(opts)
  return judge(opts, plan, await run(opts, plan))
}

main().then((code) => { process.exitCode = code }, (err: unknown) => {
  process.stderr.write(`soak: failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  killRunningChildren()
  process.exitCode = 1
})
