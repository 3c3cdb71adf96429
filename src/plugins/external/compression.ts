import fp from 'fastify-plugin'
import compress from '@fastify/compress'
import { BROTLI_OPTIONS, CODINGS, COMPRESSION_THRESHOLD, GZIP_OPTIONS } from '../../lib/compression'

/**
 * Responses over 1 KiB compressed with br or gzip per Accept-Encoding;
 * `x-no-compression` on the request turns it off (the seed's opt-out,
 * honoured by @fastify/compress itself). Cached GETs arrive here already
 * encoded (the response cache stores each coding's bytes, lib/compression.ts
 * holds the shared settings): @fastify/compress leaves an answer that has a
 * Content-Encoding alone.
 */
export default fp(async (app) => {
  await app.register(compress, {
    global: true,
    threshold: COMPRESSION_THRESHOLD,
    encodings: CODINGS,
    brotliOptions: BROTLI_OPTIONS,
    zlibOptions: GZIP_OPTIONS
  })
}, { name: 'compression' })
