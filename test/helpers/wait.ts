/**
 * Polls `check` until it holds. The deadline only keeps a broken build from
 * hanging the run; it is never an assertion about speed.
 */
export async function until (what: string, check: () => boolean | Promise<boolean>, deadlineMs = 15_000): Promise<void> {
  const deadline = Date.now() + deadlineMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
