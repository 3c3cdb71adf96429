// Values that are adversarial but valid: strings the API must store exactly as
// sent (SQL and LIKE metacharacters, unicode edge cases: RTL, zero-width,
// combining marks, emoji; control characters; prototype-pollution words;
// numbers past 2^53 as text), emails from a small pool so that
// case-insensitive clashes happen, numbers up to 2^53, money and calendar
// dates at their limits, and the valid bodies of every write route built
// from them.
import fc from 'fast-check'
import { STAGES } from '../../../src/schemas/opportunities'

const PIECES = [
  "'", "''", '"', '%', '_', '\\', '\\\\', '--', '/*', '*/', ';', "' OR '1'='1", "'; DROP TABLE organizations; --",
  '%_', '\\%', '\\_', '%%', '[a-z]', '.*', '$1', '$' + '{x}', '{{x}}', '<script>', '&amp;',
  '\u202e', '\u200f', '\u200e', '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad', 'e\u0301', '\u0301',
  '😀', '👩‍💻', '🇫🇷', '👍🏽', '𝕏', 'עברית', 'العربية', '日本語', 'İ', 'ı', 'ß', 'ﬃ', 'Ω', 'K',
  '\t', '\n', '\r\n', ' ', '\u00a0', '\u2028', '\u0001', '\u007f', '\u0085',
  '__proto__', 'constructor', 'prototype', 'null', 'undefined', 'NaN', '-1', '9007199254740993', '1e309',
  'a', 'Z', '0', 'Acme', 'o\'brien', '100%', 'a_b'
]

const isWellFormed = (s: string): boolean => !/[\uD800-\uDFFF]/u.test(s)
export const codePoints = (s: string): number => [...s].length
const cut = (s: string, max: number): string => codePoints(s) > max ? [...s].slice(0, max).join('') : s

const piece = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...PIECES) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 8 }) }
)

/** Strings the API must store as sent: 1..max code points, no NUL, well-formed UTF-16. */
export function text (max: number, min = 1): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 12, arbitrary: fc.array(piece, { minLength: 1, maxLength: 10 }).map((parts) => cut(parts.join(''), max)) },
    { weight: 1, arbitrary: fc.constantFrom('x', '😀', '%', 'ß').map((c) => c.repeat(max)) }
  ).filter((s) => codePoints(s) >= min && !s.includes('\u0000') && isWellFormed(s))
}

/** Emails the format accepts, with SQL/LIKE metacharacters, from a small pool so that case-insensitive clashes happen. */
const email = fc.tuple(
  fc.constantFrom("o'brien", '100%', 'a_b', 'x--y', 'dup', 'Dup', 'q+tag', 'a.b', "'--", '_%_', 'DROP'),
  fc.stringMatching(/^[a-z0-9]{0,2}$/),
  fc.constantFrom('example.test', 'EXAMPLE.test', 'x-y.io')
).map(([local, suffix, domain]) => `${local}${suffix}@${domain}`)

const nullable = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.option(arb, { nil: null, freq: 4 })
export const priority = fc.constantFrom('A', 'B', 'C', 'D')
export const stage = fc.constantFrom(...STAGES)
const interactionType = fc.constantFrom('call', 'email', 'meeting', 'note')
const revenue = fc.oneof(fc.constantFrom(0, Number.MAX_SAFE_INTEGER, 2 ** 31, 2 ** 53 - 2), fc.maxSafeNat(), fc.nat())
const money = fc.oneof(
  fc.stringMatching(/^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$/),
  fc.constantFrom('999999999999.99', '0', '0.00', '0.5'),
  fc.nat({ max: 1e9 }),
  fc.nat({ max: 1e6 }).map((n) => n + 0.25)
)
const calendarDate = fc.date({ min: new Date('1000-01-01T00:00:00Z'), max: new Date('9999-12-31T00:00:00Z'), noInvalidDate: true })
  .map((d) => d.toISOString().slice(0, 10))

export type Body = Record<string, unknown>
const orgOptional = {
  industrySegment: nullable(text(100)),
  priorityLevel: priority,
  primaryEmail: nullable(email),
  primaryPhone: nullable(text(50)),
  website: nullable(text(255)),
  annualRevenue: nullable(revenue)
}
export const orgCreate: fc.Arbitrary<Body> = fc.record({ name: text(255), ...orgOptional }, { requiredKeys: ['name'] })
export const orgPatch: fc.Arbitrary<Body> = fc.record({ name: text(255), ...orgOptional }, { requiredKeys: [] })
const contactOptional = { email: nullable(email), phone: nullable(text(50)), title: nullable(text(100)), isPrimary: fc.boolean() }
export const contactCreate: fc.Arbitrary<Body> = fc.record({ firstName: text(100), lastName: text(100), ...contactOptional }, { requiredKeys: ['firstName', 'lastName'] })
export const contactPatch: fc.Arbitrary<Body> = fc.record({ firstName: text(100), lastName: text(100), ...contactOptional }, { requiredKeys: [] })
const notes = fc.oneof({ weight: 10, arbitrary: text(2000) }, { weight: 1, arbitrary: fc.constantFrom('', 'n'.repeat(100_000)) })
export const interactionCreate: fc.Arbitrary<Body> = fc.record({ type: interactionType, subject: text(255), notes }, { requiredKeys: ['type', 'subject'] })
const oppOptional = { stage, value: money, closeDate: nullable(calendarDate) }
export const oppCreate: fc.Arbitrary<Body> = fc.record({ name: text(255), ...oppOptional }, { requiredKeys: ['name'] })
export const oppPatch: fc.Arbitrary<Body> = fc.record({ name: text(255), ...oppOptional }, { requiredKeys: [] })
const role = fc.constantFrom('admin', 'member')
export const userCreate: fc.Arbitrary<Body> = fc.record({ email, name: text(255), role }, { requiredKeys: ['email', 'name'] })
export const userPatch: fc.Arbitrary<Body> = fc.record({ email, name: text(255), role, isActive: fc.boolean() }, { requiredKeys: [] })
