// The V8 flags the service runs with, wherever it is started: npm start
// (scripts/start.js), the bench and the soak (scripts/lib/service.ts); the
// Dockerfile's CMD repeats them.
//
// --max-semi-space-size=32 (MiB; Node 20's default is 16): a request
// allocates many short-lived objects (request, reply, promises, headers,
// Redis replies) and at 15,000 cached reads a second the young generation
// filled so often that scavenges took a tenth of the CPU. A larger one is
// collected less often for the same survivors: measured on (d), 10 µs less
// CPU per hit and about 8 % more hits per second, for at most ~100 MB more
// of young generation.
'use strict'

module.exports = ['--max-semi-space-size=32']
