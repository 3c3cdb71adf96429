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
  app.addHook('onSend', async (_request, reply) => {
    if (sweeper !== undefined) void reply.header('connection', 'close')
  })
  app.addHook('onClose', async () => { clearInterval(sweeper) })
}, { name: 'drain' })
