// The ways to spoil a request, and the answer each must get: bodies with
// wrong types, strings past their limits, NUL bytes, lone surrogates, bytes
// that are not UTF-8, duplicate and prototype-pollution keys, deep JSON,
// malformed JSON, numbers past 2^53 and out of range, wrong media types, over
// 1 MiB; valid encodings of valid bodies; ids that are not UUIDs (percent-
// encoded as a careless client would); If-Match values that match nothing.
import fc from 'fast-check'
import { JSON_CT } from './requests'
import type { Body } from './values'

/** What a route's body may hold: its keys, string fields with their limits, numeric fields with values out of range (raw JSON). */
export interface BodySpec {
  keys: readonly string[]
  strings: ReadonlyArray<readonly [string, number]>
  numeric: ReadonlyArray<readonly [string, readonly string[]]>
}
const BAD_REVENUE = ['9007199254740993', '9007199254740992', '1e400', '-1', '1.5', '-0.5', '1e16', '"12abc"', '"NaN"', '"Infinity"', '"-1"', '18446744073709551616', '{}', '[1,2]']
const BAD_MONEY = ['1e21', '"1e21"', '-1', '"-1"', '"1.234"', '1.234', '"0012"', '" 1"', '"1,5"', '9007199254740993', '"9999999999999"', '0.30000000000000004', '"NaN"', 'true', '{}', '"1.2.3"']
const BAD_DATE = ['"0000-01-01"', '"2024-02-30"', '"99999-01-01"', '"2024-1-1"', '"0999-12-31"', '"2024-13-01"', '"2024-01-01T00:00:00Z"', '20240101', '"+002024-01-01"', '"-2024-01-01"', '{}']
const BAD_BOOL = ['"maybe"', '2', '{}', '"yes"', '[true,false]', '-1']
export const SPECS = {
  user: { keys: ['email', 'name', 'role', 'isActive'], strings: [['name', 255]], numeric: [['isActive', BAD_BOOL]] },
  org: {
    keys: ['name', 'industrySegment', 'priorityLevel', 'primaryEmail', 'primaryPhone', 'website', 'annualRevenue', 'assignedUserId'],
    strings: [['name', 255], ['industrySegment', 100], ['primaryPhone', 50], ['website', 255]],
    numeric: [['annualRevenue', BAD_REVENUE]]
  },
  contact: {
    keys: ['firstName', 'lastName', 'email', 'phone', 'title', 'isPrimary'],
    strings: [['firstName', 100], ['lastName', 100], ['phone', 50], ['title', 100]],
    numeric: [['isPrimary', BAD_BOOL]]
  },
  interaction: { keys: ['type', 'subject', 'notes', 'contactId'], strings: [['subject', 255], ['notes', 100_000]], numeric: [] },
  opp: { keys: ['name', 'stage', 'value', 'closeDate'], strings: [['name', 255]], numeric: [['value', BAD_MONEY], ['closeDate', BAD_DATE]] },
  /** DELETE has no body: only what the JSON parser itself refuses spoils it. */
  none: { keys: ['note'], strings: [['note', 10]], numeric: [] }
} satisfies Record<string, BodySpec>

export const UNKNOWN_KEYS = ['foo', 'id', 'isDeleted', 'is_deleted', 'createdAt', 'updatedAt', 'userId', 'organizationId', '$where', 'polluted',
  'Name', 'name ', ' name', '__proto__', 'constructor', 'prototype', '', '\u0000', 'ñ', '😀', 'nаme']
const WRONG_TYPES: unknown[] = [{}, [1, 2], { a: { b: [1, 2] } }, [[]], { $ne: null }, [{}]]
export const SURROGATES = ['\ud800', 'x\udfff', '\udc00\ud800', 'ok\ud83d', '\udbff\udbff']
const PROTO_PAYLOADS = (rest: string): string[] => [
  `{"__proto__":{"polluted":"yes"},${rest}`,
  `{"constructor":{"prototype":{"polluted":"yes"}},${rest}`,
  `{"\\u005f_proto__":{"polluted":"yes"},${rest}`,
  `{ "__proto__" : { "polluted" : "yes" } ,${rest}`,
  `{"x":{"y":[{"__proto__":{"polluted":"yes"}}]},${rest}`,
  '[{"__proto__":{"polluted":"yes"}}]'
]
const MALFORMED = ['{', '}', '{"a":', '{"name":"x",}', "{'name':'x'}", '{"name":NaN}', '{"name":"x"}}', '{"name":"x"} trailing',
  '{"name":"\\x41"}', '{"name":"\\u12"}', '{name:"x"}', 'undefined', '--', "' OR 1=1 --", '{"name":"x"', '{"a":1}\u0000',
  '{"name":"a\u0000b"}', '{"name":"a\nb"}', '\ufeff\ufeff{}', '{"name":"x"}\n{"name":"y"}', '{"a":01}', '{"a":.5}', '{"a":+1}', '{"a":0x10}',
  '{"a":Infinity}', '{"a":undefined}', '{"a":"\\ud800\\"}', '{"a" "b"}', '{,}', '[,]', '{"a":[1,]}', '\u0000']
