// Content codings (contract §2: br or gzip above 1 KiB, `x-no-compression`
// turns it off), shared by @fastify/compress (plugins/external/compression.ts,
// every answer the cache does not handle) and the response cache, which
// stores each coding's bytes with its entry so a hit compresses nothing.
import zlib from 'node:zlib'
import { Negotiator } from '@fastify/accept-negotiator'
import { LRUCache } from 'lru-cache'
import type { IncomingHttpHeaders } from 'node:http'

export type Coding = 'br' | 'gzip'

/** Bodies smaller than this are sent as they are. */
export const COMPRESSION_THRESHOLD = 1024

/** In preference order (br is smaller at the same speed). */
export const CODINGS: Coding[] = ['br', 'gzip']

// Levels favour speed: brotli 4 and gzip 5 get most of the size reduction of
// the defaults (11 and 6) for a fraction of the CPU on JSON.
export const BROTLI_OPTIONS: zlib.BrotliOptions = { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } }
export const GZIP_OPTIONS: zlib.ZlibOptions = { level: 5 }

// Clients send a handful of distinct Accept-Encoding values: each is parsed
// once. Bounded, so arbitrary headers cannot grow it.
const negotiated = new LRUCache<string, Coding | 'none'>({ max: 256 })
const negotiator = new Negotiator<Coding>({ supportedValues: CODINGS })
// As @fastify/compress reads the header: `*` and x-gzip count as gzip.
const GZIP_ALIAS = /\*|x-gzip/gu

/** The coding an answer to these request headers gets, or undefined for identity. */
export function negotiateCoding (headers: IncomingHttpHeaders): Coding | undefined {
  const header = headers['accept-encoding']
  if (header === undefined || headers['x-no-compression'] !== undefined) return undefined
  let coding = negotiated.get(header)
  if (coding === undefined) {
    coding = negotiator.negotiate(header.toLowerCase().replace(GZIP_ALIAS, 'gzip')) ?? 'none'
    negotiated.set(header, coding)
  }
  return coding === 'none' ? undefined : coding
}

/**
 * The body in `coding`. zlib's asynchronous calls run on libuv's thread
 * pool, so a large body compressed on a miss never blocks the event loop
 * (the synchronous path @fastify/compress takes for small bodies would).
 */
export async function compressBody (coding: Coding, body: string | Buffer): Promise<Buffer> {
  return await new Promise((resolve, reject) => {
    const done = (err: Error | null, result: Buffer): void => { if (err !== null) reject(err); else resolve(result) }
    if (coding === 'br') zlib.brotliCompress(body, BROTLI_OPTIONS, done)
    else zlib.gzip(body, GZIP_OPTIONS, done)
  })
}
