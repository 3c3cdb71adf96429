import fp from 'fastify-plugin'
import helmet from '@fastify/helmet'

/**
 * Headers every response carries (contract §2): helmet's security headers
 * (X-Content-Type-Options: nosniff, X-Frame-Options: DENY, …), the request
 * id (echoed or generated) and X-Response-Time in milliseconds.
 */
export default fp(async (app) => {
  await app.register(helmet, {
    frameguard: { action: 'deny' },
    // A JSON API: no HTML of ours needs a policy, and Swagger UI (/docs) needs inline scripts.
    contentSecurityPolicy: false
  })
  app.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', request.id)
    void reply.header('x-response-time', reply.elapsedTime.toFixed(2))
  })
}, { name: 'response-headers' })
