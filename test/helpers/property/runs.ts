// How many fast-check runs each property makes, and the seed that replays a
// reported failure. PROPERTY_RUNS_SCALE=10 for a deeper hunt (at least 0.1;
// default 1, which keeps each property file to about 5–15 s on two shared
// cores); PROPERTY_SEED=<seed> replays a run that fast-check reported
// (it prints the seed and the shrunk counterexample of a failure).

/** Spread into fc.assert's parameters: `{ seed }` when PROPERTY_SEED is set, else nothing. */
export const SEED = process.env.PROPERTY_SEED === undefined ? {} : { seed: Number(process.env.PROPERTY_SEED) }
const SCALE = Math.max(Number(process.env.PROPERTY_RUNS_SCALE ?? 1) || 1, 0.1)
/** Runs per property: the defaults times PROPERTY_RUNS_SCALE, rounded up. */
export const NUM_RUNS = Object.fromEntries(Object.entries({ poisoned: 500, chaosReads: 400, chaosWrites: 300, model: 30, counters: 25 }).map(([k, v]) => [k, Math.ceil(v * SCALE)])) as Record<'poisoned' | 'chaosReads' | 'chaosWrites' | 'model' | 'counters', number>
