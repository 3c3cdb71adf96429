import fp from 'fastify-plugin'
import underPressure from '@fastify/under-pressure'

/**
 * Load shedding (@fastify/under-pressure): past the event-loop delay, heap or
 * RSS limits every request answers 503 with Retry-After at once instead of
 * queueing without bound. /ready reports it (503) so a balancer drains this
 * instance; /health and /metrics opt out (route config pressureHandler), so
 * an overloaded process is not restarted for being busy and stays observable.
 */
export default fp(async (app) => {
  const { maxEventLoopDelayMs, maxHeapUsedBytes, maxRssBytes, sampleIntervalMs } = app.config.pressure
  await app.register(underPressure, {
    // 0 turns a check off (under-pressure ignores zero limits).
    maxEventLoopDelay: maxEventLoopDelayMs,
    maxHeapUsedBytes,
    maxRssBytes,
    sampleInterval: sampleIntervalMs,
    retryAfter: 5,
    message: 'The service is overloaded; retry shortly'
  })
}, { name: 'load-shedding', dependencies: ['config'] })
