// Statistics of the bench and the soak: latency percentiles, medians over
// runs, and a seeded PRNG so a run's request mix can be repeated.

export interface LatencyStats {
  count: number
  mean: number
  p50: number
  p90: number
  p99: number
  max: number
}

/** Nearest-rank percentiles of durations in ms (sorts a copy). */
export function latencyStats (values: ArrayLike<number>): LatencyStats {
  const sorted = Float64Array.from(values).sort()
  const n = sorted.length
  if (n === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 }
  const at = (q: number): number => sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!
  let sum = 0
  for (const v of sorted) sum += v
  return { count: n, mean: sum / n, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[n - 1]! }
}

/** Median of numbers (the mean of the middle two for an even count); NaN for none. */
export function median (values: number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (finite.length === 0) return NaN
  const mid = finite.length >> 1
  return finite.length % 2 === 1 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2
}

/** A small deterministic PRNG (mulberry32): the same seed gives the same sequence. */
export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
