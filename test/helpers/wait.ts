/**
 * Polls `check` until it holds. The deadline only keeps a broken build from
 * hanging the run; it is never an assertion about speed.
 */
export async function until (what: string, check: () => boolean | Promise<boolean>, deadlineMs = 15_000, detail?: () => string): Promise<void> {
  const deadline = Date.now() + deadlineMs
  while (!(await check())) {
    // `detail` says what the awaited thing was doing (a child's output), so a timeout can be diagnosed from the log alone.
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${deadlineMs} ms)${detail === undefined ? '' : `: ${detail()}`}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
