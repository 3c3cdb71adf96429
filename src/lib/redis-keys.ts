// Every Redis key of the service, in one place, so that a Redis Cluster
// (REDIS_CLUSTER_NODES) can serve them: a script or pipeline may only touch
// keys of one hash slot, and the slot of a key is that of its hash tag, the
// part between its first `{` and `}` (REDIS_KEY_PREFIX holds no braces).
//
// - `{g}`: the epoch, every cache generation and every generation's write
//   position (read replica). The epoch is read with a generation on every
//   lookup, and one write bumps several generations (and raises their
//   positions) in one pipeline: they must live together. They are small
//   counters; the entries are what a cluster spreads.
// - `{u:<caller id>}`: one caller's entries (every coding) and its rate
//   counter, which a hit's script reads and counts together. Callers spread
//   over the masters.
import type { Cluster, Redis } from 'ioredis'

/** A standalone Redis or a Redis Cluster: the commands the service uses are the same. */
export type RedisClient = Redis | Cluster

export class RedisKeys {
  constructor (readonly prefix: string) {}

  /** Part of every entry's key: one INCR of it makes every entry unreachable, for every instance. */
  epoch (): string {
    return `${this.prefix}{g}epoch`
  }

  /** The counter behind a family of views: `u:<id>`, `all`, `dash`. */
  generation (name: string): string {
    return `${this.prefix}{g}gen:${name}`
  }

  /** Where the last write that bumped `generation` ended in the primary's WAL. */
  writeLsn (generation: string): string {
    return `${this.prefix}{g}lsn:${generation}`
  }

  /** The caller's rate-limit window. */
  rate (callerId: string): string {
    return `${this.prefix}{u:${callerId}}rl`
  }

  /** The caller's entries: this + `<epoch>:<generation value>:<url>`. */
  entryPrefix (callerId: string): string {
    return `${this.prefix}{u:${callerId}}r:`
  }
}
