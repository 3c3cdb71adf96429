// docs/configuration.md documents the configuration schema (EnvSchema in
// lib/config.ts): every variable of the schema has a row in the table under
// "## Variables", every row names a variable of the schema, and each row's
// default is the schema's default (or "unset" where the schema has none).
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { EnvSchema } from '../../src/lib/config'

const DOC = path.join(__dirname, '..', '..', 'docs', 'configuration.md')
const SECTION = '## Variables'

interface Row { line: number; name: string; defaultCell: string }

/** The rows of the first table under SECTION, up to the next heading. */
function documentedRows (markdown: string): Row[] {
  const lines = markdown.split('\n')
  const start = lines.findIndex((line) => line.trim() === SECTION)
  if (start === -1) throw new Error(`no "${SECTION}" heading in docs/configuration.md`)
  const rows: Row[] = []
  let header = true
  for (let i = start + 1; i < lines.length && !lines[i]!.startsWith('#'); i++) {
    const line = lines[i]!.trim()
    if (!line.startsWith('|')) {
      if (rows.length > 0) break // the table has ended
      continue
    }
    const cells = line.slice(1, line.endsWith('|') ? -1 : undefined).split('|').map((cell) => cell.trim())
    if (header) {
      if (/^-+$/.test(cells[0]!.replace(/:/g, ''))) header = false // the |---| line
      continue
    }
    if (cells.length !== 3) throw new Error(`docs/configuration.md:${i + 1}: expected 3 cells (variable, default, meaning), got ${cells.length}`)
    const name = /^`([A-Z][A-Z0-9_]*)`$/.exec(cells[0]!)?.[1]
    if (name === undefined) throw new Error(`docs/configuration.md:${i + 1}: the first cell must be a variable name in backticks, got ${cells[0]}`)
    rows.push({ line: i + 1, name, defaultCell: cells[1]! })
  }
  return rows
}

/** What the default cell must say for a schema property: its default in backticks, or "unset". */
function expectedDefaultCell (property: { default?: unknown }): string {
  return property.default === undefined ? 'unset' : `\`${String(property.default)}\``
}

const schema = EnvSchema.properties as Record<string, { default?: unknown }>
const rows = documentedRows(fs.readFileSync(DOC, 'utf8'))

t.test('the table parses and lists each variable once', async (t) => {
  t.ok(rows.length > 0, 'rows found under "## Variables"')
  const seen = new Map<string, number>()
  for (const row of rows) {
    t.notOk(seen.has(row.name), `${row.name} is documented once (lines ${seen.get(row.name) ?? '-'} and ${row.line})`)
    seen.set(row.name, row.line)
  }
})

t.test('every variable of EnvSchema is documented', async (t) => {
  const documented = new Set(rows.map((row) => row.name))
  for (const name of Object.keys(schema)) {
    t.ok(documented.has(name), `${name} has a row in docs/configuration.md`)
  }
})

t.test('every documented variable exists in EnvSchema', async (t) => {
  for (const row of rows) {
    t.ok(Object.hasOwn(schema, row.name), `${row.name} (docs/configuration.md:${row.line}) is in EnvSchema`)
  }
})

t.test('each documented default is the schema\'s default', async (t) => {
  for (const row of rows) {
    const property = schema[row.name]
    if (property === undefined) continue // reported above
    t.equal(row.defaultCell, expectedDefaultCell(property), `${row.name} (docs/configuration.md:${row.line})`)
  }
})

t.test('the parser rejects what it cannot read', async (t) => {
  t.throws(() => documentedRows('# nothing here\n'), /no "## Variables" heading/)
  t.throws(() => documentedRows(`${SECTION}\n\n| variable | default | meaning |\n|---|---|---|\n| \`A\` | \`1\` |\n`), /expected 3 cells/)
  t.throws(() => documentedRows(`${SECTION}\n\n| variable | default | meaning |\n|---|---|---|\n| A | \`1\` | x |\n`), /variable name in backticks/)
  t.same(documentedRows(`${SECTION}\n\n| variable | default | meaning |\n|---|---|---|\n| \`A\` | unset | x |\n\n| \`B\` | 1 | y |\n`),
    [{ line: 5, name: 'A', defaultCell: 'unset' }], 'only the first table of the section')
})
