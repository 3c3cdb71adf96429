// Property-based bad-input tests (fast-check, through app.inject), property
// 4 of 4: model-based. Sequences of valid and invalid operations by an admin
// and two members; a model (test/helpers/property/model.ts) predicts every
// status code and representation, and after each sequence every row of every
// table equals the model (all columns; timestamps of untouched rows
// unchanged). Every answer passes the checks of
// test/helpers/property/requests.ts within a deadline.
//
// The other properties are beside this file (poisoned-writes, chaos-reads,
// chaos-writes); each file builds its own app and database. fast-check prints
// the seed and the shrunk counterexample of a failure; PROPERTY_SEED=<seed>
// replays it, PROPERTY_RUNS_SCALE multiplies the runs.
import t from 'tap'
import fc from 'fast-check'
import { setUpWorld } from '../../helpers/property/fixture'
import { Model, opArb } from '../../helpers/property/model'
import { assertNoPollution, statusSummary } from '../../helpers/property/requests'
import { NUM_RUNS, SEED } from '../../helpers/property/runs'

t.test('property-based bad input: model-based', async (t) => {
  const { app, client, fx, started } = await setUpWorld(t, 'property_model')

  await t.test('model-based: valid and invalid operations leave exactly what the 2xx answers promised', async (t) => {
    // Each sequence starts from what the database holds: the fixture, then what earlier sequences left.
    const model = new Model(app, client, fx)
    const totals = new Map<number, number>()
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 40, size: 'medium' }), async (ops) => {
      await model.start()
      for (const op of ops) {
        const status = await model.exec(op)
        totals.set(status, (totals.get(status) ?? 0) + 1)
      }
      await model.verify()
      assertNoPollution()
    }), { numRuns: NUM_RUNS.model, includeErrorInReport: true, ...SEED })
    const succeeded = [...totals].filter(([s]) => s < 300).reduce((n, [, c]) => n + c, 0)
    t.ok(succeeded > 0 && totals.size > 3, `a mix of outcomes: ${JSON.stringify(Object.fromEntries(totals))}`)
  })

  t.comment(statusSummary(started))
})
