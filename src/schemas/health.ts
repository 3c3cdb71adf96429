// The probes: liveness and readiness.
import { Type, type Static } from 'typebox'

export const Health = Type.Object({ status: Type.Literal('ok') })
export const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  database: Type.Union([Type.Literal('up'), Type.Literal('down')]),
  cache: Type.Union([Type.Literal('up'), Type.Literal('down')]),
  replica: Type.Union([Type.Literal('up'), Type.Literal('lagging'), Type.Literal('down'), Type.Literal('off')], { description: 'the read replica (DATABASE_READ_URL): lagging or down means reads go to the primary; off when none is configured' }),
  overloaded: Type.Optional(Type.Boolean({ description: 'present (true) while load shedding is on' }))
})
export type Readiness = Static<typeof Readiness>
