// The HTTP ceiling of the benchmark (started by scripts/bench/main.ts): a bare
// Fastify app — no plugins, no logger, no hooks — with one GET route that
// answers a precomputed JSON body (the exact bytes of scenario (a)'s answer),
// uncompressed. Whatever the service does beyond this is what it costs.
//
// Usage: ceiling-server.ts PORT BODY_FILE; prints `LISTENING <port>` when ready.
import { readFileSync } from 'node:fs'
import Fastify from 'fastify'

const CEILING_PATH = '/ceiling'

async function main (): Promise<void> {
  const port = Number(process.argv[2])
  const body = readFileSync(process.argv[3] ?? '')
  const app = Fastify({ logger: false })
  app.get(CEILING_PATH, async (_request, reply) => await reply.type('application/json; charset=utf-8').send(body))
  await app.listen({ port, host: '127.0.0.1' })
  process.stdout.write(`LISTENING ${port}\n`)
  const stop = (): void => { app.close().then(() => process.exit(0), () => process.exit(1)) }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

main().catch((err: unknown) => {
  process.stderr.write(`bench ceiling-server: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
