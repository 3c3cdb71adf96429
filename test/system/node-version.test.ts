// One Node LTS everywhere: the image's base (Dockerfile FROM), package.json
// engines, the Node .ci/run runs the suite on, and the base image
// scripts/image/make-base.sh makes. Node 20 reached end of life on
// 2026-04-30 and production dependencies already require 22.
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'

const ROOT = path.join(__dirname, '..', '..')
const read = (file: string): string => fs.readFileSync(path.join(ROOT, file), 'utf8')
const SUPPORTED = [22, 24]

t.test('the Dockerfile, engines, CI and the base-image script name one supported Node LTS', async (t) => {
  const froms = [...read('Dockerfile').matchAll(/^FROM node:(\d+)-bookworm-slim\b/gm)].map((m) => Number(m[1]))
  t.ok(froms.length >= 2, 'the deps and runtime stages start from node:<major>-bookworm-slim')
  const major = froms[0]!
  t.ok(SUPPORTED.includes(major), `the image's Node ${major} is a supported LTS (${SUPPORTED.join(', ')})`)
  t.same(froms, froms.map(() => major), 'every stage on the same Node')

  const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node
  t.match(engines, new RegExp(`^\\^${major}\\.\\d+\\.\\d+( \\|\\| >=\\d+)?$`), `engines (${engines}) starts at Node ${major}`)
  t.notMatch(engines, /\b(18|20)\b/, 'and admits no Node past its end of life')
  const lockEngines = (JSON.parse(read('package-lock.json')) as { packages: Record<string, { engines?: { node?: string } }> }).packages['']?.engines?.node
  t.equal(lockEngines, engines, 'package-lock.json records the same engines')

  const ci = /^CI_NODE_VERSION=(\d+)\.(\d+)\.(\d+)$/m.exec(read('.ci/run'))
  t.ok(ci !== null, '.ci/run pins the Node it runs the suite on')
  t.equal(Number(ci?.[1]), major, `.ci/run runs the suite on Node ${major}`)
  const base = /NODE_VERSION=\$\{NODE_VERSION:-(\d+)\.\d+\.\d+\}/.exec(read('scripts/image/make-base.sh'))
  t.equal(Number(base?.[1]), major, `scripts/image/make-base.sh makes a Node ${major} base`)
  t.match(read('scripts/image/make-base.sh'), new RegExp(`node:${major}-bookworm-slim`), 'tagged as the Dockerfile\'s FROM')
})

t.test('under .ci/run, this suite really runs on that Node', async (t) => {
  // .ci/run exports CI_NODE_VERSION when it put its Node first on PATH.
  const pinned = process.env.CI_NODE_VERSION
  if (pinned === undefined) {
    t.comment(`not under .ci/run (CI_NODE_VERSION unset): this run is on the machine's Node ${process.version}`)
    t.pass('nothing to compare')
    return
  }
  t.equal(process.version, `v${pinned}`, `the test process runs on Node ${pinned}`)
})
