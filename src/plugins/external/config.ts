import fp from 'fastify-plugin'
import type { AppConfig } from '../../lib/config'

declare module 'fastify' {
  interface FastifyInstance {
    config: AppConfig
  }
}

/** Shares the validated configuration with every plugin and route. */
export default fp<{ config: AppConfig }>(async (app, opts) => {
  app.decorate('config', opts.config)
}, { name: 'config' })
