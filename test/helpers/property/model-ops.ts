// The model of property 4, its operations: what an admin and two members may
// do (valid and invalid writes, reads, lists with LIKE metacharacters in the
// search), and their generators. Rows are chosen by index when the operation
// runs, so that sequences reach the rows earlier operations created.
import fc from 'fast-check'
import type { Actor } from './fixture'
import { encodingArb, poisonArb, type Encoding, type Poison } from './poison'
import {
  codePoints, contactCreate, contactPatch, interactionCreate, oppCreate, oppPatch, orgCreate, orgPatch, priority, stage, text, userCreate, userPatch, type Body
} from './values'

/** A row by index among all rows, among those the actor can see (`mine`), or a random id. */
export type Ref = { n: number; mine: boolean } | { id: string }
export type IfMatchMode = 'none' | 'star' | 'stale' | 'fresh'
export type Assignee = 'omit' | 'self' | Ref
export type ContactChoice = { kind: 'none' } | { kind: 'sameOrg'; n: number } | { kind: 'any'; n: number } | { kind: 'id'; id: string }
export type Op =
  | { kind: 'createOrg'; actor: Actor; fields: Body; assignee: Assignee; poison: Poison | undefined; enc: Encoding }
  | { kind: 'patchOrg'; actor: Actor; ref: Ref; fields: Body; assignee: Assignee; ifMatch: IfMatchMode; poison: Poison | undefined; enc: Encoding }
  | { kind: 'deleteOrg'; actor: Actor; ref: Ref }
  | { kind: 'createContact'; actor: Actor; ref: Ref; fields: Body; poison: Poison | undefined; enc: Encoding }
  | { kind: 'patchContact'; actor: Actor; ref: Ref; fields: Body; ifMatch: IfMatchMode; poison: Poison | undefined; enc: Encoding }
  | { kind: 'deleteContact'; actor: Actor; ref: Ref }
  | { kind: 'createInteraction'; actor: Actor; ref: Ref; fields: Body; contact: ContactChoice; poison: Poison | undefined; enc: Encoding }
  | { kind: 'createOpp'; actor: Actor; ref: Ref; fields: Body; poison: Poison | undefined; enc: Encoding }
  | { kind: 'patchOpp'; actor: Actor; ref: Ref; fields: Body; ifMatch: IfMatchMode; poison: Poison | undefined; enc: Encoding }
  | { kind: 'createUser'; actor: Actor; fields: Body; poison: Poison | undefined; enc: Encoding }
  | { kind: 'patchUser'; actor: Actor; target: 'self' | Ref; fields: Body; poison: Poison | undefined; enc: Encoding }
  | { kind: 'get'; actor: Actor; what: 'org' | 'contact' | 'opp'; ref: Ref }
  | { kind: 'listOrgs'; actor: Actor; search: string | null; priority: string | null }
  | { kind: 'listChildren'; actor: Actor; ref: Ref; what: 'contacts' | 'interactions' | 'opportunities'; stage: string | null }

const actorArb = fc.constantFrom<Actor>('admin', 'm1', 'm1', 'm2')
const refArb: fc.Arbitrary<Ref> = fc.oneof(
  { weight: 6, arbitrary: fc.nat().map((n) => ({ n, mine: true })) },
  { weight: 3, arbitrary: fc.nat().map((n) => ({ n, mine: false })) },
  { weight: 1, arbitrary: fc.uuid().map((id) => ({ id })) }
)
const maybePoison: fc.Arbitrary<Poison | undefined> = fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: poisonArb() })
const ifMatchArb = fc.constantFrom<IfMatchMode>('none', 'none', 'star', 'stale', 'fresh', 'fresh')
const assigneeArb: fc.Arbitrary<Assignee> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<Assignee>('omit') },
  { weight: 1, arbitrary: fc.constant<Assignee>('self') },
  { weight: 2, arbitrary: fc.nat().map((n) => ({ n, mine: false })) },
  { weight: 1, arbitrary: fc.uuid().map((id) => ({ id })) }
)
const contactChoiceArb: fc.Arbitrary<ContactChoice> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<ContactChoice>({ kind: 'none' }) },
  { weight: 3, arbitrary: fc.nat().map((n): ContactChoice => ({ kind: 'sameOrg', n })) },
  { weight: 1, arbitrary: fc.nat().map((n): ContactChoice => ({ kind: 'any', n })) },
  { weight: 1, arbitrary: fc.uuid().map((id): ContactChoice => ({ kind: 'id', id })) }
)
const searchArb = fc.oneof(
  fc.constantFrom('%', '_', '\\', "'", '--', '%_', 'a%', '_b', '\\%', "o'b", '100%', 'acme', 'ACME', 'ß', '😀', '\u200b', 'e\u0301'),
  text(20)
).filter((s) => codePoints(s) <= 255)
export const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('createOrg' as const), actor: actorArb, fields: orgCreate, assignee: assigneeArb, poison: maybePoison, enc: encodingArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('patchOrg' as const), actor: actorArb, ref: refArb, fields: orgPatch, assignee: assigneeArb, ifMatch: ifMatchArb, poison: maybePoison, enc: encodingArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deleteOrg' as const), actor: actorArb, ref: refArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('createContact' as const), actor: actorArb, ref: refArb, fields: contactCreate, poison: maybePoison, enc: encodingArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('patchContact' as const), actor: actorArb, ref: refArb, fields: contactPatch, ifMatch: ifMatchArb, poison: maybePoison, enc: encodingArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deleteContact' as const), actor: actorArb, ref: refArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('createInteraction' as const), actor: actorArb, ref: refArb, fields: interactionCreate, contact: contactChoiceArb, poison: maybePoison, enc: encodingArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('createOpp' as const), actor: actorArb, ref: refArb, fields: oppCreate, poison: maybePoison, enc: encodingArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('patchOpp' as const), actor: actorArb, ref: refArb, fields: oppPatch, ifMatch: ifMatchArb, poison: maybePoison, enc: encodingArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('createUser' as const), actor: actorArb, fields: userCreate, poison: maybePoison, enc: encodingArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('patchUser' as const), actor: actorArb, target: fc.oneof(fc.constant('self' as const), refArb), fields: userPatch, poison: maybePoison, enc: encodingArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('get' as const), actor: actorArb, what: fc.constantFrom('org' as const, 'contact' as const, 'opp' as const), ref: refArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('listOrgs' as const), actor: actorArb, search: fc.option(searchArb, { freq: 3 }), priority: fc.option(priority, { freq: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('listChildren' as const), actor: actorArb, ref: refArb, what: fc.constantFrom('contacts' as const, 'interactions' as const, 'opportunities' as const), stage: fc.option(stage, { freq: 3 }) }) }
)

/** The operation of one kind. */
export type OpOf<K extends Op['kind']> = Extract<Op, { kind: K }>
