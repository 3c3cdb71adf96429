// Read replica routing (contract §8): which database a GET reads from.
//
// - WAL positions (LSNs) are handled as numbers: an LSN "X/Y" is the 64-bit
//   byte position X·2^32 + Y, below 2^53 for any cluster that has written
//   less than 8 PiB of WAL, so doubles (and Redis' Lua numbers) hold it exactly.
// - WriteLsnStore keeps, per cache generation (u:<user>, all, dash), the
//   primary's WAL insert position just after the last write that bumped it:
//   in Redis (shared by every instance) or in process without REDIS_URL.
// - ReplicaProbe polls the replica's replay position and the primary's
//   insert position every PROBE_INTERVAL_MS and derives the lag, so a read
//   decides from memory whether the replica is usable.
// The plugin (plugins/external/read-replica.ts) ties them to the request path;
// the design and its guarantees: docs/read-replica.md.
import { RedisKeys, type RedisClient } from './redis-keys'
import { LRUCache } from 'lru-cache'
import pg from 'pg'

export type ReplicaStatus = 'up' | 'lagging' | 'down' | 'off'

/** How often the probe asks the replica (and the primary) where they are. */
export const PROBE_INTERVAL_MS = 250
/** A probe query that takes longer than this marks the replica down (a hung server). */
export const PROBE_TIMEOUT_MS = 1000

/** "16/B374D848" → 0x16B374D848. */
export function parseLsn (text: string): number {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text)
  if (match === null) throw new Error(`not an LSN: ${text}`)
  return parseInt(match[1]!, 16) * 2 ** 32 + parseInt(match[2]!, 16)
}

/**
 * The primary's WAL insert position. Read after a write has committed, it is
 * at or past the end of that write's commit record, whatever
 * synchronous_commit says (pg_current_wal_lsn(), the write position, may still
 * be behind an asynchronous commit); a replica that replayed up to it has the write.
 */
export const INSERT_LSN_SQL = 'SELECT pg_current_wal_insert_lsn()::text AS lsn'

const WAL_PAGE = 8192
const WAL_SEGMENT = 16 * 1024 * 1024
/**
 * The end of the last record inserted, from the insert position: when that
 * sits right after a page header (24 bytes, 40 at a segment's start), the last
 * record ended at the page boundary, which is where a replica's replay
 * position stops. Without this, a replica of an idle primary would look
 * behind by one header until the next WAL record.
 */
export function lastRecordEnd (insertLsn: number): number {
  if (insertLsn % WAL_SEGMENT === 40) return insertLsn - 40
  if (insertLsn % WAL_PAGE === 24) return insertLsn - 24
  return insertLsn
}
const REPLAY_SQL = 'SELECT pg_is_in_recovery() AS recovery, pg_last_wal_replay_lsn()::text AS replay'
const REPLAY_ONLY_SQL = 'SELECT pg_last_wal_replay_lsn()::text AS replay'

/** Where each cache generation's last write ended in the WAL; 0 when unknown (none recently). */
export interface WriteLsnStore {
  get (generation: string): Promise<number>
  /** Raises each generation's position to `lsn` (never lowers it: writes may record out of order). */
  raise (generations: readonly string[], lsn: number): Promise<void>
}

