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
// deadline every connection of the pool is destroyed: their queries fail at
// once (503), new ones need a new connection, which the pool's own connect
// timeout bounds, and once the server answers again the pool simply connects
// anew. TCP keepalive (set on the pool) covers the other half: a peer that is
// gone entirely, where no probe would be needed if the kernel noticed.
import pg from 'pg'

/** How long no query may complete, while some are in flight, before the server is probed. */
export const STALL_MS = 250

export interface StallWatchdogOptions {
  connectionString: string
  ssl: pg.ClientConfig['ssl']
  /** The probe's deadline: the pool's connect timeout. */
  deadlineMs: number
  /** Destroys every connection of the pool (the server does not answer). */
  onHung: () => void
  onProbeError?: (err: unknown) => void
}

export class StallWatchdog {
  private readonly started = new Map<number, number>()
  private nextId = 0
  private lastProgress = Date.now()
  private probing = false
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

  stop (): void {
    clearInterval(this.timer)
  }

  private tick (): void {
    if (this.probing || this.started.size === 0) return
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
        return
      }
      this.options.onHung()
      this.lastProgress = Date.now()
    } catch (err) {
      // The server said no (refused, too many connections, shutting down):
      // it is not hung, and the pool's own errors already tell the requests.
      this.options.onProbeError?.(err)
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
