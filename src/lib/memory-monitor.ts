// The seed's MemoryManager, kept: a memory sample every interval, the last N
// kept, a warning when the heap passes a share of its limit. Two fixes: the
// share is of V8's heap *limit* (the seed divided by heapTotal, which V8 keeps
// just above heapUsed, so it warned all the time), and no forced GC.
import v8 from 'node:v8'

export interface MemorySample {
  at: string
  rss: number
  heapTotal: number
  heapUsed: number
  external: number
  arrayBuffers: number
}

export interface MemoryStats {
  current: MemorySample
  /** Mean of the kept samples (absent before the first one). */
  average?: Omit<MemorySample, 'at'>
  /** Oldest first. */
  history: MemorySample[]
  heapLimit: number
  /** heapUsed / heapLimit of the current sample. */
  heapUsedRatio: number
  warnings: number
  sampleIntervalMs: number
}

export interface MemoryMonitorOptions {
  sampleIntervalMs: number
  historySize: number
  warnRatio: number
  warn: (details: object, message: string) => void
}

function sample (): MemorySample {
  const m = process.memoryUsage()
  return { at: new Date().toISOString(), rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers }
}

export class MemoryMonitor {
  private readonly history: MemorySample[] = []
  private timer: NodeJS.Timeout | undefined
  private warnings = 0
  private readonly heapLimit = v8.getHeapStatistics().heap_size_limit

  constructor (private readonly options: MemoryMonitorOptions) {}

  start (): void {
    if (this.timer !== undefined) return
    this.timer = setInterval(() => this.take(), this.options.sampleIntervalMs)
    // Never keeps the process alive on its own.
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** Records one sample now (the timer calls this). */
  take (): MemorySample {
    const current = sample()
    this.history.push(current)
    if (this.history.length > this.options.historySize) this.history.shift()
    const ratio = current.heapUsed / this.heapLimit
    if (ratio > this.options.warnRatio) {
      this.warnings++
      this.options.warn({ heapUsed: current.heapUsed, heapLimit: this.heapLimit, ratio: Number(ratio.toFixed(3)) }, 'high memory usage')
    }
    return current
  }

  stats (): MemoryStats {
    const current = sample()
    const count = this.history.length
    let average: MemoryStats['average']
    if (count > 0) {
      const sum = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }
      for (const s of this.history) {
        sum.rss += s.rss; sum.heapTotal += s.heapTotal; sum.heapUsed += s.heapUsed; sum.external += s.external; sum.arrayBuffers += s.arrayBuffers
      }
      average = {
        rss: sum.rss / count,
        heapTotal: sum.heapTotal / count,
        heapUsed: sum.heapUsed / count,
        external: sum.external / count,
        arrayBuffers: sum.arrayBuffers / count
      }
    }
    return {
      current,
      average,
      history: [...this.history],
      heapLimit: this.heapLimit,
      heapUsedRatio: current.heapUsed / this.heapLimit,
      warnings: this.warnings,
      sampleIntervalMs: this.options.sampleIntervalMs
    }
  }
}