// One key per generation, in the generations' slot (redis-keys.ts), so a
// write's positions are raised in one pipeline on one node. Raises
// only, and refreshes the TTL either way.
const RAISE_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1`

type RaiseCommand = (key: string, lsn: string, ttlMs: string) => Promise<unknown>

export class RedisWriteLsnStore implements WriteLsnStore {
  private readonly keys: RedisKeys
  constructor (private readonly redis: RedisClient, prefix: string, private readonly ttlMs: number) {
    this.keys = new RedisKeys(prefix)
    if (typeof (redis as unknown as { crmRaiseLsn?: unknown }).crmRaiseLsn !== 'function') {
      redis.defineCommand('crmRaiseLsn', { numberOfKeys: 1, lua: RAISE_SCRIPT })
    }
  }

  private key (generation: string): string {
    return this.keys.writeLsn(generation)
  }

  async get (generation: string): Promise<number> {
    const value = await this.redis.get(this.key(generation))
    return value === null ? 0 : Number(value)
  }

  async raise (generations: readonly string[], lsn: number): Promise<void> {
    const pipeline = this.redis.pipeline() as unknown as { crmRaiseLsn: RaiseCommand, exec: () => Promise<Array<[Error | null, unknown]> | null> }
    for (const generation of new Set(generations)) void pipeline.crmRaiseLsn(this.key(generation), String(lsn), String(this.ttlMs))
    const results = await pipeline.exec()
    const failed = results?.find(([err]) => err !== null)?.[0]
    if (failed != null) throw failed
  }
}

/** One instance only (no REDIS_URL), like the in-process response cache. */
export class MemoryWriteLsnStore implements WriteLsnStore {
  private readonly positions: LRUCache<string, number>
  constructor (ttlMs: number) {
    this.positions = new LRUCache({ max: 100_000, ttl: ttlMs })
  }

  async get (generation: string): Promise<number> {
    return this.positions.get(generation) ?? 0
  }

  async raise (generations: readonly string[], lsn: number): Promise<void> {
    for (const generation of generations) {
      if ((this.positions.get(generation) ?? 0) < lsn) this.positions.set(generation, lsn)
    }
  }
}

export interface ProbeLogger { warn (obj: object, msg: string): void, info (obj: object, msg: string): void }

/**
 * The replica's state, from its own answers and the primary's: replay
 * position, and lag = how long ago the primary was at a position the
 * replica has not replayed yet (0 when it has replayed everything the
 * primary had at the previous sample). A paused or disconnected replica thus
 * lags by the age of the oldest write it misses, even if it does not know of it.
 */
export class ReplicaProbe {
  private state: 'up' | 'down' = 'down'
  private replay = 0
  private lagMs = 0
  /** The primary's insert position at each recent sample, oldest first. */
  private samples: Array<{ at: number, lsn: number }> = []
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  /** The fresh look of hasReplayed in flight. */
  private looking: Promise<void> | undefined
  private readonly replicaPool: pg.Pool

  constructor (replicaUrl: string, ssl: false | { rejectUnauthorized: boolean }, private readonly primaryPool: pg.Pool,
    private readonly maxLagMs: number, private readonly logger: ProbeLogger) {
    // A connection of its own, with tight limits: a dead or hung replica is
    // noticed within a second, whatever the reads' pool is doing.
    this.replicaPool = new pg.Pool({
      connectionString: replicaUrl,
      ssl,
      max: 1,
      connectionTimeoutMillis: PROBE_TIMEOUT_MS,
      query_timeout: PROBE_TIMEOUT_MS,
      application_name: 'crm-service-replica-probe',
      keepAlive: true
    })
    this.replicaPool.on('error', () => { this.markDown('connection error') })
  }

  status (): ReplicaStatus {
    if (this.state === 'down') return 'down'
    return this.lagMs > this.maxLagMs ? 'lagging' : 'up'
  }

  /** The replay position of the last successful probe (the replica is at least there). */
  replayLsn (): number {
    return this.replay
  }

  lag (): number {
    return this.lagMs
  }

  /**
   * Whether the replica has replayed `lsn`: at once when the last probe says
   * so, else after one fresh look at its replay position, shared by every
   * read waiting meanwhile. A write is usually replayed within a millisecond,
   * long before the next probe: without this look, every read soon after a
   * write would go to the primary. Never throws (false: read the primary).
   */
  async hasReplayed (lsn: number): Promise<boolean> {
    if (this.replay >= lsn) return true
    if (this.state === 'down') return false
    this.looking ??= this.replicaPool.query<{ replay: string | null }>(REPLAY_ONLY_SQL)
      .then(({ rows }) => { if (rows[0]?.replay != null) this.replay = Math.max(this.replay, parseLsn(rows[0].replay)) }, () => {})
      .finally(() => { this.looking = undefined })
    await this.looking
    return this.replay >= lsn
  }

  /** A read on the replica failed for want of a connection: stop sending reads until the probe succeeds. */
  markDown (reason: string): void {
    if (this.state === 'up') this.logger.warn({ reason }, 'read replica down: reads go to the primary')
    this.state = 'down'
  }

  async start (): Promise<void> {
    await this.tick()
    this.timer = setInterval(() => { void this.tick() }, PROBE_INTERVAL_MS)
    this.timer.unref()
  }

  async stop (): Promise<void> {
    clearInterval(this.timer)
    await this.running
    await this.replicaPool.end()
  }

  private async tick (): Promise<void> {
    if (this.running !== undefined) return
    this.running = this.sample().finally(() => { this.running = undefined })
    await this.running
  }

  private async sample (): Promise<void> {
    const now = Date.now()
    const [primary, replica] = await Promise.allSettled([
      this.primaryPool.query<{ lsn: string }>(INSERT_LSN_SQL),
      this.replicaPool.query<{ recovery: boolean, replay: string | null }>(REPLAY_SQL)
    ])
    if (primary.status === 'fulfilled') {
      this.samples.push({ at: now, lsn: lastRecordEnd(parseLsn(primary.value.rows[0]!.lsn)) })
    }
    if (replica.status === 'rejected') {
      this.markDown((replica.reason as Error).message)
      return
    }
    const row = replica.value.rows[0]!
    if (!row.recovery || row.replay === null) {
      // Promoted (or never a standby): its data may diverge from the primary's.
      this.markDown('not a standby in recovery')
      return
    }
    this.replay = parseLsn(row.replay)
    // Samples the replica has passed are history; the oldest it has not is what it lags behind.
    while (this.samples.length > 0 && this.samples[0]!.lsn <= this.replay) this.samples.shift()
    this.lagMs = this.samples.length === 0 ? 0 : now - this.samples[0]!.at
    // Bounded: a replica paused for an hour keeps one sample per tick otherwise.
    if (this.samples.length > 1000) this.samples.splice(1, this.samples.length - 1000)
    if (this.state === 'down') this.logger.info({ replayLsn: row.replay }, 'read replica up')
    this.state = 'up'
  }
}
