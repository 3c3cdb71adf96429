// The Node.js flags the service runs with, wherever it is started: npm start
// (scripts/start.js), the bench and the soak (scripts/lib/service.ts); the
// Dockerfile's CMD repeats `all` (its Node.js is the supported LTS).
//
// --max-semi-space-size=32 (MiB; Node 20's default is 16): a request
// allocates many short-lived objects (request, reply, promises, headers,
// Redis replies) and at 15,000 cached reads a second the young generation
// filled so often that scavenges took a tenth of the CPU. A larger one is
// collected less often for the same survivors: measured on (d), 10 µs less
// CPU per hit and about 8 % more hits per second, for at most ~100 MB more
// of young generation.
//
// --experimental-async-context-frame (Node 22; the default from Node 24):
// AsyncLocalStorage (the request's logger, the read replica's routing)
// without async_hooks' promise hooks, which ran on every promise of every
// request: 6.6 % of the service's time in a profile of cached reads. In an
// interleaved A/B on Node 22 the service spent 8-25 % less CPU per hit and
// served 5-30 % more hits (docs/benchmarks.md). The same semantics for how
// this service uses it (store entered in onRequest, read in the same
// request's continuations); the replica and request-log tests pass under it.
'use strict'

const all = ['--max-semi-space-size=32', '--experimental-async-context-frame']

module.exports = {
  all,
  /** The flags this Node.js accepts (an older or newer one may lack the experimental one). */
  supported: all.filter((flag) => process.allowedNodeEnvironmentFlags.has(flag.split('=')[0]))
}
