// GET /admin/runtime: pool, memory, cache and load-shedding statistics.
import { Type, type Static } from 'typebox'

const Memory = Type.Object({
  rss: Type.Number(), heapTotal: Type.Number(), heapUsed: Type.Number(), external: Type.Number(), arrayBuffers: Type.Number()
})
const MemorySample = Type.Object({ at: Type.String({ format: 'date-time' }), ...Memory.properties })

export const Runtime = Type.Object({
  db: Type.Object({
    totalConnections: Type.Integer(),
    idleConnections: Type.Integer(),
    waitingClients: Type.Integer(),
    queryCount: Type.Integer(),
    averageQueryTime: Type.Number({ description: 'ms' }),
    errorCount: Type.Integer()
  }),
  memory: Type.Object({
    current: MemorySample,
    average: Type.Optional(Memory),
    history: Type.Array(MemorySample, { description: 'oldest first' }),
    heapLimit: Type.Number(),
    heapUsedRatio: Type.Number(),
    warnings: Type.Integer({ description: 'samples above MEMORY_WARN_RATIO of the heap limit' }),
    sampleIntervalMs: Type.Integer()
  }),
  cache: Type.Object({
    backend: Type.Enum(['redis', 'memory']),
    status: Type.Enum(['up', 'down']),
    hits: Type.Integer(),
    misses: Type.Integer(),
    bypasses: Type.Integer({ description: 'answered from the database because the cache was unreachable' }),
    errors: Type.Integer(),
    coalesced: Type.Integer({ description: 'misses that shared a concurrent identical miss\'s query (single flight)' }),
    compressions: Type.Integer({ description: 'bodies the cache compressed (br or gzip, once per entry and coding; hits send the stored bytes)' }),
    inFlight: Type.Integer(),
    local: Type.Optional(Type.Object({
      entries: Type.Integer(),
      bytes: Type.Integer(),
      maxBytes: Type.Integer({ description: 'CACHE_LOCAL_MAX_BYTES' }),
      served: Type.Integer({ description: 'hits answered from this instance\'s copy of the entry (Redis confirmed it current and sent no bytes)' })
    }, { description: 'in-process copies of Redis entries (absent without Redis or with CACHE_LOCAL_MAX_BYTES=0)' }))
  }),
  pools: Type.Object({
    database: Type.Object({ size: Type.Integer(), min: Type.Integer(), connectTimeoutMs: Type.Integer(), idleTimeoutMs: Type.Integer() }),
    callerCache: Type.Object({ size: Type.Integer(), max: Type.Integer(), ttlMs: Type.Integer() })
  }),
  pressure: Type.Object({
    underPressure: Type.Boolean(),
    eventLoopDelay: Type.Optional(Type.Number({ description: 'ms, mean over the last sample interval; absent before the first sample' })),
    heapUsed: Type.Number(),
    rssBytes: Type.Number()
  }),
  process: Type.Object({ pid: Type.Integer(), uptimeSeconds: Type.Number(), node: Type.String() })
})
export type Runtime = Static<typeof Runtime>
