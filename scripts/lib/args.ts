// The one command-line parser of the development scripts: node:util
// parseArgs in strict mode (unknown options, missing values and positional
// arguments are errors), plus the value checks the scripts share. Every
// problem is a UsageError whose message names the option, so each script
// answers a bad command line the same way: the reason, its usage, exit 2.
import { parseArgs, type ParseArgsConfig } from 'node:util'

/** A bad command line. The message says what is wrong, naming the option. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** --help (or -h) was given: not an error; the usage is printed and the script exits 0. */
export class HelpRequested extends UsageError {
  constructor () {
    super('')
    this.name = 'HelpRequested'
  }
}

type OptionsConfig = NonNullable<ParseArgsConfig['options']>
type StrictValues<O extends OptionsConfig> = ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: false }>>['values']

/**
 * Parses `argv` against `options` (strict, no positional arguments). Every
 * script also understands --help / -h, which throws HelpRequested.
 */
export function parseOptions<const O extends OptionsConfig> (argv: readonly string[], options: O): StrictValues<O> {
  let values: Record<string, unknown>
  try {
    ({ values } = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }))
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (values.help === true) throw new HelpRequested()
  delete values.help
  return values as StrictValues<O>
}

/**
 * What a script's main does with an error from its argument parser: prints
 * the reason and the usage on stderr and returns the exit code (0 for
 * --help, 2 for a bad command line). Any other error is rethrown.
 */
export function usageExitCode (err: unknown, command: string, usage: string): number {
  if (!(err instanceof UsageError)) throw err
  if (err instanceof HelpRequested) {
    process.stderr.write(`${usage}\n`)
    return 0
  }
  process.stderr.write(`${command}: ${err.message}\n${usage}\n`)
  return 2
}

interface Range { min: number; max: number }

/** A whole number written in decimal digits, within [min, max]. */
export function integer (name: string, value: string, { min, max }: Range): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`)
  }
  return n
}

/** A non-negative decimal such as 10, 0.5 or .5, within [min, max] (or (min, max] with minExclusive). */
export function decimal (name: string, value: string, { min, max, minExclusive = false }: Range & { minExclusive?: boolean }): number {
  const n = /^\d+(\.\d+)?$|^\.\d+$/.test(value) ? Number(value) : NaN
  if (!Number.isFinite(n) || n < min || (minExclusive && n === min) || n > max) {
    const range = minExclusive ? `above ${min} and at most ${max}` : `from ${min} to ${max}`
    throw new UsageError(`--${name} must be a number ${range}, got ${JSON.stringify(value)}`)
  }
  return n
}

/** A calendar date YYYY-MM-DD, as 00:00 UTC of that day. */
export function isoDate (name: string, value: string): Date {
  const date = new Date(`${value}T00:00:00Z`)
  // The round trip rejects impossible days such as 2025-02-30.
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== value) {
    throw new UsageError(`--${name} must be a date YYYY-MM-DD, got ${JSON.stringify(value)}`)
  }
  return date
}

/** One of a fixed set of words. */
export function oneOf<const C extends string> (name: string, value: string, choices: readonly C[]): C {
  if ((choices as readonly string[]).includes(value)) return value as C
  const listed = choices.length === 1 ? choices[0] : `${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}`
  throw new UsageError(`--${name} must be ${listed}, got ${JSON.stringify(value)}`)
}

/** A URL with one of these schemes, e.g. urlWithScheme('redis-url', v, ['redis', 'rediss']). */
export function urlWithScheme (name: string, value: string, schemes: readonly string[]): string {
  if (schemes.some((scheme) => value.startsWith(`${scheme}://`))) return value
  throw new UsageError(`--${name} must be a ${schemes.map((s) => `${s}://`).join(' or ')} URL`)
}