const NON_OBJECTS = (body: Body): string[] => ['null', '[]', '"x"', '42', 'true', '[1,2]', JSON.stringify([body]), JSON.stringify([body, body]), '"{}"']
const BAD_CONTENT_TYPES = ['text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x',
  'application/xml', 'application/json-patch+json', 'application/vnd.api+json', 'application/jsonx', 'text/json', 'json', 'application/javascript',
  '', '*/*', 'application/', 'application/json\u00e9']

export const POISON_KINDS = ['unknownKey', 'wrongType', 'tooLong', 'nul', 'surrogate', 'badUtf8', 'proto', 'deepProto', 'deepNest', 'malformed', 'nonObject',
  'empty', 'emptyObject', 'dupKeyInvalidLast', 'numeric', 'contentType', 'oversize'] as const
type PoisonKind = typeof POISON_KINDS[number]
/** Kinds the JSON parser or media-type check refuses whatever the route: the only ones that spoil a DELETE. */
export const PARSER_POISONS: readonly PoisonKind[] = ['nul', 'surrogate', 'badUtf8', 'proto', 'deepProto', 'malformed', 'contentType', 'oversize']
export interface Poison { kind: PoisonKind; n: number }
export const poisonArb = (kinds: readonly PoisonKind[] = POISON_KINDS): fc.Arbitrary<Poison> => fc.record({
  kind: fc.constantFrom(...kinds).chain((kind) => kind === 'oversize' ? fc.constantFrom<PoisonKind>('oversize', 'malformed', 'malformed', 'malformed') : fc.constant(kind)),
  n: fc.nat()
})

export interface Encoded { payload: string | Buffer; contentType?: string; status: number }
/** Bytes that are not UTF-8: a lone continuation byte, 0xFF, an overlong '/', a CESU-8 surrogate, a truncated sequence. */
const BAD_UTF8 = [[0x80], [0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0xfe, 0xfe, 0xff, 0xff]]

