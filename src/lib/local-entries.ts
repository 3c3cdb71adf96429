// In-process copies of Redis cache entries (lib/response-cache.ts), so a hit
// need not carry the entry's bytes back from Redis. A copy is remembered
// with the FULL key it was read under (`<prefix>r:<epoch>:<generation
// value>:<user>:<url>`, plus "\n<coding>" for coded bytes). The lookup script
// is told that key and, when the key it builds from the current epoch and
// generation is the same and Redis still holds that entry, answers "serve
// your copy" instead of the bytes. The key embeds the counters every write
// bumps, so any copy stored under it is as valid as the entry itself under
// the cache protocol (docs/response-cache.md): a write on any instance
// changes the key the next lookup builds and the copy is never used again.
// The rate limit is still counted by the same script, in the same round trip.
import { LRUCache } from 'lru-cache'
import type { Coding } from './compression'
import type { CachedResponse } from './response-cache'

export interface LocalCopy {
  /** The full Redis key the bytes were read under. */
  key: string
  entry: CachedResponse
}

export class LocalEntries {
  private readonly copies: LRUCache<string, LocalCopy>
  /** Hits answered from a copy (admin runtime). */
  served = 0

  /**
   * @param maxBytes bound of the copies' bytes (lru-cache by size), > 0.
   * @param ttlSeconds a copy is dropped after the entry's own TTL, at the latest.
   */
  constructor (maxBytes: number, ttlSeconds: number) {
    this.copies = new LRUCache({
      maxSize: maxBytes,
      // The body dominates; the key and headers are counted too.
      sizeCalculation: (copy, id) => copy.entry.payload.length + copy.key.length + id.length + copy.entry.etag.length + copy.entry.contentType.length + 64,
      ttl: ttlSeconds * 1000
    })
  }

  /** What a lookup asks for: one copy per generation, user + URL and coding, the newest key only. */
  private static id (generation: string, suffix: string, coding: Coding | undefined): string {
    return `${generation}\n${coding ?? ''}\n${suffix}`
  }

  /**
   * The copy held for this lookup, if any: its key goes to the script, and
   * the caller keeps the object, so an eviction during the round trip
   * cannot take away the copy the script approved.
   */
  held (generation: string, suffix: string, coding: Coding | undefined): LocalCopy | undefined {
    return this.copies.get(LocalEntries.id(generation, suffix, coding))
  }

  /** Keeps the bytes a lookup read from Redis under `key` (copied: the reply's buffer may be a slice of a larger one). */
  remember (generation: string, suffix: string, coding: Coding | undefined, key: string, entry: CachedResponse): void {
    const payload = typeof entry.payload === 'string' ? entry.payload : Buffer.from(entry.payload)
    this.copies.set(LocalEntries.id(generation, suffix, coding), { key, entry: { ...entry, payload } })
  }

  stats (): { entries: number, bytes: number, maxBytes: number, served: number } {
    return { entries: this.copies.size, bytes: this.copies.calculatedSize, maxBytes: this.copies.maxSize, served: this.served }
  }
}
