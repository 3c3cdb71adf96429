// The Prisma schema and the SQL migrations describe one database: the columns
// Prisma's generated client knows must be exactly the columns the migrations
// create, with matching types, nullability and enum values.
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { Database } from '../../src/lib/database'
import { createTestDatabase, withClient } from '../helpers/database'
import { testConfig } from '../helpers/app'

interface RuntimeField { name: string; kind: string; type: string; dbName?: string }
interface RuntimeModel { dbName: string | null; fields: RuntimeField[] }

// Native types a Prisma scalar may map to in these migrations.
const PG_TYPES: Record<string, string[]> = {
  String: ['uuid', 'varchar', 'text', 'citext'],
  Boolean: ['bool'],
  DateTime: ['timestamptz', 'date'],
  BigInt: ['int8'],
  Decimal: ['numeric'],
  Int: ['int4']
}

/** Optional fields and enum values (with @map) as written in schema.prisma. */
function parseSchema (text: string): { optional: Set<string>; enums: Map<string, string[]> } {
  const optional = new Set<string>()
  const enums = new Map<string, string[]>()
  for (const block of text.matchAll(/^(model|enum) (\w+) \{([\s\S]*?)^\}/gm)) {
    const [, kind, name, body] = block
    const lines = (body ?? '').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('//') && !l.startsWith('@@'))
    if (kind === 'model') {
      for (const line of lines) {
        const m = /^(\w+)\s+\w+(\?)?/.exec(line)
        if (m?.[2] === '?') optional.add(`${name}.${m[1]}`)
      }
    } else {
      const dbName = /@@map\("([^"]+)"\)/.exec(body ?? '')?.[1] ?? name
      enums.set(dbName ?? '', lines.map((l) => /@map\("([^"]+)"\)/.exec(l)?.[1] ?? l.split(/\s+/)[0] ?? ''))
    }
  }
  return { optional, enums }
}

t.test('Prisma schema and migrations agree', async (t) => {
  const testDb = await createTestDatabase('drift')
  t.teardown(testDb.drop)
  const db = new Database({ ...testConfig(testDb.url).database, url: testDb.url }, { warn () {}, error () {} })
  t.teardown(async () => await db.close())

  const models = (db.prisma as unknown as { _runtimeDataModel: { models: Record<string, RuntimeModel> } })._runtimeDataModel.models
  t.ok(Object.keys(models).length === 5, 'the generated client exposes its five models')
  const schema = parseSchema(await readFile(path.join(__dirname, '..', '..', 'prisma', 'schema.prisma'), 'utf8'))

  const expected = new Map<string, { model: string; field: RuntimeField }>()
  for (const [modelName, model] of Object.entries(models)) {
    for (const field of model.fields) {
      if (field.kind !== 'scalar' && field.kind !== 'enum') continue
      expected.set(`${model.dbName ?? modelName}.${field.dbName ?? field.name}`, { model: modelName, field })
    }
  }

  await withClient(testDb.url, async (c) => {
    const tables = [...new Set([...expected.keys()].map((k) => k.split('.')[0]))]
    const { rows } = await c.query<{ table_name: string; column_name: string; udt_name: string; is_nullable: 'YES' | 'NO' }>(`
      SELECT table_name, column_name, udt_name, is_nullable FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name = ANY($1)`, [tables])
    const actual = new Map(rows.map((r) => [`${r.table_name}.${r.column_name}`, r]))

    t.same([...actual.keys()].sort(), [...expected.keys()].sort(), 'same tables and columns')
    for (const [key, { model, field }] of expected) {
      const column = actual.get(key)
      if (column === undefined) continue
      const allowed = field.kind === 'enum' ? [...schema.enums.keys()] : PG_TYPES[field.type] ?? []
      t.ok(allowed.includes(column.udt_name), `${key}: ${field.type} stored as ${column.udt_name}`)
      const optional = schema.optional.has(`${model}.${field.name}`)
      t.equal(column.is_nullable === 'YES', optional, `${key}: nullable ${optional}`)
    }

    const enumRows = (await c.query<{ typname: string; labels: string[] }>(`
      SELECT t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
      FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname`)).rows
    t.same(new Map(enumRows.map((r) => [r.typname, r.labels])), schema.enums, 'same enums, same values, same order')
  })
})
