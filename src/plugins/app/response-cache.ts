// The response cache (contract §4): GET responses per user, in Redis (or in
// process without REDIS_URL), with X-Cache, ETag and 304, read-your-writes
// invalidation and single-flight misses. This plugin builds the cache and
// its hooks once (app.responseCache); the /api/v1 scope adds the hooks
// (routes/api/index.ts), so no code here tests a URL. Storage and the
// invalidation scheme: lib/response-cache.ts.
import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest, onRequestHookHandler, onResponseHookHandler, onSendAsyncHookHandler, preValidationAsyncHookHandler } from 'fastify'
import { compressBody, COMPRESSION_THRESHOLD, negotiateCoding, type Coding } from '../../lib/compression'
import { etagMatches } from '../../lib/etag'
import type { LocalEntries } from '../../lib/local-entries'
import type { RateWindow } from '../../lib/rate-limit'
import { createCacheBackend } from '../../lib/cache-backend'
import { payloadEtag, type CachedResponse, type CacheLookup, type RateQuery } from '../../lib/response-cache'
import type { Change, Written } from '../../services/changes'

/** Route config `cache`: which generation a GET's entries hang on, or false for never cached. */
export type CacheRouteConfig = 'owner' | 'dashboard' | false

declare module 'fastify' {
  interface FastifyContextConfig {
    cache?: CacheRouteConfig
    /** A write that refreshes the dashboard view (invalidates its entries). */
    invalidatesDashboard?: boolean
  }
  interface FastifyRequest {
    /** What the request's write changed (services return it; reply.written records it): invalidated once it answers 2xx. */
    changes: readonly Change[] | null
    cacheState: CacheState | null
  }
  interface FastifyReply {
    /** Records what a service's write changed on this request and returns the write's value. */
    written: <T>(result: Written<T>) => T
  }
  interface FastifyInstance {
    responseCache: {
      backend: 'redis' | 'memory'
      /** Invalidates the views of the given owners, the admins' views, and the dashboard if asked. */
      invalidate (options: { owners?: Iterable<string>, dashboard?: boolean }): Promise<void>
      stats (): CacheStats
      /**
       * For the rate limit (plugins/app/rate-limit.ts): when this request is
       * a GET the Redis cache may answer, one script counts it and reads its
       * entry (kept for preValidation). The window counted; null when that
       * round trip failed (the cache is bypassed, the limit fails open);
       * undefined when the request is not looked up here (count it yourself).
       */
      lookupCounted (request: FastifyRequest, rate: RateQuery & { max: number }): Promise<RateWindow | null | undefined>
      /** For the scope whose GETs are cached and whose writes invalidate (in this order of the request path). */
      hooks: {
        onRequest: onRequestHookHandler
        preValidation: preValidationAsyncHookHandler
        onSend: onSendAsyncHookHandler
        onResponse: onResponseHookHandler
      }
    }
  }
}

interface CacheCounters { hits: number, misses: number, bypasses: number, errors: number, coalesced: number, compressions: number }
interface CacheStats extends CacheCounters { inFlight: number, local?: ReturnType<LocalEntries['stats']> }

interface CacheState {
  outcome: 'HIT' | 'MISS' | 'BYPASS' | 'PENDING'
  /** Answered from the cache or a shared flight: nothing left to do in onSend. */
  served?: boolean
  key?: string
  /** The leader of a single-flight group resolves it with its response (or null). */
  flight?: Flight
  /** Read with the rate limit's count (lookupCounted), for preValidation. */
  lookup?: CacheLookup
}

/** What a miss answered: the identity representation and the coded one it sent, if any. */
interface Answer { entry: CachedResponse, coded?: CachedResponse }

interface Flight {
  promise: Promise<Answer | null>
  resolve: (value: Answer | null) => void
}

/** What cached answers say (set by @fastify/caching on 200s of /api/v1). */
const CACHE_CONTROL = 'private, no-cache'

