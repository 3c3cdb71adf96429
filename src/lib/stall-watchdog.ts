// Finds a hung PostgreSQL (the process stopped, SIGSTOP, or a host that
// stopped answering while its kernel keeps the TCP connections open) and
// cuts the pool's connections to it, so requests answer 503 within about the
// connect timeout instead of waiting for the query timeout.
//
// Nothing on an open connection can tell a hung server from a slow query, so
// the watchdog asks a question only a live server answers: when queries are
// in flight and none has completed for STALL_MS, it opens a connection of its
// own (outside the pool, so a pool exhausted by slow queries is no false
// alarm) and runs SELECT 1, with the connect timeout as its deadline. A live
// server answers and nothing happens (a slow query stays slow). Past the
// deadline the server counts as hung: every connection of the pool is
// destroyed (their queries fail at once: 503), and until a probe is answered
// again (the watchdog keeps probing, one at a time) checkouts fail at once
// too, rather than each waiting for the connect timeout on a server known
// not to answer (a request may need several in turn). TCP keepalive (set on
// the pool) covers the other half: a peer gone entirely, which the kernel
// then notices by itself.
import pg from 'pg'

/** How long no query may complete, while some are in flight, before the server is probed. */
export const STALL_MS = 250

export interface StallWatchdogOptions {
  connectionString: string
  ssl: pg.ClientConfig['ssl']
  /** The probe's deadline (about the pool's connect timeout). */
  deadlineMs: number
  /** Destroys every connection of the pool (the server does not answer). */
  onHung: () => void
  /** A probe is answered again after onHung. */
  onRecovered?: (hungMs: number) => void
  onProbeError?: (err: unknown) => void
}

export class StallWatchdog {
  private readonly started = new Map<number, number>()
  private nextId = 0
  private lastProgress = Date.now()
  private probing = false
  private hungSince: number | undefined
  private readonly timer: NodeJS.Timeout

  constructor (private readonly options: StallWatchdogOptions) {
    this.timer = setInterval(() => this.tick(), STALL_MS / 2)
    this.timer.unref()
  }

  /** A query was sent; call the returned function when it ends, however it ends. */
  begin (): () => void {
    const id = this.nextId++
    this.started.set(id, Date.now())
    return () => {
      if (this.started.delete(id)) this.lastProgress = Date.now()
    }
  }

  /** True from a probe that got no answer until one that does. */
  hung (): boolean {
    return this.hungSince !== undefined
  }

  stop (): void {
    clearInterval(this.timer)
  }

  private tick (): void {
    if (this.probing) return
    if (this.hungSince !== undefined) {
      this.probing = true
      void this.probe().finally(() => { this.probing = false })
      return
    }
    if (this.started.size === 0) return
    const now = Date.now()
    let oldest = now
    for (const at of this.started.values()) oldest = Math.min(oldest, at)
    if (now - Math.max(oldest, this.lastProgress) < STALL_MS) return
    this.probing = true
    void this.probe().finally(() => { this.probing = false })
  }

  /** True when the server answered SELECT 1 on a new connection within the deadline. */
  private async probe (): Promise<void> {
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      ssl: this.options.ssl,
      connectionTimeoutMillis: this.options.deadlineMs,
      application_name: 'crm-service watchdog'
    })
    client.on('error', () => {}) // reported through the promise below
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<'expired'>((resolve) => { timer = setTimeout(() => resolve('expired'), this.options.deadlineMs) })
    const answered = (async () => {
      await client.connect()
      await client.query('SELECT 1')
      return 'answered' as const
    })()
    try {
      const outcome = await Promise.race([answered, expired])
      if (outcome === 'answered') {
        this.lastProgress = Date.now() // alive: whatever runs is merely slow
        if (this.hungSince !== undefined) this.options.onRecovered?.(Date.now() - this.hungSince)
        this.hungSince = undefined
        return
      }
      if (this.hungSince === undefined) {
        this.hungSince = Date.now()
        this.options.onHung()
      }
      this.lastProgress = Date.now()
    } catch (err) {
      // The server said no (refused, too many connections, shutting down):
      // it is not hung, and the pool's own errors already tell the requests.
      this.options.onProbeError?.(err)
      this.hungSince = undefined
      this.lastProgress = Date.now()
    } finally {
      clearTimeout(timer)
      answered.catch(() => {})
      destroy(client)
    }
  }
}

/** Closes a pg client's socket at once: its pending query fails with "Connection terminated". */
export function destroy (client: pg.Client | pg.PoolClient): void {
  const stream = (client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream
  stream?.destroy?.()
}

type ConnectCallback = (err: Error | undefined, client?: pg.PoolClient, release?: (err?: Error | boolean) => void) => void

/**
 * One deadline for the whole checkout. pg-pool's connectionTimeoutMillis
 * restarts when a queued request is handed a new connection attempt (a slot
 * freed by a dead connection), so a checkout could take twice the connect
 * timeout; this bounds waiting in the queue plus connecting. pool.query goes
 * through pool.connect, so Prisma's queries and transactions are covered. A
 * connection that arrives after the deadline goes back to the pool. While
 * `refuse()` (the watchdog found the server hung), it fails at once.
 */
export function boundCheckout (pool: pg.Pool, deadlineMs: number, refuse: () => boolean): void {
  const connect = pool.connect.bind(pool) as (cb: ConnectCallback) => void
  const bounded = (cb?: ConnectCallback): Promise<pg.PoolClient> | undefined => {
    const promise = new Promise<pg.PoolClient>((resolve, reject) => {
      if (refuse()) {
        reject(new Error('timeout exceeded when trying to connect (the database did not answer the last probe)'))
        return
      }
      let settled = false
      const timer = setTimeout(() => {
        settled = true
        // pg-pool's own wording, which the error handler answers with 503.
        reject(new Error('timeout exceeded when trying to connect'))
      }, deadlineMs)
      connect((err, client) => {
        if (settled) {
          client?.release()
          return
        }
        settled = true
        clearTimeout(timer)
        if (err !== undefined && err !== null) reject(err)
        else resolve(client!)
      })
    })
    if (cb === undefined) return promise
    promise.then((client) => cb(undefined, client, client.release.bind(client)), (err: Error) => cb(err))
    return undefined
  }
  ;(pool as unknown as { connect: typeof bounded }).connect = bounded
}
