import fp from 'fastify-plugin'

/**
 * Graceful drain on close. server.close() stops accepting but waits for
 * every open socket, and a keep-alive socket whose request was in flight
 * stays open after its answer (keepAliveTimeout is 72 s), so the process
 * would hit SHUTDOWN_GRACE_MS and exit 1. Once closing starts, answers say
 * `Connection: close`, and sockets that fall idle are closed every 50 ms.
 */
export default fp(async (app) => {
  let sweeper: NodeJS.Timeout | undefined
  app.addHook('preClose', async () => {
    sweeper = setInterval(() => app.server.closeIdleConnections(), 50)
    sweeper.unref()
  })
  // Callback style: it waits for nothing, so no promise per answer.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (sweeper !== undefined) void reply.header('connection', 'close')
    done(null, payload)
  })
  app.addHook('onClose', async () => { clearInterval(sweeper) })
}, { name: 'drain' })