export default fp(async (app) => {
  const { backend, local } = createCacheBackend(app.config, app.hasRedis ? app.redisClient : undefined)
  const flights = new Map<string, Flight>()
  const stats: CacheCounters = { hits: 0, misses: 0, bypasses: 0, errors: 0, coalesced: 0, compressions: 0 }
  const events = app.metrics.cacheEvents

  const invalidate = async (options: { owners?: Iterable<string>, dashboard?: boolean }): Promise<void> => {
    const generations = ['all', ...[...(options.owners ?? [])].map((id) => `u:${id.toLowerCase()}`)]
    if (options.dashboard === true) generations.push('dash')
    await backend.bump(generations)
  }

  app.decorateRequest('changes', null)
  app.decorateRequest('cacheState', null)
  app.decorateReply('written', function <T> (this: FastifyReply, result: Written<T>): T {
    this.request.changes = result.changes
    return result.value
  })

  const storeFailed = (request: FastifyRequest) => (err: unknown): void => {
    stats.errors++
    events.inc({ event: 'error' })
    request.log.warn({ err: { message: (err as Error).message } }, 'response cache store failed')
  }

  /** The entry in `coding`: compressed now (and stored, not awaited) when it was stored without it. */
  const inCoding = async (request: FastifyRequest, key: string | undefined, entry: CachedResponse, coding: Coding | undefined): Promise<CachedResponse> => {
    if (coding === undefined || entry.coding !== undefined || Buffer.byteLength(entry.payload) < COMPRESSION_THRESHOLD) return entry
    stats.compressions++
    const coded: CachedResponse = { etag: entry.etag, contentType: entry.contentType, payload: await compressBody(coding, entry.payload), coding }
    if (key !== undefined) backend.storeCoded(key, coded).catch(storeFailed(request))
    return coded
  }

  const VARY = 'accept-encoding'

  const sendCached = async (request: FastifyRequest, reply: FastifyReply, answer: Answer, outcome: 'HIT' | 'MISS', key?: string): Promise<FastifyReply> => {
    request.cacheState = { outcome, served: true }
    const { entry } = answer
    void reply.header('x-cache', outcome).header('etag', entry.etag).type(entry.contentType)
    // A 304 repeats the 200's Cache-Control (RFC 9110 §15.4.5); @fastify/caching would say no-store.
    if (etagMatches(request.headers['if-none-match'], entry.etag)) return reply.code(304).header('cache-control', CACHE_CONTROL).send()
    const coding = negotiateCoding(request.headers)
    const sent = answer.coded !== undefined && answer.coded.coding === coding ? answer.coded : await inCoding(request, key, entry, coding)
    // Compression (route level, after this) leaves an answer with a Content-Encoding alone.
    if (sent.coding !== undefined) void reply.header('content-encoding', sent.coding).header('vary', VARY)
    return reply.send(sent.payload)
  }

  const generationOf = (request: FastifyRequest): string | false => {
    const mode = request.routeOptions.config.cache ?? 'owner'
    if (mode === false) return false
    return mode === 'dashboard' ? 'dash' : request.caller.role === 'admin' ? 'all' : `u:${request.caller.id}`
  }

  const lookupFailed = (request: FastifyRequest, err: unknown): void => {
    stats.errors++
    events.inc({ event: 'error' })
    request.log.warn({ err: { message: (err as Error).message } }, 'response cache lookup failed; serving from the database')
    request.cacheState = { outcome: 'BYPASS' }
  }

  const lookupCounted = async (request: FastifyRequest, rate: RateQuery & { max: number }): Promise<RateWindow | null | undefined> => {
    if (backend.name !== 'redis' || request.method !== 'GET' || !backend.usable()) return undefined
    const generation = generationOf(request)
    if (generation === false) return undefined
    const coding = negotiateCoding(request.headers)
    try {
      const lookup = await backend.lookup(generation, request.caller.id, request.url, coding, rate)
      // Past the limit nothing was read: the 429 never reaches the cache.
      if (lookup.rate === undefined || lookup.rate.current <= rate.max) request.cacheState = { outcome: 'PENDING', lookup }
      return lookup.rate
    } catch (err) {
      lookupFailed(request, err)
      return null
    }
  }

  // onRequest and onResponse wait for nothing: callback style, no promise per request.
  const onRequest: onRequestHookHandler = (request, reply, done) => {
    // Write answers are never stored by anyone.
    if (request.method !== 'GET' && request.method !== 'HEAD') void reply.header('cache-control', 'no-store')
    done()
  }

  // After authentication and the rate limit, before validation: a hit skips everything else.
  const preValidation: preValidationAsyncHookHandler = async (request, reply) => {
    if (request.method !== 'GET' || request.caller == null) return
    const generation = generationOf(request)
    if (generation === false) {
      void reply.header('cache-control', 'no-store')
      return
    }
    const state = request.cacheState
    if (state?.outcome === 'BYPASS') return // the counted lookup failed
    let lookup = state?.lookup
    if (lookup === undefined) {
      if (!backend.usable()) {
        request.cacheState = { outcome: 'BYPASS' }
        return
      }
      try {
        lookup = await backend.lookup(generation, request.caller.id, request.url, negotiateCoding(request.headers))
      } catch (err) {
        lookupFailed(request, err)
        return
      }
    }
    if (lookup.entry !== undefined) {
      stats.hits++
      events.inc({ event: 'hit' })
      return await sendCached(request, reply, { entry: lookup.entry }, 'HIT', lookup.key)
    }
    stats.misses++
    events.inc({ event: 'miss' })
    // Single flight: concurrent misses of one key in this process share the first one's query.
    const leader = flights.get(lookup.key)
    if (leader !== undefined) {
      const shared = await leader.promise
      if (shared !== null) {
        stats.coalesced++
        return await sendCached(request, reply, shared, 'MISS', lookup.key)
      }
      request.cacheState = { outcome: 'MISS' } // the leader failed: answer on our own, store nothing
      return
    }
    let resolve!: (value: Answer | null) => void
    const flight: Flight = { promise: new Promise((_resolve) => { resolve = _resolve }), resolve }
    flights.set(lookup.key, flight)
    request.cacheState = { outcome: 'MISS', key: lookup.key, flight }
  }

  const finishFlight = (state: CacheState, entry: Answer | null): void => {
    if (state.flight === undefined || state.key === undefined) return
    if (flights.get(state.key) === state.flight) flights.delete(state.key)
    state.flight.resolve(entry)
    state.flight = undefined
  }

  const onSend: onSendAsyncHookHandler = async (request, reply, payload) => {
    const state = request.cacheState
    // PENDING: refused (403) between the counted lookup and preValidation.
    if (request.method === 'GET' && state !== null && state.outcome !== 'PENDING') {
      if (state.served === true) return payload
      void reply.header('x-cache', state.outcome)
      if (state.outcome === 'BYPASS') {
        stats.bypasses++
        events.inc({ event: 'bypass' })
      }
      if (reply.statusCode !== 200 || typeof payload !== 'string') {
        finishFlight(state, null)
        return payload
      }
      const etag = (reply.getHeader('etag') as string | undefined) ?? payloadEtag(payload)
      const entry: CachedResponse = { etag, contentType: String(reply.getHeader('content-type') ?? 'application/json; charset=utf-8'), payload }
      void reply.header('etag', etag)
      if (etagMatches(request.headers['if-none-match'], etag)) {
        if (state.key !== undefined) {
          finishFlight(state, { entry })
          backend.store(state.key, entry).catch(storeFailed(request))
        }
        void reply.code(304).header('cache-control', CACHE_CONTROL)
        return ''
      }
      // Encoded here, once, and stored with the entry: hits send these bytes.
      let sent: CachedResponse
      try {
        sent = await inCoding(request, undefined, entry, negotiateCoding(request.headers))
      } catch (err) {
        finishFlight(state, null)
        throw err
      }
      const coded = sent.coding === undefined ? undefined : sent
      if (state.key !== undefined) {
        finishFlight(state, { entry, coded })
        // Not awaited: storing never delays the answer.
        backend.store(state.key, entry, coded).catch(storeFailed(request))
      }
      if (coded === undefined) return payload
      void reply.header('content-encoding', coded.coding).header('vary', VARY)
      return coded.payload
    }
    if (request.method !== 'GET' && request.method !== 'HEAD' && reply.statusCode >= 200 && reply.statusCode < 300) {
      // Read-your-writes: the answer leaves only after the invalidation is recorded.
      try {
        const owners = (request.changes ?? []).flatMap((change) => change.owners)
        await invalidate({ owners, dashboard: request.routeOptions.config.invalidatesDashboard === true })
      } catch (err) {
        stats.errors++
        events.inc({ event: 'error' })
        // The backend now empties the whole cache (epoch) before its next use.
        request.log.warn({ err: { message: (err as Error).message } }, 'cache invalidation failed; the cache will be reset when Redis answers')
      }
    }
    return payload
  }

  // A leader that never reached onSend (aborted) must not leave followers waiting.
  const onResponse: onResponseHookHandler = (request, _reply, done) => {
    if (request.cacheState !== null) finishFlight(request.cacheState, null)
    done()
  }

  app.decorate('responseCache', {
    backend: backend.name,
    invalidate,
    stats: () => ({ ...stats, inFlight: flights.size, ...(local === undefined ? {} : { local: local.stats() }) }),
    lookupCounted,
    hooks: { onRequest, preValidation, onSend, onResponse }
  })
}, { name: 'response-cache', dependencies: ['config', 'redis', 'metrics'] })
