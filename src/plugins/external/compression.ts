import zlib from 'node:zlib'
import fp from 'fastify-plugin'
import compress from '@fastify/compress'

/**
 * Responses over 1 KiB compressed with br or gzip per Accept-Encoding;
 * `x-no-compression` on the request turns it off (the seed's opt-out,
 * honoured by @fastify/compress itself). Levels favour speed: brotli 4 and
 * gzip 5 get most of the size reduction of the defaults (11 and 6) for a
 * fraction of the CPU on JSON.
 */
export default fp(async (app) => {
  await app.register(compress, {
    global: true,
    threshold: 1024,
    encodings: ['br', 'gzip'],
    brotliOptions: { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } },
    zlibOptions: { level: 5 }
  })
}, { name: 'compression' })
