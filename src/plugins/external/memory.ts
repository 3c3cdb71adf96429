import fp from 'fastify-plugin'
import { MemoryMonitor } from '../../lib/memory-monitor'

declare module 'fastify' {
  interface FastifyInstance {
    memoryMonitor: MemoryMonitor
  }
}

/** The seed's memory manager (lib/memory-monitor.ts): sampled history shown in admin runtime. */
export default fp(async (app) => {
  const monitor = new MemoryMonitor({ ...app.config.memory, warn: (details, message) => app.log.warn(details, message) })
  monitor.take()
  monitor.start()
  app.decorate('memoryMonitor', monitor)
  app.addHook('onClose', async () => monitor.stop())
}, { name: 'memory', dependencies: ['config'] })
