// The current request's logger, reachable from code that has no request in
// hand (the database layer's slow-query lines), so those lines carry the
// request id too. AsyncLocalStorage, entered once per request.
import { AsyncLocalStorage } from 'node:async_hooks'
import fp from 'fastify-plugin'
import type { FastifyBaseLogger } from 'fastify'

const storage = new AsyncLocalStorage<FastifyBaseLogger>()

/** The logger of the request being served, if any. */
export function requestLogger (): FastifyBaseLogger | undefined {
  return storage.getStore()
}

export default fp(async (app) => {
  // Callback style: everything after done() (hooks, handler, serializer) runs inside the store.
  app.addHook('onRequest', (request, _reply, done) => {
    storage.run(request.log, done)
  })
}, { name: 'request-log' })