/** A body spoiled as `poison` says, and the status that must answer it. */
export function applyPoison (body: Body, spec: BodySpec, poison: Poison): Encoded {
  const n = poison.n
  const pick = <T>(list: readonly T[]): T => list[n % list.length]!
  const json = JSON.stringify(body)
  const appendRaw = (key: string, raw: string): string => `${json.slice(0, -1)}${json === '{}' ? '' : ','}${JSON.stringify(key)}:${raw}}`
  const spoilt = (payload: string | Buffer, status = 400): Encoded => ({ payload, contentType: JSON_CT, status })
  const [stringKey, max] = pick(spec.strings)
  switch (poison.kind) {
    case 'unknownKey': return spoilt(appendRaw(pick(UNKNOWN_KEYS.filter((k) => !spec.keys.includes(k))), '1'))
    case 'wrongType': return spoilt(appendRaw(pick(spec.keys), JSON.stringify(WRONG_TYPES[Math.floor(n / 7) % WRONG_TYPES.length])))
    case 'tooLong': return spoilt(JSON.stringify({ ...body, [stringKey]: (n % 2 === 0 ? 'x' : '😀').repeat(max + 1 + (n % 3) * 500) }))
    case 'nul': return spoilt(JSON.stringify({ ...body, [stringKey]: `a\u0000${n}` }))
    case 'surrogate': return spoilt(JSON.stringify({ ...body, [stringKey]: pick(SURROGATES) }))
    case 'badUtf8': {
      const [head, tail] = JSON.stringify({ ...body, [stringKey]: 'BYTES' }).split('BYTES') as [string, string]
      return spoilt(Buffer.concat([Buffer.from(head), Buffer.from(pick(BAD_UTF8)), Buffer.from(tail)]))
    }
    case 'proto': return spoilt(pick(PROTO_PAYLOADS(json.slice(1))))
    case 'deepProto': {
      const depth = 1 + (n % 20_000)
      return spoilt(appendRaw('deep', `${'{"a":'.repeat(depth)}{"__proto__":{"polluted":"yes"}}${'}'.repeat(depth)}`))
    }
    case 'deepNest': {
      const depth = 2 + (n % 100_000) // under 1 MiB either way: 2 or 6 bytes a level
      return spoilt(appendRaw(pick(spec.keys), n % 2 === 0 ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`))
    }
    case 'malformed': return spoilt(pick(MALFORMED))
    case 'nonObject': return spoilt(pick(NON_OBJECTS(body)))
    case 'empty': return spoilt('')
    case 'emptyObject': return spoilt('{}')
    case 'dupKeyInvalidLast': return spoilt(appendRaw(Object.keys(body)[0] ?? pick(spec.keys), '{"x":[1,2]}'))
    case 'numeric': {
      if (spec.numeric.length === 0) return spoilt(appendRaw(pick(spec.keys), '[1,2]'))
      const [key, values] = pick(spec.numeric)
      return spoilt(appendRaw(key, values[Math.floor(n / 5) % values.length]!))
    }
    case 'contentType': return { payload: json === '{}' ? '{"x":1}' : json, contentType: pick(BAD_CONTENT_TYPES), status: 415 }
    case 'oversize': return spoilt(`{"${spec.keys[0]!}":"${'x'.repeat(1024 * 1024 + (n % 4096))}"}`, 413)
  }
}

/** Valid encodings of a valid body: duplicate keys (the last wins), media-type spellings Fastify accepts. */
export type Encoding = 'plain' | 'dupKey' | 'charset' | 'upper'
export const encodingArb = fc.constantFrom<Encoding>('plain', 'plain', 'plain', 'dupKey', 'charset', 'upper')
export function encode (body: Body, encoding: Encoding): Encoded {
  const json = JSON.stringify(body)
  const first = Object.keys(body)[0]
  if (encoding === 'dupKey' && first !== undefined) return { payload: `{${JSON.stringify(first)}:{"junk":[1,2]},${json.slice(1)}`, contentType: JSON_CT, status: 0 }
  if (encoding === 'charset') return { payload: json, contentType: 'application/json; charset=utf-8', status: 0 }
  if (encoding === 'upper') return { payload: json, contentType: 'Application/JSON', status: 0 }
  return { payload: json, contentType: JSON_CT, status: 0 }
}

/** Percent-encodes anything, lone surrogates included (as the bytes a careless encoder would send). */
export function encodeLoose (s: string): string {
  let out = ''
  for (const ch of s) {
    const code = ch.codePointAt(0)!
    if (code >= 0xd800 && code <= 0xdfff) {
      out += [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('')
    } else {
      out += encodeURIComponent(ch)
    }
  }
  return out
}

/** If-Match values that match no ETag of any row. */
export const STALE_ETAGS = ['"stale"', 'W/"x"', '""', 'garbage', ', ,', ' * , "x"', '"*"', 'W/*', '"' + 'a'.repeat(27) + '"', 'x'.repeat(8000), '"\u00e9"', 'null']

/** Ids that are not UUIDs (400 unless the router cannot match the path at all: 404). */
export function invalidIds (valid: string): Array<[string, number[]]> {
  return [
    ['not-a-uuid', [400]], ["' OR '1'='1", [400]], ['1; DROP TABLE organizations; --', [400]], ['%_%', [400]], ['\\', [400]],
    ['-1', [400]], ['0', [400]], ['9007199254740993', [400]], ['1e309', [400]], ['NaN', [400]], ['null', [400]], ['undefined', [400]],
    ['__proto__', [400]], ['constructor', [400]], ['prototype', [400]], [`urn:uuid:${valid}`, [400]], [`{${valid}}`, [400]],
    [valid.replace(/-/g, ''), [400]], [`${valid} `, [400]], [` ${valid}`, [400]], [`${valid}x`, [400]], [`g${valid.slice(1)}`, [400]],
    [valid.slice(0, -1), [400]], ['😀', [400]], [`\u202e${valid}`, [400]], [`${valid}\u200b`, [400]], ['\u0301', [400]],
    ['..', [400, 404]], ['.', [400, 404]], ['a/b', [400, 404]], ['', [400, 404]], ['a'.repeat(101), [400]], [`${valid}${'a'.repeat(90)}`, [400]],
    ['x'.repeat(5000), [400]], [`${valid},${valid}`, [400]], [`${valid};`, [400]]
  ]
}
